"""Helpers for indexes of collections that grow with the city: newest-first keys, counters, pages.

BTrees iterate in ascending order only, and reading a BTree range backwards (``reversed(list(...))``,
``len(keys)`` then indexing from the end) walks every bucket of the range. So a listing shown newest first
keeps its own index whose *ascending* order is newest first (a negated date or time stamp, an inverted
string for ties) and reads it with ``itertools.islice``: the cost is O(log n + offset + limit) keys and only
the objects returned are loaded. Counts come from ``BTrees.Length`` counters changed in the same transaction
as the state change (they resolve concurrent increments without conflicts).
"""
from __future__ import annotations

import datetime
import heapq
import math
import os
import re
import secrets
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Callable, Iterable, Iterator

from BTrees.Length import Length
from BTrees.LOBTree import LOBTree
from BTrees.OOBTree import OOBTree, OOTreeSet
from persistent import Persistent

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_MICROSECOND = datetime.timedelta(microseconds=1)
_TOP = 0x10FFFF  # greater than every inverted character: ends an inverted string
_MISSING = object()


def micros(when: datetime.datetime) -> int:
    """Exact microseconds since the epoch (naive datetimes are taken as UTC), for integer index keys."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return (when - EPOCH) // _MICROSECOND


def newest_first(when: datetime.datetime) -> int:
    """An integer that sorts the most recent moment first."""
    return -micros(when)


def invert_text(text: str) -> str:
    """A string whose ascending order is the descending order of ``text`` (``a`` < ``b`` ⇔ inv(a) > inv(b)).

    Each character is mirrored and a terminator greater than any mirrored character closes the string, so a
    prefix sorts after the longer strings it begins.
    """
    return "".join(chr(_TOP - 1 - ord(char)) for char in text) + chr(_TOP)


def revert_text(inverted: str) -> str:
    """The original of ``invert_text``."""
    return "".join(chr(_TOP - 1 - ord(char)) for char in inverted[:-1])


# --- counters -----------------------------------------------------------------------------------------

def change_count(counts, key, delta: int) -> None:
    """Add ``delta`` to the counter ``key`` of ``counts``: a ``ShardedCounts`` or ``SharedCounts``, or a mapping
    of ``ShardedLength`` (created on first use)."""
    if not delta:
        return
    if isinstance(counts, (ShardedCounts, SharedCounts)):
        counts.change(key, delta)
        return
    counter = counts.get(key)
    if counter is None:
        counter = counts[key] = ShardedLength()
    counter.change(delta)


def track_entry(index, counts, entry, count_key, delta: int) -> None:
    """Add (``delta`` 1) or remove (-1) ``entry`` of the set ``index``, changing the counter ``counts[count_key]``
    only when the set changed (adding twice or removing what is not there counts nothing)."""
    if delta > 0:
        if index.add(entry):
            change_count(counts, count_key, 1)
    elif entry in index:
        index.remove(entry)
        change_count(counts, count_key, -1)


def read_count(counts, key) -> int:
    if isinstance(counts, (ShardedCounts, SharedCounts)):
        return counts.count(key)
    counter = counts.get(key) if counts is not None else None
    return counter() if counter is not None else 0


# --- time-ordered index sets --------------------------------------------------------------------------

class TimeIndex(OOTreeSet):
    """An ``OOTreeSet`` with large leaves, for the hot sets whose keys are time-ordered.

    Every new key of such a set lands in the same (first or last) leaf. BTrees resolve concurrent inserts into
    one leaf, but not a leaf split (the parent changes too); with the default 30 keys a leaf splits every ~15
    inserts, so concurrent requests often conflicted for good. 250 keys make splits ~8 times rarer. Same keys
    and API as ``OOTreeSet`` (readers, ``intersection``/``union`` are unchanged). Stored by its dotted name:
    never rename or move it. Existing sets are converted by ``convert_time_index`` (evolve steps).
    """

    max_leaf_size = 250
    max_internal_size = 500


class WideOOBTree(OOBTree):
    """An ``OOBTree`` with large leaves, for the mappings that every request of a kind writes to.

    Items by random id split leaves anywhere; each split changes the parent node, which BTrees cannot merge,
    so two requests splitting at the same moment conflict and one is replayed. With 30 keys a leaf the trees
    split every ~15 inserts; 250 keys make it every ~125. Items by readable number (``2026-000123``) would all
    land in the last leaf: each process takes its numbers in blocks larger than a leaf
    (``resources.NUMBER_BLOCK``), so that processes soon append to leaves of their own. Stored by its dotted
    name: never rename or move it, nor change its sizes (existing leaves would all split as they are written).
    """

    max_leaf_size = 250
    max_internal_size = 500


class WideLOBTree(LOBTree):
    """A ``LOBTree`` with large leaves (the journal, keyed by time: every entry lands in the last leaf)."""

    max_leaf_size = 250
    max_internal_size = 500


#: the large-leaf class of each standard tree (``widen``)
WIDE_CLASSES = {OOBTree: WideOOBTree, LOBTree: WideLOBTree, OOTreeSet: TimeIndex}


def widen(tree, batch: "Batch | None" = None, chunk: int = 5000):
    """The large-leaf copy of ``tree`` (an ``OOBTree``, ``LOBTree`` or ``OOTreeSet``), with every item; the
    tree itself when it is already one (or None). Copies ``chunk`` items at a time, ticking ``batch``."""
    wide = WIDE_CLASSES.get(type(tree))
    if wide is None:
        return tree
    return copy_in_chunks(wide(), tree.items() if hasattr(tree, "items") else tree.keys(), batch, chunk)


def copy_in_chunks(new, items: Iterable, batch: "Batch | None" = None, chunk: int = 5000,
                   keep: Callable | None = None):
    """``new`` (a tree or set) updated with ``items`` (those ``keep`` accepts, when given), ``chunk`` at a time,
    ticking ``batch`` after each chunk: an evolve step copying a large index keeps memory flat."""
    items = iter(items)
    while True:
        part = list(islice(items, chunk))
        if not part:
            break
        new.update([item for item in part if keep(item)] if keep is not None else part)
        if batch is not None:
            batch.tick()
    return new


#: sets with at most this many keys never split a leaf as an ``OOTreeSet``: not worth converting
OLD_LEAF_SIZE = OOTreeSet.max_leaf_size


def owner_set(tree, key) -> OOTreeSet:
    """The set ``tree[key]`` of one owner's keys (a household's requests or messages, a request's messages), to
    add to; created when missing.

    Such a set grows with its owner's history and only its owner's requests write it, so it keeps the standard
    30-key leaves: adding a key rewrites one leaf of at most 30 keys. Earlier releases created these sets as
    ``TimeIndex``, whose first 250 keys all stay in the set's own record (rewritten whole at every addition):
    such a set is copied into an ``OOTreeSet`` the first time it is written with ``OLD_LEAF_SIZE`` keys or more.
    """
    found = tree.get(key)
    if found is None:
        found = tree[key] = OOTreeSet()
    elif type(found) is TimeIndex and len(found) >= OLD_LEAF_SIZE:
        found = tree[key] = OOTreeSet(found.keys())
    return found


def convert_time_index(tree_set, batch: "Batch | None" = None, chunk: int = 5000):
    """A ``TimeIndex`` holding every key of ``tree_set`` (returned as is when already one, or None).

    Copies ``chunk`` keys at a time and ticks ``batch`` after each chunk, so an evolve step converting
    large sets keeps memory flat (savepoint + cache shedding).
    """
    if tree_set is None or isinstance(tree_set, (TimeIndex, ShardedSet)):
        return tree_set
    return copy_in_chunks(TimeIndex(), tree_set.keys(), batch, chunk)


def convert_time_indexes(tree, batch: "Batch | None" = None, min_keys: int = 0) -> int:
    """Replace each value (an ``OOTreeSet``) of the OOBTree ``tree`` by a ``TimeIndex``; return how many.

    Sets of ``min_keys`` keys or fewer are kept (not hot, and the writes would be wasted).
    """
    done = 0
    for key in list(tree.keys()):
        value = tree[key]
        if isinstance(value, TimeIndex) or not isinstance(value, OOTreeSet) or len(value) <= min_keys:
            continue
        tree[key] = convert_time_index(value, batch)
        done += 1
    return done


# --- reading a time-keyed set newest first ----------------------------------------------------------

def newest_keys(index, since: datetime.datetime | None = None, until: datetime.datetime | None = None,
                window: datetime.timedelta = datetime.timedelta(days=7)) -> Iterator[tuple]:
    """The keys of an ascending set whose keys start with a datetime (``(created, number)``), newest first,
    from ``until`` down to ``since`` (both included, ``None``: no bound), read lazily.

    BTrees only iterate upwards, so the set is read in time windows going back from the newest key: each
    window is one range search (O(log n)) and the keys it holds. The window widens while windows come back
    nearly empty and narrows when they are large, so a page of the newest keys costs about a page of keys,
    whatever the size of the set.
    """
    try:
        oldest = index.minKey()
        high = index.maxKey((until, "\uffff")) if until is not None else index.maxKey()
    except ValueError:  # empty, or nothing before ``until``
        return
    floor = (since,) if since is not None else (oldest[0],)
    exclude = False
    span = window
    while high >= floor:
        try:
            low = max((high[0] - span,), floor)
        except OverflowError:  # before year 1
            low = floor
        chunk = list(index.keys(min=low, max=high, excludemax=exclude))
        yield from reversed(chunk)
        if low <= floor:
            return
        high, exclude = low, True
        if len(chunk) < 64:
            span *= 2
        elif len(chunk) > 512:
            span /= 2


# --- writer shards ---------------------------------------------------------------------------------

#: how many writer shards the hot append-only indexes have (shard 0 holds the entries written before them)
SHARDS = 15
#: the journal's integer keys carry their shard above the microseconds (micros < 2**52 until year 2112)
SHARD_SHIFT = 52
MICROS_MASK = (1 << SHARD_SHIFT) - 1


def writer_shard() -> int:
    """This process's shard (1 to ``SHARDS``) of the append-only indexes every request writes to.

    Keys ordered by time make every new entry of an index land in the same leaf, so concurrent processes
    (gunicorn workers on one ZEO server or RelStorage) wrote the same objects: each commit conflicted and was
    merged by the storage server, or replayed when the leaf split, and every other process reloaded the leaf.
    With the shard in the key, each process appends to its own range of the index: workers forked one after the
    other have consecutive process ids, hence different shards. Readers merge the shards' ranges.

    Kept per process (``os.getpid`` is a system call, and a request that files a citizen's request asks for its
    shard a dozen times); a forked child computes its own.
    """
    shard = _shard_of_process[0]
    if shard is None:
        shard = _shard_of_process[0] = 1 + os.getpid() % SHARDS
    return shard


_shard_of_process: list[int | None] = [None]


def _forget_shard_of_process() -> None:
    _shard_of_process[0] = None


os.register_at_fork(after_in_child=_forget_shard_of_process)


def ordered_id(random_bytes: int = 6, now: datetime.datetime | None = None) -> str:
    """A unique identifier that sorts by writer shard, then time (``ss`` + 13 hex digits of microseconds), then
    ``random_bytes`` random bytes in hex: the items a process adds to a mapping keyed by such ids land in leaves
    of its own (random ids spread every process's additions over every leaf, so each one rewrote leaves that
    the others had to reload)."""
    when = micros(now or datetime.datetime.now(datetime.timezone.utc))
    return f"{writer_shard():02x}{when:013x}{secrets.token_hex(random_bytes)}"


def sharded_key(micros_value: int, shard: int) -> int:
    """An integer key ordered by shard, then time (``micros``); shard 0 is a bare time stamp."""
    return (shard << SHARD_SHIFT) | micros_value


def key_micros(key: int) -> int:
    return key & MICROS_MASK


def shard_part(owner, attribute: str, shard: int, factory: Callable | None = None):
    """The part of ``shard`` in ``owner.<attribute>`` (an ``OOBTree`` shard -> part), or None; with ``factory``, a
    missing part is created (and the mapping itself, for an object stored before it had one)."""
    parts = getattr(owner, attribute)
    if parts is None:
        if factory is None:
            return None
        parts = OOBTree()
        setattr(owner, attribute, parts)
    part = parts.get(shard)
    if part is None and factory is not None:
        part = parts[shard] = factory()
    return part


def every_part(legacy, parts) -> list:
    """``legacy`` (what was written before the shards; left out when None), then the part of each shard."""
    return ([legacy] if legacy is not None else []) + (list(parts.values()) if parts else [])


def merge_down(ranges: list[Iterator[int]]) -> Iterator[int]:
    """Merge descending iterations of ``sharded_key`` keys into one, most recent first (whatever the shard)."""
    if len(ranges) == 1:
        return ranges[0]
    return heapq.merge(*ranges, key=lambda key: (-key_micros(key), -key))


def iter_down_sharded(tree) -> Iterator[int]:
    """Keys of an integer-keyed tree or set holding ``sharded_key`` keys, most recent first across shards,
    lazily: one ``iter_down`` per shard present, merged on the time stamp (a few descents per page)."""
    ranges = []
    for shard in range(SHARDS + 1):
        low, high = shard << SHARD_SHIFT, ((shard + 1) << SHARD_SHIFT) - 1
        try:
            top = tree.maxKey(high)
        except ValueError:
            continue
        if top < low:
            continue
        ranges.append(_down_from(tree, top, low))
    return merge_down(ranges)


def _down_from(tree, top: int, low: int) -> Iterator[int]:
    for key in iter_down(tree, top):
        if key < low:
            return
        yield key


class ShardedSet(Persistent):
    """A sorted set of keys that concurrent processes add to without writing the same objects.

    For the sets whose new keys are all alike (ordered by time: the messages due, the messages of a state):
    in one ``OOTreeSet`` every new key lands in the same leaf, which every process rewrote at each commit, the
    storage server merged, the others reloaded and a split replayed. Here each process adds to its own set
    (``writer_shard``); a set converted from an older database keeps its keys in ``legacy`` (no copy). Removing
    looks for the key in each set. Reading merges the sets in key order, lazily: the ``OOTreeSet`` API that the
    readers use (``keys(min, max)``, ``minKey``, ``maxKey``, ``in``, ``len``, iteration). Stored by its dotted
    name: never rename or move it.
    """

    def __init__(self, legacy=None):
        self.legacy = legacy
        self.shards = OOBTree()  # writer shard -> OOTreeSet (small leaves: one writer each)

    def _sets(self) -> list:
        return every_part(self.legacy, self.shards)

    def _own(self):
        return shard_part(self, "shards", writer_shard(), OOTreeSet)

    def add(self, key) -> int:
        """Add ``key`` to this process's set (1 if added, 0 if there already or in ``legacy``). Not looked for
        in the other processes' sets, which would load their leaves: the keys of these sets carry an id, and a
        key is removed before it is added again."""
        if self.legacy is not None and key in self.legacy:
            return 0
        return self._own().add(key)

    insert = add

    def __contains__(self, key) -> bool:
        return any(key in tree for tree in self._sets())

    has_key = __contains__

    def remove(self, key) -> None:
        for tree in self._sets():
            if key in tree:
                tree.remove(key)
                return
        raise KeyError(key)

    def discard(self, key) -> None:
        for tree in self._sets():
            if key in tree:
                tree.remove(key)
                return

    def update(self, keys: Iterable) -> int:
        return sum(self.add(key) for key in keys)

    def keys(self, min=None, max=None, excludemin: bool = False, excludemax: bool = False):  # noqa: A002
        ranges = [tree.keys(min=min, max=max, excludemin=excludemin, excludemax=excludemax)
                  for tree in self._sets()]
        return ranges[0] if len(ranges) == 1 else heapq.merge(*ranges)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return sum(len(tree) for tree in self._sets())

    def __bool__(self) -> bool:
        return any(bool(tree) for tree in self._sets())

    def minKey(self, key=_MISSING):  # noqa: N802 - BTrees vocabulary
        found = [_bound(tree.minKey, key) for tree in self._sets()]
        found = [value for value in found if value is not _MISSING]
        if not found:
            raise ValueError("empty set or no key at or after the bound")
        return min(found)

    def maxKey(self, key=_MISSING):  # noqa: N802
        found = [_bound(tree.maxKey, key) for tree in self._sets()]
        found = [value for value in found if value is not _MISSING]
        if not found:
            raise ValueError("empty set or no key at or before the bound")
        return max(found)


class ShardedLength(Persistent):
    """A counter that concurrent processes change without writing the same object: each process changes its own
    ``Length`` (``writer_shard``), and the value is their sum (with ``legacy``, the ``Length`` of an older
    database, kept as it is). A shared ``Length`` merged concurrent changes, but every other process then had
    to reload it before its next change: a round trip to the storage server for each counter of each request.
    Same API as ``Length`` (``change``, ``set``, calling it). Stored by its dotted name: never rename or move it.
    """

    def __init__(self, legacy=None):
        self.legacy = legacy
        self.shards = OOBTree()  # writer shard -> Length

    def change(self, delta: int) -> None:
        shard_part(self, "shards", writer_shard(), Length).change(delta)

    def __call__(self) -> int:
        return sum(counter() for counter in every_part(self.legacy, self.shards))

    def set(self, value: int) -> None:
        """Make the sum ``value`` (this process's counter takes the difference)."""
        self.change(value - self())


class CountBank(Persistent):
    """The counters of one process in a ``ShardedCounts``: key -> the sum of its changes, in one record.

    Two processes whose ids fall in the same shard may change it at once: ``_p_resolveConflict`` adds both
    changes. Stored by its dotted name: never rename or move it (the storage server resolves conflicts with it).
    """

    def __init__(self):
        self.counts = {}

    def change(self, key, delta: int) -> None:
        self.counts[key] = self.counts.get(key, 0) + delta
        self._p_changed = True

    def _p_resolveConflict(self, old, committed, new):
        before = (old or {}).get("counts", {})
        merged = dict(committed.get("counts", {}))
        for key, value in new.get("counts", {}).items():
            delta = value - before.get(key, 0)
            if delta:
                merged[key] = merged.get(key, 0) + delta
        return {**committed, "counts": merged}


class ShardedCounts(Persistent):
    """Counters by key (a queue scope, a state) that concurrent processes change without writing the same
    objects: each process changes its own ``CountBank``, one record for all its counters (a request changes a
    handful of counters at once: with a ``ShardedLength`` each, that was as many objects to write). A counter is
    the sum of the banks, plus its ``Length`` (or ``ShardedLength``) in ``legacy``, the ``OOBTree`` of the
    counters of an older database, kept as it is. ``keys(min, max)`` lists every key ever counted, in order.
    Stored by its dotted name: never rename or move it.
    """

    def __init__(self, legacy=None):
        self.legacy = legacy
        self.shards = OOBTree()  # writer shard -> CountBank

    def change(self, key, delta: int) -> None:
        if delta:
            shard_part(self, "shards", writer_shard(), CountBank).change(key, delta)

    def count(self, key) -> int:
        total = 0
        if self.legacy is not None:
            counter = self.legacy.get(key)
            if counter is not None:
                total += counter()
        for bank in self.shards.values():
            total += bank.counts.get(key, 0)
        return total

    def keys(self, min=None, max=None) -> list:  # noqa: A002 - BTree vocabulary
        found = set(self.legacy.keys(min, max)) if self.legacy is not None else set()
        for bank in self.shards.values():
            found.update(key for key in bank.counts
                         if (min is None or key >= min) and (max is None or key <= max))
        return sorted(found)


class SharedCounter(Persistent):
    """A counter kept in the portal's ``ShardedCounts`` (``Portal.counts``) under ``key``: each process changes
    one ``CountBank`` for every such counter, one record however many counters a request changes (filing a
    request changed five ``Length`` records: the item counts of the requests, the messages and the journal, the
    messages queued and the request's queue scopes). ``legacy``: the counter of before (a ``Length`` or
    ``ShardedLength``), kept as it is and added. Same API as ``Length``. Stored by its dotted name: never rename
    or move it."""

    def __init__(self, shared: ShardedCounts, key, legacy=None):
        self.shared = shared
        self.key = key
        self.legacy = legacy

    def change(self, delta: int) -> None:
        self.shared.change(self.key, delta)

    def __call__(self) -> int:
        return (self.legacy() if self.legacy is not None else 0) + self.shared.count(self.key)

    def set(self, value: int) -> None:
        """Make the value ``value`` (this process's bank takes the difference)."""
        self.change(value - self())


class SharedCounts(Persistent):
    """Counters by key (``ShardedCounts`` API: ``change``, ``count``, ``keys``) kept in the portal's
    ``ShardedCounts`` under ``(prefix, key)``, as ``SharedCounter``; ``legacy`` holds the counters of before (a
    ``ShardedCounts`` or a mapping of ``Length``), kept as they are and added. Stored by its dotted name: never
    rename or move it."""

    def __init__(self, shared: ShardedCounts, prefix: str, legacy=None):
        self.shared = shared
        self.prefix = prefix
        self.legacy = legacy

    def change(self, key, delta: int) -> None:
        self.shared.change((self.prefix, key), delta)

    def count(self, key) -> int:
        before = read_count(self.legacy, key) if self.legacy is not None else 0
        return before + self.shared.count((self.prefix, key))

    def keys(self, min=None, max=None) -> list:  # noqa: A002 - BTree vocabulary
        found = set(self.legacy.keys(min, max)) if self.legacy is not None else set()
        # (prefix,) sorts before every (prefix, key), (prefix + "\0",) after them
        low = (self.prefix,) if min is None else (self.prefix, min)
        high = (self.prefix + "\0",) if max is None else (self.prefix, max)
        found.update(key[1] for key in self.shared.keys(low, high) if len(key) == 2)
        return sorted(found)


#: the attributes under which folders keep their counters by key (by scope, state or régie)
COUNTER_ATTRIBUTES = ("queue_counts", "state_counts", "in_progress_counts")


def share_counters(folder, shared: ShardedCounts, name: str) -> int:
    """Keep the counters of ``folder`` (its item count ``_num`` and its counters by scope, state or régie) in
    ``shared`` (``Portal.counts``) under keys of ``name``, the counters of before kept inside as they are (nothing
    is recounted); return how many were converted (none when they are already)."""
    done = 0
    if getattr(folder, "_num", None) is not None and not isinstance(folder._num, SharedCounter):
        folder._num = SharedCounter(shared, ("items", name), legacy=_kept(folder._num))
        done += 1
    for attribute in COUNTER_ATTRIBUTES:
        counts = getattr(folder, attribute, None)
        if counts is not None and not isinstance(counts, SharedCounts):
            setattr(folder, attribute, SharedCounts(shared, f"{name}.{attribute}", legacy=_kept(counts)))
            done += 1
    return done


def _kept(counters):
    """``counters`` (a ``ShardedLength``, ``ShardedCounts`` or mapping), or None for one that never counted
    anything (a folder just created)."""
    if isinstance(counters, (ShardedLength, ShardedCounts)):
        return counters if counters.legacy is not None or counters.shards else None
    return counters if not isinstance(counters, OOBTree) or counters else None


def sharded_counts(counts):
    """``counts`` (an ``OOBTree`` of counters) kept as the ``legacy`` part of a ``ShardedCounts``; None, or a
    ``ShardedCounts``, stays as it is."""
    if counts is None or isinstance(counts, (ShardedCounts, SharedCounts)):
        return counts
    return ShardedCounts(legacy=counts)


def sharded_length(counter):
    """``counter`` (a ``Length``) as a ``ShardedLength`` keeping it as its ``legacy`` part; None stays None."""
    if counter is None or isinstance(counter, (ShardedLength, SharedCounter)):
        return counter
    return ShardedLength(legacy=counter)


def shard_counters(counts) -> int:
    """Make every ``Length`` value of the mapping ``counts`` a ``ShardedLength``; return how many (none for a
    ``ShardedCounts``, whose counters are sharded already)."""
    if isinstance(counts, (ShardedCounts, SharedCounts)):
        return 0
    done = 0
    for key in list(counts.keys()):
        if not isinstance(counts[key], ShardedLength):
            counts[key] = sharded_length(counts[key])
            done += 1
    return done


def _bound(method, key):
    try:
        return method() if key is _MISSING else method(key)
    except ValueError:
        return _MISSING


class PartedTree(Persistent):
    """A mapping split in trees of its own for the keys that one process adds (``parts``: part key ->
    ``OOBTree``), and ``base`` for the other keys and the tree of an older database (kept as it is).

    In one tree, the keys that every request adds all landed in the same last leaf or few leaves: every process
    rewrote them, the storage server merged the writes, every other process reloaded them, and each split
    (every ~125 additions) replayed a concurrent request and gave every other one a read conflict on the root
    node (BTrees check the nodes they walk through). A part is written by one process only. Subclasses say in
    which part a new key goes (``_new_part``) and where a key may be (``_find_part``). Reading: ``get``, ``[]``,
    ``in``, ``keys``/``values``/``items`` with bounds (in key order: the parts are disjoint ranges, in order,
    merged with ``base``), iteration, ``len``; writing: ``[]=``, ``insert``, ``pop``, ``del``.

    A part has the ordinary leaves of 30 keys: nobody else writes it, so a split costs no conflict, and each
    commit pickles the leaf it changed whole (every key and value of it: a leaf of 250 keys cost ten times more).
    """

    def __init__(self, base=None):
        self.base = base if base is not None else WideOOBTree()
        self.parts = OOBTree()

    # --- where a key is -------------------------------------------------------------------------------------

    def _find_part(self, key):
        """The part that may hold ``key`` (None: only ``base`` may)."""
        raise NotImplementedError

    def _new_part(self, key):
        """The part key where this process adds ``key``, or None for ``base``."""
        raise NotImplementedError

    def _tree_of(self, key):
        """The tree holding ``key``, or None."""
        part = self._find_part(key)
        if part is not None and key in part:
            return part
        return self.base if key in self.base else None

    # --- reading ---------------------------------------------------------------------------------------------

    def get(self, key, default=None):
        part = self._find_part(key)
        if part is not None:
            value = part.get(key, _MISSING)
            if value is not _MISSING:
                return value
        return self.base.get(key, default)

    def __getitem__(self, key):
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key) -> bool:
        return self.get(key, _MISSING) is not _MISSING

    has_key = __contains__

    def _trees(self, min=None, max=None) -> list:  # noqa: A002 - BTree vocabulary
        """The parts whose keys may lie between ``min`` and ``max``, in order."""
        first = _bound(self.parts.maxKey, min) if min is not None else _MISSING
        starts = self.parts.keys(min=first if first is not _MISSING else None, max=max)
        return [self.parts[start] for start in starts]

    def items(self, min=None, max=None, excludemin: bool = False, excludemax: bool = False):  # noqa: A002
        bounds = {"min": min, "max": max, "excludemin": excludemin, "excludemax": excludemax}
        in_parts = chain.from_iterable(tree.items(**bounds) for tree in self._trees(min, max))
        if not self.base:
            return in_parts
        return heapq.merge(self.base.items(**bounds), in_parts, key=lambda item: item[0])

    def keys(self, min=None, max=None, excludemin: bool = False, excludemax: bool = False):  # noqa: A002
        return (key for key, _value in self.items(min, max, excludemin, excludemax))

    def values(self, min=None, max=None, excludemin: bool = False, excludemax: bool = False):  # noqa: A002
        return (value for _key, value in self.items(min, max, excludemin, excludemax))

    def __iter__(self):
        return self.keys()

    def __len__(self) -> int:
        """Walks every part: the folders count their items in their own counter."""
        return len(self.base) + sum(len(tree) for tree in self.parts.values())

    def __bool__(self) -> bool:
        return bool(self.base) or any(bool(tree) for tree in self.parts.values())

    # --- writing ---------------------------------------------------------------------------------------------

    def __setitem__(self, key, value) -> None:
        tree = self._tree_of(key)
        if tree is None:
            start = self._new_part(key)
            tree = self.base if start is None else shard_part(self, "parts", start, OOBTree)
        tree[key] = value

    def insert(self, key, value) -> int:
        if key in self:
            return 0
        self[key] = value
        return 1

    def pop(self, key, default=_MISSING):
        tree = self._tree_of(key)
        if tree is None:
            if default is _MISSING:
                raise KeyError(key)
            return default
        return tree.pop(key)

    def __delitem__(self, key) -> None:
        self.pop(key)


#: request numbers, ``2026-000123``: the year, then the rank in that year's sequence (``requests-<year>``)
REQUEST_NUMBER = re.compile(r"(\d{4})-(\d{6})\Z")


class NumberTree(PartedTree):
    """A mapping keyed by request number (other keys go to ``base``): each block of numbers a process reserved
    (``resources.NUMBER_BLOCK``) has a part of its own, under its first number, created by that process. A key
    is in the part of the greatest first number not above it, or in ``base``. Stored by its dotted name: never
    rename or move it."""

    def _number(self, key):
        """The request number that places ``key`` (a match of ``REQUEST_NUMBER``), or None."""
        return REQUEST_NUMBER.match(key) if isinstance(key, str) else None

    def _find_part(self, key):
        match = self._number(key) if self.parts else None
        if match is None:
            return None
        start = _bound(self.parts.maxKey, match.group(0))
        return self.parts[start] if start is not _MISSING else None

    def _new_part(self, key):
        match = self._number(key)
        if match is None or self._p_jar is None:
            return None
        from .resources import reserved_block
        first = reserved_block(self._p_jar.db(), f"requests-{match.group(1)}", int(match.group(2)))
        return f"{match.group(1)}-{first:06d}" if first is not None else None


#: a request number inside a longer key (``request-received:2026-000123``, ``request-decision:2026-000123:4``)
NUMBER_INSIDE = re.compile(r"(\d{4})-(\d{6})(?=\D|\Z)")


def request_in_key(key: str) -> str | None:
    """The request number that an event key names (``request-decision:2026-000123:4`` -> ``2026-000123``)."""
    match = NUMBER_INSIDE.search(key) if isinstance(key, str) else None
    return match.group(0) if match is not None else None


class EventKeyTree(NumberTree):
    """A mapping keyed by event keys (``request-received:2026-000123``): a key that names a request is kept in
    the part of that request's block of numbers, the others in ``base``. The parts are not ranges of keys: reading
    in order merges them all. Stored by its dotted name: never rename or move it."""

    def _number(self, key):
        return NUMBER_INSIDE.search(key) if isinstance(key, str) else None

    def items(self, min=None, max=None, excludemin: bool = False, excludemax: bool = False):  # noqa: A002
        bounds = {"min": min, "max": max, "excludemin": excludemin, "excludemax": excludemax}
        ranges = [tree.items(**bounds) for tree in [self.base, *self.parts.values()] if tree]
        return heapq.merge(*ranges, key=lambda item: item[0])


class IdTree(PartedTree):
    """A mapping keyed by ``ordered_id``: the ids a process makes begin with its writer shard (two hex digits),
    and each shard has a part of its own. Other keys (random ids of before) are in ``base``. Stored by its dotted
    name: never rename or move it."""

    def _find_part(self, key):
        return self.parts.get(key[:2]) if isinstance(key, str) and self.parts else None

    def _new_part(self, key):
        if isinstance(key, str) and len(key) > 15 and key[:2] == f"{writer_shard():02x}":
            return key[:2]
        return None


def parted(tree, factory):
    """``tree`` kept as the ``base`` of a new ``factory`` (a ``PartedTree`` class), not copied; a
    ``PartedTree`` (or None) stays as it is."""
    if tree is None or isinstance(tree, PartedTree):
        return tree
    return factory(base=tree)


def sharded(tree_set):
    """``tree_set`` as a ``ShardedSet`` (kept as its ``legacy`` keys, not copied); None stays None."""
    if tree_set is None or isinstance(tree_set, ShardedSet):
        return tree_set
    return ShardedSet(legacy=tree_set)


# --- reading a page of keys ---------------------------------------------------------------------------

def page_of(keys: Iterable, offset: int = 0, limit: int | None = None) -> list:
    """``limit`` keys from ``offset`` of a lazy ascending iteration (a BTree range): reads only those."""
    stop = None if limit is None else offset + limit
    return list(islice(keys, offset, stop))


def merged_page(ranges: list[Iterable], offset: int = 0, limit: int | None = None,
                key: Callable | None = None) -> list:
    """A page of the ascending merge of several disjoint sorted ranges (each read lazily)."""
    if len(ranges) == 1:
        return page_of(ranges[0], offset, limit)
    return page_of(heapq.merge(*ranges, key=key), offset, limit)


def iter_down(tree, high=None) -> Iterator:
    """Keys of an integer-keyed BTree or TreeSet from ``high`` (inclusive) down, lazily.

    Each step asks ``maxKey`` for the next smaller key (one descent, a few cached nodes): only the buckets
    holding the keys read are loaded, so the newest entries of an append-only log cost O(limit · log n).
    """
    try:
        current = tree.maxKey(high) if high is not None else tree.maxKey()
    except ValueError:
        return
    while True:
        yield current
        try:
            current = tree.maxKey(current - 1)
        except ValueError:
            return


class Batch:
    """Keep memory flat while an evolve step writes a large index in one transaction.

    Every ``size`` calls to ``tick``, an optimistic savepoint writes the changes to the connection's temporary
    storage and the object cache sheds what it holds (changed objects included, now saved in the savepoint).
    """

    def __init__(self, obj, size: int = 5000):
        self.jar = getattr(obj, "_p_jar", None)
        self.size = size
        self.done = 0

    def tick(self) -> None:
        self.done += 1
        if self.jar is not None and self.done % self.size == 0:
            self.jar.transaction_manager.savepoint(True)
            self.jar.cacheGC()


# --- pagination of back-office lists ------------------------------------------------------------------

MAX_PAGE = 100_000


def page_number(request, name: str = "page") -> int:
    """The page asked in ``?page=`` (1 when absent or not a positive number)."""
    try:
        value = int(request.params.get(name, 1))
    except (TypeError, ValueError):
        return 1
    return min(max(value, 1), MAX_PAGE)


@dataclass
class PageLink:
    number: int | None      # None: a gap ("…")
    url: str = ""
    current: bool = False


@dataclass
class Pager:
    """Where a list page stands: its number, size and, when a counter gives it, the total.

    ``total`` is None when nothing counts the list (a date range, a journal target): the page then reads one
    row more than it shows to know whether a next page exists.
    """

    page: int
    size: int
    total: int | None = None
    has_next: bool = False
    url_for: Callable[[int], str] | None = None
    links: list[PageLink] = field(default_factory=list)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def pages(self) -> int | None:
        if self.total is None:
            return None
        return max(1, math.ceil(self.total / self.size))

    @property
    def prev_url(self) -> str | None:
        return self.url_for(self.page - 1) if self.page > 1 and self.url_for else None

    @property
    def next_url(self) -> str | None:
        return self.url_for(self.page + 1) if self.has_next and self.url_for else None

    @property
    def shown(self) -> bool:
        return bool(self.prev_url or self.next_url)

    def clamp(self) -> "Pager":
        """With a known total, a page past the end shows the last one."""
        if self.pages is not None:
            self.page = min(self.page, self.pages)
            self.has_next = self.page < self.pages
        return self

    def fill(self, rows: list) -> list:
        """Rows read with ``size + 1`` (unknown total): keep ``size`` and note whether more exist."""
        if self.total is None:
            self.has_next = len(rows) > self.size
        return rows[:self.size]

    def build(self, url_for: Callable[[int], str], around: int = 2) -> "Pager":
        """The links to show: first, last and a few pages around the current one (when the total is known)."""
        self.url_for = url_for
        numbers = []
        if self.pages is not None:
            wanted = {1, self.pages} | set(range(max(1, self.page - around), min(self.pages, self.page + around) + 1))
            numbers = sorted(wanted)
        elif self.page > 1 or self.has_next:
            numbers = [self.page]
        self.links = []
        previous = None
        for number in numbers:
            if previous is not None and number > previous + 1:
                self.links.append(PageLink(None))
            self.links.append(PageLink(number, url_for(number), number == self.page))
            previous = number
        return self
