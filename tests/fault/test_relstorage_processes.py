"""Two application processes on one RelStorage database (PostgreSQL): shared writes and a retried conflict."""
from __future__ import annotations

import secrets
import threading
import time

import pytest

from compte_citoyen.testing import relstorage_conf

pytestmark = pytest.mark.postgres


@pytest.fixture
def two_apps(tmp_path, postgres_database, start_app, harness):
    uri = relstorage_conf(tmp_path / "relstorage.conf", postgres_database, tmp_path / "blob-cache")
    settings = harness.app_settings(tmp_path, uri)
    harness.init_database(tmp_path, settings)
    return start_app(settings, "app-a"), start_app(settings, "app-b")


def test_two_processes_on_relstorage_share_writes_and_retry_conflicts(two_apps, harness):
    a, b = two_apps
    record = secrets.token_hex(6)
    status, body = harness.request(a.port, "POST", f"/_test/ecrire?id={record}")
    assert status == 200, body
    status, seen = harness.request(b.port, "GET", f"/_test/lecture/{record}")  # RelStorage polls at each transaction
    assert status == 200 and seen["pid"] == body["pid"]

    slow: dict = {}
    thread = threading.Thread(target=lambda: slow.update(
        zip(("status", "body"), harness.request(a.port, "POST", "/_test/compteur?delay=1.5"))))
    thread.start()
    time.sleep(0.5)
    status, fast = harness.request(b.port, "POST", "/_test/compteur")
    assert status == 200 and fast["value"] == 1, fast
    thread.join(30)
    assert slow["status"] == 200, slow
    assert slow["body"]["attempt"] >= 1 and slow["body"]["value"] == 2


def test_backup_and_restore_with_pg_dump(tmp_path, postgres_database, harness):
    """`backup` writes a pg_dump of the RelStorage database (objects and blobs); `restore` brings it back."""
    import subprocess

    from compte_citoyen import main
    from compte_citoyen.database import get_database
    from compte_citoyen.testing import create_citizen, open_portal, write_ini
    uri = relstorage_conf(tmp_path / "relstorage.conf", postgres_database, tmp_path / "blob-cache")
    settings = harness.app_settings(tmp_path, uri)
    app = main({}, **settings)
    with open_portal(app.registry) as portal:
        create_citizen(portal, code="avant", validated=True)
    get_database(app.registry).close()
    ini = write_ini(tmp_path / "ops.ini", settings)
    tool = str(harness.BIN / "compte-citoyen")
    result = subprocess.run([tool, ini, "backup", "--to", str(tmp_path / "backups")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert list((tmp_path / "backups" / "postgresql").glob("compte_citoyen-*.dump"))
    app = main({}, **settings)
    with open_portal(app.registry) as portal:
        portal["accounts"].remove("avant")
    get_database(app.registry).close()
    result = subprocess.run([tool, ini, "restore", "--from", str(tmp_path / "backups")], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    app = main({}, **settings)
    try:
        with open_portal(app.registry) as portal:
            assert portal["accounts"].get_by_code("avant") is not None
    finally:
        get_database(app.registry).close()
