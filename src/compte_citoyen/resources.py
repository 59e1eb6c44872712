"""The persistent resource tree: the portal root and BTree-backed folders.

Collections that grow with the city live in ``Folder`` objects (an OOBTree plus a length counter);
they never live in lists or dicts on one persistent object.
"""
from __future__ import annotations

import threading
from typing import Any, Iterator

from BTrees.OOBTree import OOBTree
from persistent import Persistent

from .indexes import (COUNTER_ATTRIBUTES, share_counters, ShardedCounts, SharedCounter, ShardedLength,
                      WideOOBTree)


class Folder(Persistent):
    """A container of named persistent items kept in an OOBTree."""

    __parent__ = None
    __name__ = None

    def __init__(self) -> None:
        self.data = WideOOBTree()  # large leaves: concurrent additions seldom split the leaf they share
        self._num = ShardedLength()  # each process counts in its own Length (``indexes.ShardedLength``)

    def __getitem__(self, name: str) -> Any:
        return self.data[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def __len__(self) -> int:
        return self._num()

    def __iter__(self) -> Iterator[str]:
        return iter(self.data.keys())

    def keys(self, min=None, max=None):  # noqa: A002 - BTree vocabulary
        return self.data.keys(min, max)

    def values(self, min=None, max=None):  # noqa: A002
        return self.data.values(min, max)

    def items(self, min=None, max=None):  # noqa: A002
        return self.data.items(min, max)

    def add(self, name: str, obj: Any) -> Any:
        if name in self.data:
            raise KeyError(f"{name!r} already exists")
        self.data[name] = obj
        self._num.change(1)
        try:
            obj.__parent__ = self
            obj.__name__ = name
        except AttributeError:
            pass
        return obj

    def remove(self, name: str) -> Any:
        obj = self.data.pop(name)
        self._num.change(-1)
        return obj


class Portal(Folder):
    """The application root stored under ``ROOT_KEY`` in the ZODB root mapping.

    Domain packages create their own folders in it through evolve steps (see ``compte_citoyen.evolution``),
    so an upgrade creates a new folder in an existing database too.
    """

    @property
    def __acl__(self):
        from .security import ROOT_ACL
        return ROOT_ACL

    #: every counter of the folders (item counts, counts by scope or state): one ``CountBank`` per process
    #: (``indexes.share_counters``); created by ``__init__`` or the evolve step core:0084-shared-counters
    counts = None

    def __init__(self) -> None:
        super().__init__()
        self.evolved = OOBTree()  # evolve step name -> datetime applied
        self.counters = OOBTree()  # legacy (BTrees.Length); see create_sequences
        self.sequences = OOBTree()  # name -> Sequence
        self.counts = ShardedCounts()
        share_counters(self, self.counts, "")

    def add(self, name: str, obj: Any) -> Any:
        """Add a folder (or any item); a folder keeps its counters in ``counts``."""
        super().add(name, obj)
        if self.counts is not None and isinstance(obj, Folder):
            share_counters(obj, self.counts, name)
        return obj

    def ensure_folder(self, name: str, factory=Folder) -> Folder:
        """Return the folder ``name``, creating it with ``factory`` when it is missing."""
        folder = self.get(name)
        if folder is None:
            folder = self.add(name, factory())
        return folder

    sequences = None  # OOBTree: name -> Sequence (created by __init__ or the evolve step core:0005)

    def next_number(self, counter: str) -> int:
        """A number unique under concurrency for readable identifiers (``2026-000123``).

        Numbers are reserved in their own short transaction, so concurrent requests never draw the same one
        (``BTrees.Length`` would: its conflict resolution merges two increments and both see the same value)
        and the request's own transaction never conflicts on the counter. Storages shared by several processes
        (ZEO, RelStorage) reserve blocks of ``NUMBER_BLOCK`` per process; single-process storages take one at a
        time, so numbers stay consecutive. A number taken by a request that fails is not reused (a gap).
        A bulk writer alone on its database (``generate-data``) sets a larger block with ``set_number_block``.
        """
        jar = self._p_jar
        if jar is None:  # a portal not yet committed (database creation): count inside this transaction
            return _take(self, counter, 1)
        db = jar.db()
        with _pool_lock:
            pools = db.__dict__.setdefault("_compte_citoyen_number_pools", {})
            pool = pools.get(counter)
            if pool is None or pool[0] >= pool[1]:
                size = db.__dict__.get("_compte_citoyen_number_block") or (
                    1 if _single_process(db.storage) else NUMBER_BLOCK)
                first = _reserve(db, counter, size)
                pool = pools[counter] = [first, first + size]
                if size > 1:  # the blocks this process writes alone (``indexes.NumberTree``)
                    blocks = db.__dict__.setdefault("_compte_citoyen_number_blocks", {}).setdefault(counter, [])
                    blocks.append((first, first + size))
                    del blocks[:-KEPT_BLOCKS]
            number = pool[0]
            pool[0] += 1
        return number


#: numbers a process reserves at a time: twice a leaf of ``WideOOBTree`` (250 keys), so that concurrent
#: processes soon append their requests to different leaves of the trees keyed by number (with blocks of 20,
#: every request of the city wrote the same last leaf of each). A process that stops leaves the rest of its
#: block unused: gaps in the numbers (never duplicates), at most 500 per worker restart (etc/gunicorn.conf.py
#: recycles a worker every 100,000 requests).
NUMBER_BLOCK = 500
SINGLE_PROCESS_STORAGES = {"FileStorage", "MappingStorage", "DemoStorage"}
_pool_lock = threading.Lock()


#: blocks of numbers a process remembers for ``reserved_block`` (a request is filed moments after its number
#: is drawn, so the last one is nearly always the one asked about)
KEPT_BLOCKS = 4


def reserved_block(db, counter: str, number: int) -> int | None:
    """The first number of the block of ``counter`` that this process reserved and that holds ``number``; None
    when it reserved none (numbers taken one at a time, or by another process)."""
    with _pool_lock:
        for first, end in reversed(db.__dict__.get("_compte_citoyen_number_blocks", {}).get(counter, ())):
            if first <= number < end:
                return first
    return None


def set_number_block(db, size: int | None) -> None:
    """Reserve readable numbers ``size`` at a time in this process (``None``: back to the storage's default)."""
    if size:
        db.__dict__["_compte_citoyen_number_block"] = size
    else:
        db.__dict__.pop("_compte_citoyen_number_block", None)


def _single_process(storage) -> bool:
    """FileStorage (also behind the BlobStorage proxy) and in-memory storages serve one process only."""
    inner = getattr(storage, "_BlobStorage__storage", storage)  # ZODB.blob.BlobStorage wraps local storages
    return type(inner).__name__ in SINGLE_PROCESS_STORAGES


class Sequence(Persistent):
    """A plain counter: two transactions that change it conflict, and one of them is retried."""

    value = 0


def _take(portal: Portal, counter: str, size: int) -> int:
    if portal.sequences is None:
        portal.sequences = OOBTree()
    sequence = portal.sequences.get(counter)
    if sequence is None:
        sequence = portal.sequences[counter] = Sequence()
    first = sequence.value + 1
    sequence.value += size
    return first


def _reserve(db, counter: str, size: int, attempts: int = 20) -> int:
    import transaction
    from ZODB.POSException import ConflictError

    from .database import ROOT_KEY
    for attempt in range(attempts):
        tm = transaction.TransactionManager(explicit=True)
        conn = db.open(transaction_manager=tm)
        try:
            with tm:
                first = _take(conn.root()[ROOT_KEY], counter, size)
            return first
        except ConflictError:
            if attempt == attempts - 1:
                raise
        finally:
            conn.close()
    raise RuntimeError("unreachable")


def use_wide_trees(portal: Portal, registry) -> None:
    """Give the folders of an older database large-leaf trees (fewer leaf splits, so fewer write conflicts).

    Every folder of the portal gets a ``WideOOBTree`` for its items, keeping every item; a folder with other
    hot trees converts them in its own ``use_wide_trees(batch)``. Memory stays flat (``Batch``).
    """
    from .indexes import Batch, widen
    batch = Batch(portal, size=20)  # ticked once per chunk of copied items
    for folder in list(portal.data.values()):
        if not isinstance(folder, Folder):
            continue
        folder.data = widen(folder.data, batch)
        convert = getattr(folder, "use_wide_trees", None)
        if convert is not None:
            convert(batch)


def use_writer_shards(portal: Portal, registry) -> None:
    """Give an older database the structures each process writes in its own part (evolve step
    ``core:0081-writer-shards``, see ``indexes.writer_shard``): the item count of each folder of the portal and
    the folders' counters by scope or state become ``ShardedLength``, and a folder with time-ordered sets that
    every request writes to converts them (its ``use_writer_shards``: ``ShardedSet``, large leaves). The older counters and sets
    are kept inside them as they are: nothing is copied or recounted, so the step is quick at any size."""
    from .indexes import shard_counters, sharded_length
    for folder in [portal] + list(portal.data.values()):
        if not isinstance(folder, Folder):
            continue
        counter = getattr(folder, "_num", None)
        if counter is not None and not isinstance(counter, (ShardedLength, SharedCounter)):
            folder._num = sharded_length(counter)
        for name in COUNTER_ATTRIBUTES:
            counts = getattr(folder, name, None)
            if counts is not None:
                shard_counters(counts)
        convert = getattr(folder, "use_writer_shards", None)
        if convert is not None:
            convert()


def use_shared_counts(portal: Portal, registry) -> None:
    """Keep every counter of the portal's folders in one ``CountBank`` per process (evolve step
    ``core:0084-shared-counters``, see ``indexes.SharedCounter``): the counters of before stay inside the new
    ones as they are, so nothing is recounted and the step is quick at any size."""
    if portal.counts is None:
        portal.counts = ShardedCounts()
    share_counters(portal, portal.counts, "")
    for name, folder in list(portal.data.items()):
        if isinstance(folder, Folder):
            share_counters(folder, portal.counts, name)


def use_parted_trees(portal: Portal, registry) -> None:
    """Give an older database the trees whose parts each process writes alone (evolve step
    ``core:0083-parted-trees``, see ``indexes.PartedTree``): each folder of the portal with a
    ``use_parted_trees`` keeps its trees inside them as they are, so the step is quick at any size."""
    for folder in list(portal.data.values()):
        convert = getattr(folder, "use_parted_trees", None) if isinstance(folder, Folder) else None
        if convert is not None:
            convert()


def create_sequences(portal: Portal, registry) -> None:
    """Move readable-number counters from BTrees.Length (which can hand out a number twice) to sequences."""
    if portal.sequences is None:
        portal.sequences = OOBTree()
    for name, length in list(portal.counters.items()):
        sequence = portal.sequences.get(name)
        if sequence is None:
            sequence = portal.sequences[name] = Sequence()
        sequence.value = max(sequence.value, length())
