"""ZODB wiring: pyramid_zodbconn, pyramid_tm, pyramid_retry, and access to the portal root.

The root is created in its own transaction at start-up or by ``compte-citoyen INI init``,
never inside a request (the root factory only reads).
"""
from __future__ import annotations

import logging
import random
import time

import transaction
from pyramid.httpexceptions import HTTPServiceUnavailable
from pyramid_zodbconn import get_connection

from .resources import Portal

log = logging.getLogger(__name__)

ROOT_KEY = "compte_citoyen"


class DatabaseNotInitialised(HTTPServiceUnavailable):
    explanation = "The database is not initialised: run `compte-citoyen INI init`."


def get_app_root(request) -> Portal:
    conn = get_connection(request)
    root = conn.root().get(ROOT_KEY)
    if root is None:
        raise DatabaseNotInitialised()
    return root


def backoff_before_retry(event) -> None:
    """Wait a random, growing delay before pyramid_retry replays a request that hit a ConflictError.

    Transactions that conflicted were running at the same moment on the same objects (the newest buckets of an
    index, say); replayed at once they collide again. Spreading the replays (up to 10 ms, 20, 40... capped at
    ``compte_citoyen.retry.max_delay_ms``) lets them commit one after the other.
    """
    settings = event.request.registry.settings
    cap = int(settings.get("compte_citoyen.retry.max_delay_ms", 400)) / 1000
    attempt = event.environ.get("retry.attempt", 0)
    # which object conflicted (its oid and class): what an operator needs to see a hot spot
    log.info("replaying %s %s (attempt %d): %s", event.request.method, event.request.path, attempt + 1,
             getattr(event, "exception", None))
    time.sleep(random.uniform(0, min(cap, 0.01 * 2 ** attempt)))


def root_factory(request) -> Portal:
    return request.app_root


def get_database(registry):
    return registry._zodb_databases[""]


def open_root(db, tm=None):
    """Open a connection with its own transaction manager; return (connection, portal or None)."""
    tm = tm or transaction.TransactionManager(explicit=True)
    conn = db.open(transaction_manager=tm)
    return conn, conn.root().get(ROOT_KEY)


def create_root(db, registry) -> bool:
    """Create the portal root and apply every evolve step, in one transaction. False if it existed."""
    from .evolution import evolve
    tm = transaction.TransactionManager(explicit=True)
    conn = db.open(transaction_manager=tm)
    try:
        with tm:
            zroot = conn.root()
            if ROOT_KEY in zroot:
                return False
            portal = Portal()
            zroot[ROOT_KEY] = portal
            evolve(portal, registry)
        return True
    finally:
        conn.close()


def includeme(config):
    settings = config.get_settings()
    settings.setdefault("tm.manager_hook", "pyramid_tm.explicit_manager")
    settings.setdefault("tm.commit_veto", "pyramid_tm.default_commit_veto")
    settings.setdefault("retry.attempts", "5")
    settings.setdefault("zodbconn.uri", "memory://")
    config.include("pyramid_retry")
    config.include("pyramid_tm")
    config.include("pyramid_zodbconn")
    config.add_request_method(get_app_root, "app_root", reify=True)
    config.set_root_factory(root_factory)
    config.add_subscriber(backoff_before_retry, "pyramid_retry.IBeforeRetry")


def bootstrap(config):
    """Start-up step: create the root when missing (its own transaction); bring it up to date if allowed."""
    from pyramid.settings import asbool

    from .evolution import evolve, pending_steps
    settings = config.get_settings()
    config.commit()
    db = get_database(config.registry)
    if create_root(db, config.registry):
        log.info("created the portal root")
        return
    tm = transaction.TransactionManager(explicit=True)
    conn, portal = open_root(db, tm)
    try:
        with tm:
            pending = pending_steps(conn.root()[ROOT_KEY], config.registry)
            if pending and asbool(settings.get("compte_citoyen.evolve_on_startup", False)):
                evolve(conn.root()[ROOT_KEY], config.registry)
            elif pending:
                log.warning("the database needs evolving: %s; run `compte-citoyen INI evolve`",
                            ", ".join(pending))
    finally:
        conn.close()
