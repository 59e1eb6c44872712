"""Several application processes on one ZEO server: shared writes, retried conflicts, a server restart."""
from __future__ import annotations

import secrets
import threading
import time

import pytest

request = None  # the harness's HTTP helper, set by the autouse fixture below

pytestmark = pytest.mark.zeo


@pytest.fixture(autouse=True)
def _harness(harness):
    global request
    request = harness.request


@pytest.fixture
def two_apps(tmp_path, zeo_server, start_app, harness):
    settings = harness.app_settings(tmp_path, zeo_server.uri)
    harness.init_database(tmp_path, settings)
    return start_app(settings, "app-a"), start_app(settings, "app-b")


def read_eventually(port: int, path: str, timeout: float = 5.0):
    """Another process sees a commit once the ZEO invalidation reached it (milliseconds)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = request(port, "GET", path)
        if status == 200 or time.monotonic() > deadline:
            return status, body
        time.sleep(0.05)


def test_two_processes_see_each_others_writes(two_apps):
    a, b = two_apps
    for _ in range(10):
        for writer, reader in ((a, b), (b, a)):
            record = secrets.token_hex(6)
            browser: dict = {}
            status, body = request(writer.port, "POST", f"/_test/ecrire?id={record}", cookies=browser)
            assert status == 200, body
            assert "cc_seen" in browser  # the transaction the change committed
            # at once: a browser redirected to another worker sees its own write (the worker asks the ZEO server
            # for what it has not received yet, database.catch_up); anybody else sees it within milliseconds
            status, seen = request(reader.port, "GET", f"/_test/lecture/{record}", cookies=browser)
            assert status == 200, seen
            assert seen["pid"] == body["pid"] != request(reader.port, "GET", "/_test/etat")[1]["pid"]
            assert read_eventually(reader.port, f"/_test/lecture/{record}")[0] == 200


def test_conflicting_write_is_retried_not_shown_as_error(two_apps):
    a, b = two_apps
    slow: dict = {}
    # A reads the counter, then waits 1.5 s before writing it; meanwhile B increments and commits.
    thread = threading.Thread(target=lambda: slow.update(
        zip(("status", "body"), request(a.port, "POST", "/_test/compteur?delay=1.5"))))
    thread.start()
    time.sleep(0.5)
    status, fast = request(b.port, "POST", "/_test/compteur")
    assert status == 200, fast
    assert fast["value"] == 1 and fast["attempt"] == 0
    thread.join(30)
    assert slow["status"] == 200, slow
    # A's first attempt conflicted with B's commit; pyramid_retry ran the request again on fresh data
    assert slow["body"]["attempt"] >= 1
    assert slow["body"]["value"] == 2
    status, state = read_eventually(b.port, "/_test/etat")
    assert state["counter"] == 2


def hammer(ports: list[int], stop: threading.Event, results: list, max_requests: int = 2000) -> None:
    """Write unique records round-robin over ``ports`` until ``stop``; record (id, status, body)."""
    for i in range(max_requests):
        if stop.is_set():
            return
        record = secrets.token_hex(8)
        status, body = request(ports[i % len(ports)], "POST", f"/_test/ecrire?id={record}")
        results.append((record, status, body))


def run_load(ports: list[int], clients: int, seconds: float, during=None):
    stop = threading.Event()
    results: list = []
    threads = [threading.Thread(target=hammer, args=(ports, stop, results)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    if during is not None:
        during()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(120)
    return results


def test_concurrent_writes_from_two_processes_all_succeed(two_apps):
    a, b = two_apps
    results = run_load([a.port, b.port], clients=6, seconds=3)
    errors = [r for r in results if r[1] != 200]
    assert not errors, errors[:5]
    assert len(results) > 30
    status, state = read_eventually(a.port, "/_test/etat")
    assert state["records"] == len(results)


def test_zeo_restart_under_load_loses_no_committed_write(tmp_path, two_apps, zeo_server):
    a, b = two_apps

    def restart_zeo():
        time.sleep(1.0)
        zeo_server.kill()  # SIGKILL: the harshest way a ZEO server goes away
        time.sleep(1.0)
        zeo_server.start()

    results = run_load([a.port, b.port], clients=4, seconds=3, during=restart_zeo)
    committed = [r for r in results if r[1] == 200]
    failed = [r for r in results if r[1] != 200]
    assert len(committed) > 20, (len(results), failed[:3])
    # the processes recovered by themselves: new writes through both succeed
    for app in (a, b):
        status, body = request(app.port, "POST", f"/_test/ecrire?id=after-{app.port}")
        assert status == 200, (body, app.tail())
    # every write acknowledged to a client is in the database, seen from both processes
    for app in (a, b):
        for record, _status, _body in committed:
            status, body = read_eventually(app.port, f"/_test/lecture/{record}", timeout=2)
            assert status == 200, (record, body)
    # a request that was running when the server died was retried (ClientDisconnected is transient) or waited
    # for the reconnection; report what the clients saw
    print(f"{len(committed)} committed, {len(failed)} failed during the restart: "
          f"{sorted({str(r[1]) for r in failed})}")
    assert len(failed) <= 4 * 2, failed[:5]


def test_a_transaction_reaches_the_server_in_one_go(zeo_server, tmp_path):
    """The workers' storage (``<batchingclientstorage>``, etc/zeo-client.conf) hands a transaction's records to
    ZEO's I/O thread in one call at the vote, not one call each, read checks and ``tpc_begin`` included, in the
    same wake-up of that thread as the vote; blobs, conflicts, an abort and another process reading everything
    back work as with ZEO's own client."""
    import transaction
    import ZODB.config
    from persistent.mapping import PersistentMapping
    from ZODB.blob import Blob
    from ZODB.POSException import ConflictError

    from compte_citoyen.zeo import BatchingClientStorage

    def open_db():
        return ZODB.config.databaseFromURL(zeo_server.uri[len("zconfig://"):])

    db = open_db()
    try:
        storage = db.storage
        assert isinstance(storage, BatchingClientStorage)
        calls = {"one": [], "many": []}
        one = storage._async
        storage._async = lambda method, *args: (calls["one"].append(method), one(method, *args))[1]
        client = storage._server.client  # ZEO's ClientIO, in the I/O thread: every batch of records goes through it
        in_thread = client.call_async_iter

        def call_async_iter(it):
            items = list(it)
            calls["many"].append([method for method, _args in items])
            return in_thread(iter(items))

        client.call_async_iter = call_async_iter
        # a plain commit: the I/O thread is woken twice (records and vote together, then tpc_finish)
        with db.transaction() as conn:
            conn.root()._p_activate()  # loaded before counting (a load is a wake-up too)
        storage._oids.append(storage.new_oid())  # so are the new object ids, fetched a hundred at a time
        loop = storage._server.loop
        wakeups = []
        wake = loop.call_soon_threadsafe
        loop.call_soon_threadsafe = lambda *args, **kw: (wakeups.append(getattr(args[0], "__self__", args[0])), wake(*args, **kw))[1]
        try:
            with db.transaction() as conn:
                conn.root()["plain"] = PersistentMapping({"a": PersistentMapping(), "b": PersistentMapping()})
        finally:
            loop.call_soon_threadsafe = wake
        assert len(wakeups) == 2, wakeups
        assert calls["many"] == [["tpc_begin"] + ["storea"] * 4] and calls["one"] == []  # the root, plain, a, b
        calls["many"].clear()
        with db.transaction() as conn:
            conn.root()["items"] = PersistentMapping({f"item-{i}": PersistentMapping({"n": i}) for i in range(40)})
            conn.root()["file"] = blob = Blob()
            with blob.open("w") as handle:
                handle.write(b"justificatif de domicile")
        # alone: only the blob's record, sent with the blob (after the records kept before it)
        assert calls["one"].count("storea") == 1 and calls["one"].index("storea") < calls["one"].index(
            "storeBlobShared")
        stores = [method for batch in calls["many"] for method in batch]
        assert stores.count("storea") >= 41 and len(calls["many"]) <= 2 and stores[0] == "tpc_begin"
        # a conflict between two transactions of this process is still detected (and resolved where it can be)
        tm_a, tm_b = transaction.TransactionManager(), transaction.TransactionManager()
        conn_a, conn_b = db.open(transaction_manager=tm_a), db.open(transaction_manager=tm_b)
        conn_a.root()["items"]["item-1"]["n"] = "a"
        conn_b.root()["items"]["item-1"]["n"] = "b"
        tm_a.commit()
        with pytest.raises(ConflictError):
            tm_b.commit()
        tm_b.abort()
        # a read check (BTrees ask one for the parent of a bucket they change) goes with the records at the vote,
        # and still fails the transaction when another one changed the object read
        calls["one"].clear()
        calls["many"].clear()
        conn_a.root()["items"]["item-2"]["n"] = "read by a"
        tm_a.commit()
        checked = conn_a.root()["items"]["item-2"]
        conn_a.readCurrent(checked)
        conn_a.root()["items"]["item-3"]["n"] = "a, after reading item-2"
        conn_b.sync()
        conn_b.root()["items"]["item-2"]["n"] = "b"
        tm_b.commit()
        with pytest.raises(ConflictError):
            tm_a.commit()
        tm_a.abort()
        assert "checkCurrentSerialInTransaction" not in calls["one"]
        assert ["tpc_begin", "storea", "checkCurrentSerialInTransaction"] in calls["many"]
        # a transaction aborted before its vote: nothing of it was sent, and the storage goes on
        calls["many"].clear()
        conn_a.root()["items"]["item-5"]["n"] = "aborted"
        tm_a.get().join(conn_a)
        conn_a.tpc_begin(tm_a.get())
        conn_a.commit(tm_a.get())
        conn_a.tpc_abort(tm_a.get())
        tm_a.abort()
        assert calls["many"] == []
        # the records wait for tpc_finish (which puts them in the client cache) in memory, not in a temporary file
        import tempfile
        from unittest import mock
        with mock.patch.object(tempfile, "TemporaryFile", side_effect=AssertionError("a temporary file")):
            conn_a.root()["items"]["item-4"]["n"] = "kept in memory"
            tm_a.commit()
        cached = storage._cache.load(conn_a.root()["items"]["item-4"]._p_oid)  # ZEO's client cache: (data, tid)
        assert cached is not None and b"kept in memory" in cached[0]
        conn_a.close()
        conn_b.close()
    finally:
        db.close()
    other = open_db()  # another process's view: everything arrived
    try:
        with other.transaction() as conn:
            items = conn.root()["items"]
            assert len(items) == 40 and items["item-39"]["n"] == 39 and items["item-1"]["n"] == "a"
            assert items["item-2"]["n"] == "b" and items["item-3"]["n"] == 3
            assert items["item-4"]["n"] == "kept in memory" and items["item-5"]["n"] == 5
            assert set(conn.root()["plain"]) == {"a", "b"}
            with conn.root()["file"].open() as handle:
                assert handle.read() == b"justificatif de domicile"
    finally:
        other.close()
