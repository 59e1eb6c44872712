"""The plugin manager: discovery through entry points, activation from the ini file.

Installing a plugin is not activating it: only the entry-point names listed in ``compte_citoyen.plugins``
are registered. Core defaults are registered first, as plugins of the core.
"""
from __future__ import annotations

import logging
from importlib.metadata import entry_points

import pluggy
from pyramid.exceptions import ConfigurationError

from . import hookspecs

log = logging.getLogger(__name__)

PROJECT = "compte_citoyen"
ENTRY_POINT_GROUP = "compte_citoyen"
hookimpl = pluggy.HookimplMarker(PROJECT)

#: Modules of the core that implement hooks, registered before any external plugin.
CORE_PLUGINS = [
    "compte_citoyen.notification.channels",
    "compte_citoyen.household.demo",
    "compte_citoyen.billing.demo",
    "compte_citoyen.procedures.demo",
]


def discover() -> dict[str, object]:
    """Entry-point name -> entry point, for every installed plugin."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def make_plugin_manager(active: list[str]) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    import importlib
    for dotted in CORE_PLUGINS:
        pm.register(importlib.import_module(dotted), name=f"core:{dotted}")
    found = discover()
    for name in active:
        ep = found.get(name)
        if ep is None:
            raise ConfigurationError(
                f"plugin {name!r} is listed in compte_citoyen.plugins but not installed "
                f"(installed: {', '.join(sorted(found)) or 'none'})")
        pm.register(ep.load(), name=name)
    pm.check_pending()
    return pm


def get_plugin_manager(registry) -> pluggy.PluginManager:
    return registry.compte_citoyen_plugins


def hooks_of(pm: pluggy.PluginManager, plugin) -> list[str]:
    return sorted(impl.name for impl in (pm.get_hookcallers(plugin) or []))


def includeme(config):
    settings = config.get_settings()
    config.registry.compte_citoyen_plugins = make_plugin_manager(settings["compte_citoyen.plugins"])
    config.add_request_method(lambda request: request.registry.compte_citoyen_plugins, "plugins", reify=True)
