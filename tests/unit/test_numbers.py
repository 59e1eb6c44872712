"""Readable numbers (requests, receipts) are unique under concurrency, across processes too."""
import threading

import transaction
from ZODB import DB
from ZODB.MappingStorage import MappingStorage

from compte_citoyen import resources
from compte_citoyen.database import ROOT_KEY
from compte_citoyen.resources import Portal


def make_db(storage=None):
    db = DB(storage or MappingStorage())
    with db.transaction() as conn:
        conn.root()[ROOT_KEY] = Portal()
    return db


def take(db, counter="requests-2026"):
    tm = transaction.TransactionManager(explicit=True)
    conn = db.open(transaction_manager=tm)
    try:
        with tm:
            return conn.root()[ROOT_KEY].next_number(counter)
    finally:
        conn.close()


def test_consecutive_on_a_single_process_storage():
    db = make_db()
    assert [take(db) for _ in range(3)] == [1, 2, 3]
    assert take(db, "other") == 1


def test_concurrent_threads_never_share_a_number():
    db = make_db()
    numbers, lock = [], threading.Lock()

    def worker():
        for _ in range(25):
            n = take(db)
            with lock:
                numbers.append(n)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(numbers) == list(range(1, 201))


def test_processes_reserve_separate_blocks(monkeypatch):
    """On a shared storage each process reserves a block; another process (here: the same database after its
    in-memory pool is gone, as after a restart) gets the next block, never a number already handed out."""
    monkeypatch.setattr(resources, "SINGLE_PROCESS_STORAGES", set())
    db = make_db()
    first = [take(db) for _ in range(3)]
    db.__dict__.pop("_compte_citoyen_number_pools")
    second = [take(db) for _ in range(3)]
    assert first == [1, 2, 3]
    block = resources.NUMBER_BLOCK
    assert second == [block + 1, block + 2, block + 3]


def test_number_taken_inside_an_aborted_transaction_is_not_reused():
    db = make_db()
    tm = transaction.TransactionManager(explicit=True)
    conn = db.open(transaction_manager=tm)
    tm.begin()
    assert conn.root()[ROOT_KEY].next_number("c") == 1
    tm.abort()
    conn.close()
    assert take(db, "c") == 2
