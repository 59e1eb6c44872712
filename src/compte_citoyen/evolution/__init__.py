"""Named, ordered evolve steps recorded in the database.

A step is registered with ``config.add_evolve_step(name, func)``; ``func(portal, registry)`` changes stored
objects. Applied step names are recorded in ``portal.evolved``, so each runs once per database; a brand-new
database runs every step when it is created. Steps run in registration order (core first, then plugins in
the order of ``compte_citoyen.plugins``). Run pending steps with ``compte-citoyen INI evolve [--dry-run]``.
"""
from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvolveStep:
    name: str
    func: Callable
    description: str = ""


def get_steps(registry) -> list[EvolveStep]:
    return registry.setdefault("compte_citoyen.evolve_steps", [])


def add_evolve_step(config, name: str, func, description: str = "") -> None:
    """Register an evolve step; the name must be unique and never change once released."""
    steps = get_steps(config.registry)
    func = config.maybe_dotted(func)
    if any(step.name == name for step in steps):
        from pyramid.exceptions import ConfigurationError
        raise ConfigurationError(f"evolve step {name!r} is registered twice")
    steps.append(EvolveStep(name, func, description or (func.__doc__ or "").strip().split("\n")[0]))


def pending_steps(portal, registry) -> list[str]:
    return [step.name for step in get_steps(registry) if step.name not in portal.evolved]


def evolve(portal, registry, dry_run: bool = False) -> list[str]:
    """Apply pending steps in order (inside the caller's transaction); return their names."""
    applied = []
    for step in get_steps(registry):
        if step.name in portal.evolved:
            continue
        applied.append(step.name)
        if dry_run:
            continue
        log.info("evolve: %s", step.name)
        step.func(portal, registry)
        portal.evolved[step.name] = datetime.datetime.now(datetime.timezone.utc)
    return applied


def includeme(config):
    from ..resources import (create_sequences, use_parted_trees, use_shared_counts, use_wide_trees,
                             use_writer_shards)
    config.add_directive("add_evolve_step", add_evolve_step)
    config.add_evolve_step("core:0005-sequences", create_sequences)
    config.add_evolve_step("core:0077-wide-trees", use_wide_trees)
    config.add_evolve_step("core:0081-writer-shards", use_writer_shards)
    # the same conversion for the structures given writer shards since (the drafts' expiry index): every part
    # of it checks what is already converted
    config.add_evolve_step("core:0082-draft-expiry-shards", use_writer_shards)
    config.add_evolve_step("core:0083-parted-trees", use_parted_trees)
    config.add_evolve_step("core:0084-shared-counters", use_shared_counts)
    # the same conversion for the folders given parted trees since (the drafts): every folder checks what is
    # already converted
    config.add_evolve_step("core:0085-draft-parts", use_parted_trees)
