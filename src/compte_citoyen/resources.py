"""The persistent resource tree: the portal root and BTree-backed folders.

Collections that grow with the city live in ``Folder`` objects (an OOBTree plus a length counter);
they never live in lists or dicts on one persistent object.
"""
from __future__ import annotations

from typing import Any, Iterator

from BTrees.Length import Length
from BTrees.OOBTree import OOBTree
from persistent import Persistent


class Folder(Persistent):
    """A container of named persistent items kept in an OOBTree."""

    __parent__ = None
    __name__ = None

    def __init__(self) -> None:
        self.data = OOBTree()
        self._num = Length()

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

    def __init__(self) -> None:
        super().__init__()
        self.evolved = OOBTree()  # evolve step name -> datetime applied
        self.counters = OOBTree()  # name -> BTrees.Length, for readable sequence numbers

    def ensure_folder(self, name: str, factory=Folder) -> Folder:
        """Return the folder ``name``, creating it with ``factory`` when it is missing."""
        folder = self.get(name)
        if folder is None:
            folder = self.add(name, factory())
        return folder

    def next_number(self, counter: str) -> int:
        """A sequence number that is unique under concurrency (conflict-resolving Length)."""
        length = self.counters.get(counter)
        if length is None:
            length = self.counters[counter] = Length()
        length.change(1)
        return length()
