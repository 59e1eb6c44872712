"""Slowing down repeated failures (logins, lost-password answers) without ever locking anyone out for good.

Each failure increments two counters: one for the account (the code d'accès, known or not, so the behaviour
does not reveal which accounts exist) and one for the client address. A counter forgets itself
``window`` seconds after its last failure, and a successful login clears the account's counter.

- below ``delay_after`` failures: nothing;
- from ``delay_after`` failures: the next attempt is refused until a growing delay has passed
  (2, 4, 8 … seconds, capped at ``max_delay``); refused attempts do not count, so the delay cannot be
  pushed further by someone hammering the form;
- from ``captcha_after`` failures (account) or ``address_captcha_after`` (address): the cryptogramme is
  required with every attempt, and the delay no longer applies. A citizen who solves it can always log in,
  so nobody can lock a citizen out, while a robot cannot go on guessing.

Where the counters live: in the ZODB (``portal["throttle"]``), not in process memory. Production runs
several worker processes sharing one ZEO/RelStorage database; counters in memory would multiply the allowed
attempts by the number of workers and reset at every restart. Only failures write (a successful login
writes the session anyway); entries are pruned through an expiry index, so the tree stays small. Concurrent
failures on different keys resolve through BTree conflict resolution; on the same key pyramid_retry retries.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from BTrees.OOBTree import OOBTree, OOTreeSet
from persistent import Persistent

FOLDER = "throttle"

#: defaults, overridable with settings ``compte_citoyen.throttle.<name>``
DEFAULTS = {
    "window": 3600,            # seconds after the last failure before a counter is forgotten
    "delay_after": 3,          # failures before delays start (account or address)
    "max_delay": 60,           # seconds, the longest delay
    "captcha_after": 6,        # account failures before the cryptogramme is required
    "address_captcha_after": 20,  # failures from one address before the cryptogramme is required
}
PRUNE_BATCH = 50


def now() -> float:
    """The clock (a function so tests can move time)."""
    return time.time()


class ThrottleStore(Persistent):
    """Failure counters: key -> (count, last failure timestamp); an expiry index (last, key) for pruning."""

    def __init__(self):
        self.counters = OOBTree()
        self.expiry = OOTreeSet()

    def get(self, key: str, window: int, at: float) -> tuple[int, float]:
        value = self.counters.get(key)
        if value is None or value[1] < at - window:
            return 0, 0.0
        return value

    def fail(self, key: str, window: int, at: float) -> int:
        count, last = self.get(key, window, at)
        old = self.counters.get(key)
        if old is not None:
            self.expiry.discard((old[1], key))
        self.counters[key] = (count + 1, at)
        self.expiry.add((at, key))
        self.prune(window, at)
        return count + 1

    def clear(self, key: str) -> None:
        old = self.counters.pop(key, None)
        if old is not None:
            self.expiry.discard((old[1], key))

    def prune(self, window: int, at: float) -> None:
        limit = at - window
        stale = []
        for last, key in self.expiry.keys():
            if last >= limit or len(stale) >= PRUNE_BATCH:
                break
            stale.append((last, key))
        for last, key in stale:
            self.expiry.discard((last, key))
            value = self.counters.get(key)
            if value is not None and value[1] == last:
                del self.counters[key]


def create_throttle_store(portal, registry) -> None:
    """Create the failure counters store."""
    if FOLDER not in portal:
        portal.add(FOLDER, ThrottleStore())


@dataclass
class Verdict:
    """What the next attempt must satisfy."""

    wait: int = 0                 # seconds to wait before an attempt is even checked
    captcha: bool = False         # the cryptogramme is required


def _settings(registry) -> dict:
    settings = registry.settings
    return {name: int(settings.get(f"compte_citoyen.throttle.{name}", default))
            for name, default in DEFAULTS.items()}


def _keys(scope: str, code_key: str, address: str) -> tuple[str, str]:
    return f"{scope}:account:{code_key}", f"{scope}:address:{address or '-'}"


def _store(portal) -> ThrottleStore:
    store = portal.get(FOLDER)
    if store is None:  # a database created before this step ran: create it on first need
        store = ThrottleStore()
        portal.add(FOLDER, store)
    return store


def check(request, scope: str, code_key: str) -> Verdict:
    """Before checking credentials: must the client wait, must it solve the cryptogramme?"""
    conf = _settings(request.registry)
    store = request.app_root.get(FOLDER)
    if store is None:
        return Verdict()
    at = now()
    account_key, address_key = _keys(scope, code_key, request.client_addr)
    account_count, account_last = store.get(account_key, conf["window"], at)
    address_count, address_last = store.get(address_key, conf["window"], at)
    if account_count >= conf["captcha_after"] or address_count >= conf["address_captcha_after"]:
        return Verdict(captcha=True)
    wait = 0.0
    for count, last in ((account_count, account_last), (address_count, address_last)):
        if count >= conf["delay_after"]:
            delay = min(2 ** (count - conf["delay_after"] + 1), conf["max_delay"])
            wait = max(wait, last + delay - at)
    return Verdict(wait=int(wait + 0.999) if wait > 0 else 0)


def record_failure(request, scope: str, code_key: str) -> Verdict:
    """Count a failed attempt; return what the next attempt will need."""
    conf = _settings(request.registry)
    store = _store(request.app_root)
    at = now()
    for key in _keys(scope, code_key, request.client_addr):
        store.fail(key, conf["window"], at)
    return check(request, scope, code_key)


def record_success(request, scope: str, code_key: str) -> None:
    """A successful attempt clears the account's counter (the address keeps its own)."""
    store = request.app_root.get(FOLDER)
    if store is not None:
        account_key, _address_key = _keys(scope, code_key, request.client_addr)
        if account_key in store.counters:
            store.clear(account_key)

