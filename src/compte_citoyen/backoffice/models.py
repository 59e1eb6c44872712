"""City staff and the audit journal."""
from __future__ import annotations

import datetime

from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree
from persistent import Persistent
from persistent.list import PersistentList

from ..indexes import (SHARD_SHIFT, WideLOBTree, WideOOBTree, every_part, iter_down, iter_down_sharded, merge_down,
                       micros, NumberTree, page_of, parted, shard_part, sharded_key, widen,
                       writer_shard)
from ..resources import Folder
from ..security import ROLES, STAFF_KIND, SessionHolder


class StaffMember(SessionHolder, Persistent):
    """A city agent: password + TOTP second factor, roles, and the services / régies they handle."""

    kind = STAFF_KIND
    active = True
    full_name = ""
    email = ""

    def __init__(self, login: str, password_hash: str, roles: list[str], totp_secret: str,
                 services: list[str] | None = None, regies: list[str] | None = None):
        unknown = set(roles) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown role(s): {', '.join(sorted(unknown))}")
        self.login = login
        self.password_hash = password_hash
        self.roles = PersistentList(roles)
        self.totp_secret = totp_secret
        self.services = PersistentList(services or [])
        self.regies = PersistentList(regies or [])
        self.sessions = OOBTree()
        self.last_totp_step = 0  # a TOTP code is accepted once
        self.created = datetime.datetime.now(datetime.timezone.utc)

    @property
    def userid_key(self) -> str:
        return self.login

    @property
    def userid(self) -> str:
        return f"staff:{self.login}"

    @property
    def display_name(self) -> str:
        return self.full_name or self.login

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def principals(self) -> list[str]:
        principals = ["staff", f"staff:{self.login}"]
        principals += [f"role:{role}" for role in self.roles]
        principals += [f"service:{code}" for code in self.services]
        principals += [f"regie:{code}" for code in self.regies]
        return principals


class StaffFolder(Folder):
    throttle = None  # LoginThrottle, created by the evolve step "core:0041-staff-login-throttle"


class JournalEntry(Persistent):
    def __init__(self, when, actor: str, action: str, target: str = "", detail: str = "", address: str = ""):
        self.when = when
        self.actor = actor
        self.action = action
        self.target = target
        self.detail = detail
        self.address = address


class Journal(Folder):
    """Append-only audit journal keyed by microsecond timestamps (LOBTree), plus an index by target.

    Each process appends to its own tree (``entries_by_shard[shard]``, see ``indexes.writer_shard``): one tree
    for every process made them all rewrite its last leaf at each commit (merged by the storage server,
    reloaded by the others, replayed on a split). A key carries its shard above its time stamp
    (``indexes.sharded_key``); entries written before the shards are in ``entries`` (shard 0). Readers merge
    the trees, most recent first.
    """

    entries_by_shard = None  # OOBTree shard -> LOBTree (created with the first entry of the shard)

    def __init__(self):
        super().__init__()
        self.entries = WideLOBTree()     # entries written before the shards
        self.entries_by_shard = OOBTree()
        self.by_target = NumberTree()  # target -> LLTreeSet of entry keys (a part per block of request numbers)

    def use_parted_trees(self) -> None:
        """The index by target of an older journal kept inside a ``NumberTree`` (``resources.use_parted_trees``)."""
        self.by_target = parted(self.by_target, NumberTree)

    def _tree(self, shard: int, create: bool = False):
        if not shard:
            return self.entries
        return shard_part(self, "entries_by_shard", shard, LOBTree if create else None)

    def entry(self, key: int) -> JournalEntry:
        return self._tree(key >> SHARD_SHIFT)[key]

    def record(self, actor: str, action: str, target: str = "", detail: str = "", address: str = "") -> JournalEntry:
        now = datetime.datetime.now(datetime.timezone.utc)
        shard = writer_shard()
        tree = self._tree(shard, create=True)
        key = sharded_key(micros(now), shard)
        while key in tree:
            key += 1
        entry = JournalEntry(now, actor, action, target, detail, address)
        tree[key] = entry
        self._num.change(1)
        if target:
            from BTrees.LLBTree import LLTreeSet
            bucket = self.by_target.get(target)
            if bucket is None:
                bucket = self.by_target[target] = LLTreeSet()
            bucket.add(key)
        return entry

    def use_wide_trees(self, batch=None) -> None:
        """Large-leaf trees for an older journal (evolve step ``core:0077-wide-trees``)."""
        self.entries = widen(self.entries, batch)
        self.by_target = widen(self.by_target, batch)

    def latest(self, limit: int = 100, offset: int = 0) -> list[JournalEntry]:
        """The most recent entries first: ``limit`` of them from ``offset`` (reads only those)."""
        keys = merge_down([iter_down(tree) for tree in every_part(self.entries, self.entries_by_shard)])
        return [self.entry(key) for key in page_of(keys, offset, limit)]

    def for_target(self, target: str, limit: int = 100, offset: int = 0) -> list[JournalEntry]:
        """A target's entries, most recent first: ``limit`` from ``offset`` (reads only those)."""
        bucket = self.by_target.get(target)
        if not bucket:
            return []
        return [self.entry(key) for key in page_of(iter_down_sharded(bucket), offset, limit)]


def journal(request, action: str, target: str = "", detail: str = "") -> None:
    """Record an action of the current user (never a password, answer or token in ``detail``)."""
    identity = request.identity
    actor = identity.userid if identity is not None else "anonymous"
    request.app_root["journal"].record(actor, action, target, detail, request.client_addr or "")


# --- login throttling ---------------------------------------------------------------------------------

#: Failures allowed before any delay, per login and per address (an office may share one address).
THROTTLE_FREE_FAILURES = {"login": 3, "addr": 10}
THROTTLE_MAX_DELAY = 15 * 60  # seconds: never a permanent lock-out


class LoginThrottle(Persistent):
    """Failed staff logins per login and per client address: each failure past a few doubles the wait.

    Kept in the database (an OOBTree keyed ``login:<login>`` / ``addr:<address>``) so that every worker
    process sees the same counters; a success clears the login's counter.
    """

    def __init__(self):
        self.records = OOBTree()  # key -> (failures, epoch seconds of the last failure)

    @staticmethod
    def delay_for(kind: str, failures: int) -> int:
        free = THROTTLE_FREE_FAILURES[kind]
        if failures < free:
            return 0
        return min(2 ** (failures - free + 1), THROTTLE_MAX_DELAY)

    def wait_seconds(self, keys: list[tuple[str, str]], now: float) -> int:
        """Seconds to wait before another attempt is allowed for any of ``keys`` ((kind, value) pairs)."""
        wait = 0
        for kind, value in keys:
            record = self.records.get(f"{kind}:{value}")
            if record is None:
                continue
            failures, last = record
            remaining = last + self.delay_for(kind, failures) - now
            wait = max(wait, int(remaining + 0.999))
        return max(wait, 0)

    def failed(self, keys: list[tuple[str, str]], now: float) -> None:
        for kind, value in keys:
            key = f"{kind}:{value}"
            failures, _last = self.records.get(key, (0, 0.0))
            self.records[key] = (failures + 1, now)

    def succeeded(self, keys: list[tuple[str, str]]) -> None:
        for kind, value in keys:
            self.records.pop(f"{kind}:{value}", None)

    def purge(self, now: float) -> None:
        """Forget records whose delay is long over (called now and then, keeps the tree small)."""
        for key, (failures, last) in list(self.records.items()):
            if now - last > 2 * THROTTLE_MAX_DELAY:
                del self.records[key]


def get_throttle(portal) -> LoginThrottle:
    staff = portal["staff"]
    throttle = getattr(staff, "throttle", None)
    if throttle is None:  # databases evolved before the throttle existed
        throttle = staff.throttle = LoginThrottle()
    return throttle
