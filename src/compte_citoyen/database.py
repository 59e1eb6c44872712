"""ZODB wiring: pyramid_zodbconn, pyramid_tm, pyramid_retry, and access to the portal root.

The root is created in its own transaction at start-up or by ``compte-citoyen INI init``,
never inside a request (the root factory only reads).
"""
from __future__ import annotations

import copyreg
import datetime
import logging
import random
import time

import transaction
from pyramid.httpexceptions import HTTPServiceUnavailable
from pyramid_zodbconn import get_connection

from .resources import Portal

log = logging.getLogger(__name__)


def _reduce_timezone(zone: datetime.timezone):
    return datetime.timezone, zone.__getinitargs__()


# Every record holding a date (a request, a message, an index leaf of (date, number) keys) pickles the UTC time
# zone. Its default reduction asks ``copyreg._slotnames`` each time (``datetime.timezone`` cannot cache the
# answer), about a tenth of a millisecond per request that files a citizen's request; this reduction writes the
# very same bytes.
copyreg.pickle(datetime.timezone, _reduce_timezone)

ROOT_KEY = "compte_citoyen"


class DatabaseNotInitialised(HTTPServiceUnavailable):
    explanation = "The database is not initialised: run `compte-citoyen INI init`."


#: cookie with the id of the last transaction this browser's changes committed (hex), see ``catch_up``
SEEN_COOKIE = "cc_seen"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _catching_up(storage) -> bool:
    """A ZEO client without ``server-sync``: its view follows the invalidations the server sends, which can lag
    a few milliseconds behind a commit made by another worker."""
    return getattr(storage, "ping", None) is not None and not getattr(storage, "server_sync", True)


def catch_up(request) -> None:
    """Read your own writes across workers, without a round trip to the ZEO server on every request.

    A citizen who logs in or sends a form on one worker is redirected to a page served by another, whose view
    must include that change. ``server-sync`` made every transaction start with a round trip to the server for
    that. Instead, a response to a change carries the id of the transaction it committed (``SEEN_COOKIE``, set by
    ``remember_commit``); a worker whose view is older than the id a request brings asks the server first
    (``ping``: the server's answer comes after every invalidation it sent before), and the others open their
    connection at once. Other storages (FileStorage, RelStorage, which polls at each transaction) need nothing.
    """
    storage = get_database(request.registry).storage
    if not _catching_up(storage):
        return
    if request.method not in SAFE_METHODS:
        request.add_response_callback(remember_commit)
    seen = request.cookies.get(SEEN_COOKIE, "")
    try:
        wanted = bytes.fromhex(seen)
    except ValueError:
        return
    if len(wanted) == 8 and storage.lastTransaction() < wanted:
        storage.ping()


def remember_commit(request, response) -> None:
    """After a change was committed (response callbacks run after pyramid_tm's commit): the newest transaction
    this worker knows, which includes it, for ``catch_up`` on the next request of this browser."""
    from pyramid.settings import asbool
    last = get_database(request.registry).storage.lastTransaction()
    response.set_cookie(SEEN_COOKIE, last.hex(), path="/", httponly=True, samesite="Lax",
                        secure=asbool(request.registry.settings.get("compte_citoyen.secure_cookies", False)))


def get_app_root(request) -> Portal:
    catch_up(request)
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
