"""Trees keyed by request number or message id give each process parts of its own: concurrent processes adding
keys never write the same object (no conflict to merge or replay), and readers see one sorted mapping."""
from unittest import mock

import pytest
import transaction
from ZODB import DB
from ZODB.FileStorage import FileStorage
from ZODB.MappingStorage import MappingStorage
from ZODB.POSException import ConflictError

from compte_citoyen import resources
from compte_citoyen.indexes import IdTree, NumberTree, WideOOBTree, ordered_id, parted


def number(n: int, year: int = 2026) -> str:
    return f"{year}-{n:06d}"


class Blocks:
    """``resources.reserved_block`` of a process that reserved ``blocks`` ((first, end) pairs)."""

    def __init__(self, *blocks):
        self.blocks = list(blocks)

    def __call__(self, db, counter, n):
        return next((first for first, end in self.blocks if first <= n < end), None)


def test_number_tree_reads_like_one_sorted_mapping():
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            old = WideOOBTree({number(i): i for i in range(1, 101)})
            conn.root()["tree"] = tree = parted(old, NumberTree)
            assert parted(tree, NumberTree) is tree and tree.base is old
        with db.transaction() as conn:
            tree = conn.root()["tree"]
            with mock.patch.object(resources, "reserved_block", Blocks((101, 601))):
                for i in range(101, 131):
                    tree[number(i)] = i
            with mock.patch.object(resources, "reserved_block", Blocks((601, 1101))):
                for i in range(601, 631):
                    tree[number(i)] = i
            with mock.patch.object(resources, "reserved_block", Blocks()):  # a number drawn alone
                tree[number(5000)] = 5000
            tree["account:jdupont"] = "not a number"
        with db.transaction() as conn:
            tree = conn.root()["tree"]
            assert list(tree.parts.keys()) == [number(101), number(601)]
            assert len(tree.parts[number(101)]) == 30 and len(tree.base) == 102
            expected = list(range(1, 131)) + list(range(601, 631)) + [5000]
            assert list(tree.keys())[:-1] == [number(i) for i in expected]
            assert list(tree) == list(tree.keys()) and list(tree)[-1] == "account:jdupont"
            assert [v for v in tree.values()][:-1] == expected
            assert list(tree.keys(number(95), number(605))) == [number(i) for i in list(range(95, 131)) +
                                                                list(range(601, 606))]
            assert list(tree.keys(number(120), number(125), excludemin=True, excludemax=True)) == [
                number(i) for i in range(121, 125)]
            assert dict(tree.items(number(629), number(5000))) == {number(629): 629, number(630): 630,
                                                                  number(5000): 5000}
            assert tree[number(7)] == 7 and tree[number(610)] == 610 and tree.get(number(131)) is None
            assert number(630) in tree and number(631) not in tree and "account:jdupont" in tree
            with pytest.raises(KeyError):
                tree[number(700)]
            assert len(tree) == 162 and tree
            # changing and removing a key, wherever it is
            tree[number(7)] = -7
            tree[number(610)] = -610
            assert tree.pop(number(8)) == 8 and tree.pop(number(611)) == 611 and tree.pop("nope", None) is None
            del tree[number(5000)]
            with pytest.raises(KeyError):
                tree.pop(number(5000))
            assert tree.insert(number(9), 0) == 0 and tree[number(9)] == 9
            assert (tree[number(7)], tree[number(610)], len(tree)) == (-7, -610, 159)
            assert len(tree.base) == 100 and len(tree.parts[number(601)]) == 29
            assert not NumberTree()
    finally:
        db.close()


def add_in_turns(db, tree_name: str, keys_a: list, keys_b: list, patch_a, patch_b) -> int:
    """Two processes (connections) each add one key per transaction, both transactions open at once, then
    committed in turn; returns how many commits conflicted for good."""
    conflicts = 0
    for key_a, key_b in zip(keys_a, keys_b):
        tm_a, tm_b = transaction.TransactionManager(), transaction.TransactionManager()
        conn_a, conn_b = db.open(transaction_manager=tm_a), db.open(transaction_manager=tm_b)
        try:
            with patch_a:
                conn_a.root()[tree_name][key_a] = 1
            with patch_b:
                conn_b.root()[tree_name][key_b] = 1
            for tm in (tm_a, tm_b):
                try:
                    tm.commit()
                except ConflictError:
                    tm.abort()
                    conflicts += 1
        finally:
            conn_a.close()
            conn_b.close()
    return conflicts


def test_concurrent_processes_add_numbers_without_conflicts(tmp_path):
    """Two processes filing requests at the same moment, each from its own block of numbers: with one tree, the
    leaf they shared split and one of them was replayed; with a ``NumberTree`` neither ever conflicts."""
    db = DB(FileStorage(str(tmp_path / "Data.fs")))
    try:
        with db.transaction() as conn:
            conn.root()["plain"] = WideOOBTree({number(i): 0 for i in range(1, 201)})
            conn.root()["parted"] = NumberTree(base=WideOOBTree({number(i): 0 for i in range(1, 201)}))
        keys_a = [number(i) for i in range(201, 701)]
        keys_b = [number(i) for i in range(701, 1201)]
        a = mock.patch.object(resources, "reserved_block", Blocks((201, 701)))
        b = mock.patch.object(resources, "reserved_block", Blocks((701, 1201)))
        assert add_in_turns(db, "plain", keys_a, keys_b, a, b) > 0
        assert add_in_turns(db, "parted", keys_a, keys_b, a, b) == 0
        with db.transaction() as conn:
            tree = conn.root()["parted"]
            assert list(tree.keys()) == [number(i) for i in range(1, 1201)]
            assert len(tree.parts[number(201)]) == 500 and len(tree.parts[number(701)]) == 500
    finally:
        db.close()


def test_message_ids_go_to_the_part_of_their_process(tmp_path):
    db = DB(FileStorage(str(tmp_path / "Data.fs")))
    try:
        with db.transaction() as conn:
            conn.root()["outbox"] = IdTree(base=WideOOBTree({f"{i:025x}": i for i in range(50)}))
        with mock.patch("compte_citoyen.indexes.writer_shard", return_value=3):
            keys_a = [ordered_id(5) for _ in range(300)]
        with mock.patch("compte_citoyen.indexes.writer_shard", return_value=4):
            keys_b = [ordered_id(5) for _ in range(300)]
        a = mock.patch("compte_citoyen.indexes.writer_shard", return_value=3)
        b = mock.patch("compte_citoyen.indexes.writer_shard", return_value=4)
        assert add_in_turns(db, "outbox", keys_a, keys_b, a, b) == 0
        with db.transaction() as conn:
            tree = conn.root()["outbox"]
            assert list(tree.parts.keys()) == ["03", "04"] and len(tree.base) == 50
            assert list(tree.keys()) == sorted([f"{i:025x}" for i in range(50)] + keys_a + keys_b)
            assert tree[keys_b[7]] == 1 and tree[f"{7:025x}"] == 7
            with mock.patch("compte_citoyen.indexes.writer_shard", return_value=5):
                tree[keys_a[0]] = 2  # changed by another process: where it is
            assert tree.parts["03"][keys_a[0]] == 2 and "05" not in tree.parts
    finally:
        db.close()


def test_blocks_remembered_by_the_process_that_reserved_them():
    db = DB(MappingStorage())
    try:
        with db.transaction() as conn:
            from compte_citoyen.database import ROOT_KEY
            conn.root()[ROOT_KEY] = resources.Portal()
        with db.transaction() as conn:
            portal = conn.root()[ROOT_KEY]
            resources.set_number_block(db, 500)
            first = [portal.next_number("requests-2026") for _ in range(3)]
            assert first == [1, 2, 3] and resources.reserved_block(db, "requests-2026", 400) == 1
            assert resources.reserved_block(db, "requests-2026", 501) is None
            assert resources.reserved_block(db, "requests-2027", 1) is None
            portal.next_number("requests-2026")
            for _ in range(500):
                portal.next_number("requests-2026")  # the next block
            assert resources.reserved_block(db, "requests-2026", 501) == 501
            resources.set_number_block(db, None)
    finally:
        db.close()
