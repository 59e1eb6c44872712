"""An application process killed with SIGKILL in the middle of writes: the FileStorage reopens with every write
that was acknowledged to a client."""
from __future__ import annotations

import secrets
import threading
import time

import transaction

from compte_citoyen.testing import free_port, write_ini


def test_sigkill_during_writes_keeps_every_committed_write(tmp_path, harness):
    data = tmp_path / "var"
    data.mkdir(exist_ok=True)
    uri = f"file://{data}/Data.fs?blobstorage_dir={data}/blobs"
    settings = harness.app_settings(tmp_path, uri)
    harness.init_database(tmp_path, settings)
    port = free_port()
    ini = write_ini(tmp_path / "app.ini", settings, port=port)
    process = harness.Process([str(harness.BIN / "pserve"), ini], tmp_path / "app.log", port).start()

    acknowledged: list[str] = []
    stop = threading.Event()

    def client():
        while not stop.is_set():
            record = secrets.token_hex(8)
            status, _body = harness.request(port, "POST", f"/_test/ecrire?id={record}", timeout=10)
            if status == 200:
                acknowledged.append(record)

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        deadline = time.monotonic() + 20
        while len(acknowledged) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.kill()  # SIGKILL while the clients are still writing
    finally:
        stop.set()
        for thread in clients:
            thread.join(30)
        process.kill()
    assert len(acknowledged) >= 60, process.tail()

    # the storage opens (FileStorage drops an unfinished transaction at its end) with every acknowledged write
    from ZODB import DB
    from ZODB.FileStorage import FileStorage

    from compte_citoyen.database import ROOT_KEY
    db = DB(FileStorage(str(data / "Data.fs")))
    try:
        tm = transaction.TransactionManager(explicit=True)
        conn = db.open(transaction_manager=tm)
        with tm:
            folder = conn.root()[ROOT_KEY]["fault_test"]
            missing = [record for record in acknowledged if record not in folder.data]
            assert not missing, f"{len(missing)} acknowledged writes lost: {missing[:5]}"
            assert conn.root()[ROOT_KEY].sequences["fault_test"].value >= len(acknowledged)
        conn.close()
    finally:
        db.close()

    # and the application starts again on it
    restarted = harness.Process([str(harness.BIN / "pserve"), ini], tmp_path / "app2.log", port).start()
    try:
        status, state = harness.request(port, "GET", "/_test/etat")
        assert status == 200 and state["records"] >= len(acknowledged)
        status, body = harness.request(port, "POST", "/_test/ecrire?id=after-restart")
        assert status == 200, body
    finally:
        restarted.stop()
