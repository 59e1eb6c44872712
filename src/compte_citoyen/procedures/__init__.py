"""Procedures: themes from plugins, guided forms, attachments, requests with 4-step progress.

The household's "Accueil" lists the household's requests through ``requests_for_household``; every list of
requests shows the 4-square progress bar of ``request.progress_macro`` (``household/templates/progress.pt``).
"""
from __future__ import annotations

from .models import DRAFTS, SUBMISSIONS, DraftFolder, Submission, SubmissionFolder


def requests_for_household(portal, household_id: str, limit: int | None = None) -> list[Submission]:
    """The household's requests, newest first (read from the household's index only).

    Each has ``number``, ``procedure_title``, ``step`` (1 to 4), ``step_title`` (translated for the current
    request), ``member_name`` and ``created``.
    """
    folder = portal.get(SUBMISSIONS)
    if folder is None:
        return []
    return folder.newest(folder.keys_for_household(household_id), limit)


def create_folders(portal, registry) -> None:
    """Create the folders of submitted requests and of drafts."""
    portal.ensure_folder(SUBMISSIONS, SubmissionFolder)
    portal.ensure_folder(DRAFTS, DraftFolder)


def build_request_queue(portal, registry) -> None:
    """Build the staff's newest-first queue index and its counters for existing requests."""
    create_folders(portal, registry)
    portal[SUBMISSIONS].build_queue()


def use_large_index_buckets(portal, registry) -> None:
    """Convert the requests' time-ordered index sets to ``TimeIndex`` (fewer leaf splits, fewer conflicts)."""
    create_folders(portal, registry)
    portal[SUBMISSIONS].use_time_indexes()


def drop_old_request_indexes(portal, registry) -> None:
    """Forget the request indexes of the first releases, replaced by the queue (a submission writes less)."""
    create_folders(portal, registry)
    portal[SUBMISSIONS].drop_old_indexes()


def keep_listed_queue_scopes(portal, registry) -> None:
    """Keep in the staff's queue the entries of the finest scopes only (a submission writes two, not six)."""
    create_folders(portal, registry)
    portal[SUBMISSIONS].keep_listed_scopes()


def _build_registry(config) -> None:
    """Build the procedure registry at start-up: a duplicate code or a broken descriptor stops the start."""
    from .registry import get_registry
    get_registry(config.registry)


def includeme(config):
    config.add_evolve_step("core:0020-procedures", create_folders)
    config.add_evolve_step("core:0073-request-queue", build_request_queue)
    config.add_evolve_step("core:0075-large-index-buckets", use_large_index_buckets)
    config.add_evolve_step("core:0078-drop-old-request-indexes", drop_old_request_indexes)
    config.add_evolve_step("core:0079-queue-listed-scopes", keep_listed_queue_scopes)
    config.add_translation_dirs("compte_citoyen.procedures:locale/")
    config.action("compte_citoyen.procedures.registry", _build_registry, args=(config,), order=10)
