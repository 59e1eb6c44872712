"""Operations: production.ini refuses to start without its secret; backup, restore and pack on a real FileStorage."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import transaction
from pyramid.exceptions import ConfigurationError

from compte_citoyen.procedures.models import queue_entry
from compte_citoyen.testing import create_citizen, installed_plugins, open_portal, write_ini

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_INI = ROOT / "production.ini"
SECRET = "a-production-secret-of-more-than-32-characters-0123"


def production_settings(tmp_path) -> dict:
    """production.ini's own settings, with its storage pointed at a temporary FileStorage."""
    from pyramid.paster import get_appsettings
    settings = dict(get_appsettings(str(PRODUCTION_INI)))
    settings["zodbconn.uri"] = f"file://{tmp_path}/Data.fs?blobstorage_dir={tmp_path}/blobs"
    return settings


def test_production_ini_lists_installed_plugins_and_safe_settings(tmp_path):
    settings = production_settings(tmp_path)
    assert settings["compte_citoyen.secret"] == "env:COMPTE_CITOYEN_SECRET"
    assert settings["compte_citoyen.production"] == "true"
    assert settings["compte_citoyen.secure_cookies"] == "true"
    assert settings["compte_citoyen.notifications.background_worker"] == "false"
    from compte_citoyen.operations.storage import ZEO, storage_info
    from pyramid.paster import get_appsettings
    info = storage_info(dict(get_appsettings(str(PRODUCTION_INI))))
    assert info.kind == ZEO
    assert info.data_fs == "/var/lib/compte-citoyen/Data.fs"
    assert info.blob_dir == "/var/lib/compte-citoyen/blobs"
    # every worker's ZEO client: shared blobs, in sync with the server at each transaction
    from zodburi import resolve_uri
    factory, dbkw = resolve_uri(info.uri)
    client = factory.__self__.config
    assert client.shared_blob_dir and client.blob_dir == "/var/lib/compte-citoyen/blobs"
    # the workers' storage: records sent in one go; no round trip at every transaction (database.catch_up)
    from compte_citoyen.zeo import BatchingClientStorageConfig
    assert isinstance(factory.__self__, BatchingClientStorageConfig) and not client.server_sync
    assert dbkw["pool_size"] == 4 and dbkw["cache_size"] == 20000


def test_production_refuses_to_start_without_secret(tmp_path, monkeypatch):
    from compte_citoyen import main
    monkeypatch.delenv("COMPTE_CITOYEN_SECRET", raising=False)
    settings = production_settings(tmp_path)
    settings["compte_citoyen.plugins"] = "\n".join(installed_plugins(settings["compte_citoyen.plugins"].split()))
    with pytest.raises(ConfigurationError, match="COMPTE_CITOYEN_SECRET"):
        main({}, **settings)
    monkeypatch.setenv("COMPTE_CITOYEN_SECRET", "changeme")
    with pytest.raises(ConfigurationError, match="secret"):
        main({}, **production_settings(tmp_path))


def test_production_starts_with_secret_from_environment(tmp_path, monkeypatch):
    import webtest

    from compte_citoyen import main
    from compte_citoyen.database import get_database
    monkeypatch.setenv("COMPTE_CITOYEN_SECRET", SECRET)
    monkeypatch.setenv("COMPTE_CITOYEN_SMTP_HOST", "smtp.clairval.example")
    for name in ("COMPTE_CITOYEN_PAYFIP_VILLE", "COMPTE_CITOYEN_PAYFIP_CCAS"):
        monkeypatch.setenv(name, "123456")
    monkeypatch.setenv("COMPTE_CITOYEN_SMS_URL", "https://sms.clairval.example/send")
    monkeypatch.setenv("COMPTE_CITOYEN_SMS_USER", "clairval")
    monkeypatch.setenv("COMPTE_CITOYEN_SMS_PASSWORD", "sms-password")
    settings = production_settings(tmp_path)
    listed = settings["compte_citoyen.plugins"].split()
    missing = set(listed) - set(installed_plugins(listed))
    if missing:
        pytest.xfail(f"plugins listed in production.ini are not installed yet: {sorted(missing)}")
    app = main({}, **settings)
    try:
        assert app.registry.settings["compte_citoyen.secret"] == SECRET
        assert app.registry.settings["mail.host"] == "smtp.clairval.example"
        client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "moncompte.clairval.example",
                                                     "wsgi.url_scheme": "https"})
        health = client.get("/sante")
        assert health.json["status"] == "ok"
        assert health.headers["Strict-Transport-Security"].startswith("max-age=")
        page = client.get("/")
        assert "secure" in page.headers.get("Set-Cookie", "secure").lower()
    finally:
        get_database(app.registry).close()


# --- backup, restore, pack ----------------------------------------------------------------------------------------

def cli(ini: str, *args: str) -> subprocess.CompletedProcess:
    tool = Path(sys.executable).parent / "compte-citoyen"
    return subprocess.run([str(tool), ini, *args], capture_output=True, text=True, timeout=300)


def put_document(portal, name: str, content: bytes) -> None:
    """A blob stored in the database (as supporting documents are)."""
    from ZODB.blob import Blob

    from compte_citoyen.resources import Folder
    folder = portal.ensure_folder("ops-test", Folder)
    blob = Blob()
    with blob.open("w") as handle:
        handle.write(content)
    if name in folder:
        folder.remove(name)
    folder.add(name, blob)


def read_document(portal, name: str) -> bytes:
    with portal["ops-test"][name].open("r") as handle:
        return handle.read()


@pytest.fixture
def ini_file(settings, tmp_path, app):
    """The test app's settings as an ini file for the command-line tool (the app created the database)."""
    from compte_citoyen.database import get_database
    with open_portal(app.registry) as portal:
        create_citizen(portal, code="original", validated=True, family_name="Martin")
        put_document(portal, "justificatif", b"%PDF-1.4 original document")
    get_database(app.registry).close()
    return write_ini(tmp_path / "ops.ini", settings)


def reopen(settings):
    """A fresh app on the same database (after a command changed its files)."""
    from compte_citoyen import main
    return main({}, **settings)


def test_backup_restore_brings_back_data_and_blobs(settings, ini_file, tmp_path):
    from compte_citoyen.database import get_database
    backups = tmp_path / "backups"
    result = cli(ini_file, "backup", "--to", str(backups))
    assert result.returncode == 0, result.stderr
    assert "repozo backup" in result.stdout
    assert list((backups / "filestorage").glob("*.fsz"))
    assert any(p.is_file() and p.suffix == ".blob" for p in (backups / "blobs").rglob("*"))

    # the database changes after the backup: an account removed, a new one, the document replaced
    app = reopen(settings)
    with open_portal(app.registry) as portal:
        portal["accounts"].remove("original")
        create_citizen(portal, code="later", family_name="Durand")
        put_document(portal, "justificatif", b"changed afterwards")
    with open_portal(app.registry) as portal:
        assert read_document(portal, "justificatif") == b"changed afterwards"
    get_database(app.registry).close()

    # a second (incremental) backup works too and does not disturb the first point in time
    result = cli(ini_file, "backup", "--to", str(tmp_path / "second"))
    assert result.returncode == 0, result.stderr

    result = cli(ini_file, "restore", "--from", str(backups))
    assert result.returncode == 0, result.stderr
    assert "database restored" in result.stdout

    app = reopen(settings)
    try:
        with open_portal(app.registry) as portal:
            assert portal["accounts"].get_by_code("original") is not None
            assert portal["accounts"].get_by_code("later") is None
            assert read_document(portal, "justificatif") == b"%PDF-1.4 original document"
    finally:
        get_database(app.registry).close()


def test_incremental_backup_then_point_in_time_restore(settings, ini_file, tmp_path):
    import time

    from compte_citoyen.database import get_database
    backups = tmp_path / "backups"
    assert cli(ini_file, "backup", "--to", str(backups)).returncode == 0
    time.sleep(1.1)  # repozo names files by the second
    app = reopen(settings)
    with open_portal(app.registry) as portal:
        create_citizen(portal, code="second", family_name="Bernard")
        put_document(portal, "autre", b"second document")
    get_database(app.registry).close()
    result = cli(ini_file, "backup", "--to", str(backups))
    assert result.returncode == 0, result.stderr
    assert list((backups / "filestorage").glob("*.deltafsz")), "the second backup must be incremental"
    result = cli(ini_file, "restore", "--from", str(backups))
    assert result.returncode == 0, result.stderr
    app = reopen(settings)
    try:
        with open_portal(app.registry) as portal:
            assert portal["accounts"].get_by_code("second") is not None
            assert read_document(portal, "autre") == b"second document"
            assert read_document(portal, "justificatif") == b"%PDF-1.4 original document"
    finally:
        get_database(app.registry).close()


def test_restore_refuses_while_database_is_open_elsewhere(settings, ini_file, tmp_path):
    from compte_citoyen.database import get_database
    backups = tmp_path / "backups"
    assert cli(ini_file, "backup", "--to", str(backups)).returncode == 0
    app = reopen(settings)  # a running worker holds the FileStorage lock
    try:
        result = cli(ini_file, "restore", "--from", str(backups))
        assert result.returncode != 0
        assert "lock" in result.stderr  # the tool cannot even open the storage
        result = subprocess.run([sys.executable, "-m", "compte_citoyen.operations", ini_file, "restore", "--from",
                                 str(backups)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2
        assert "stop the application workers and the ZEO server" in result.stderr
        with open_portal(app.registry) as portal:  # untouched
            assert portal["accounts"].get_by_code("original") is not None
    finally:
        get_database(app.registry).close()


def test_restore_from_empty_directory_says_so(settings, ini_file, tmp_path):
    (tmp_path / "empty").mkdir()
    result = cli(ini_file, "restore", "--from", str(tmp_path / "empty"))
    assert result.returncode == 2
    assert "no repozo backup" in result.stderr


def test_pack_keeps_current_data_and_shrinks_history(settings, ini_file, tmp_path):
    from compte_citoyen.database import get_database
    app = reopen(settings)
    for i in range(30):
        with open_portal(app.registry) as portal:
            put_document(portal, "justificatif", b"revision %d" % i)
            portal.next_number("ops-test")
    get_database(app.registry).close()
    data_fs = Path(settings["zodbconn.uri"][len("file://"):].split("?")[0])
    blobs = Path(settings["zodbconn.uri"].split("blobstorage_dir=")[1])
    size_before = data_fs.stat().st_size
    blob_files_before = len([p for p in blobs.rglob("*.blob")])
    result = cli(ini_file, "pack", "--days", "0")
    assert result.returncode == 0, result.stderr
    assert "packed" in result.stdout
    assert data_fs.stat().st_size < size_before
    assert len([p for p in blobs.rglob("*.blob")]) < blob_files_before
    app = reopen(settings)
    try:
        with open_portal(app.registry) as portal:
            assert read_document(portal, "justificatif") == b"revision 29"
            assert portal.sequences["ops-test"].value == 30
            assert portal["accounts"].get_by_code("original") is not None
    finally:
        get_database(app.registry).close()


def test_pack_refuses_negative_days(ini_file):
    result = cli(ini_file, "pack", "--days", "-1")
    assert result.returncode == 2
    assert "--days" in result.stderr


def test_offline_restore_entry_point(settings, ini_file, tmp_path):
    """The ZEO way: restore from the ini's settings without opening the storage through the app."""
    from compte_citoyen.database import get_database
    backups = tmp_path / "backups"
    assert cli(ini_file, "backup", "--to", str(backups)).returncode == 0
    app = reopen(settings)
    with open_portal(app.registry) as portal:
        portal["accounts"].remove("original")
    get_database(app.registry).close()
    result = subprocess.run([sys.executable, "-m", "compte_citoyen.operations", ini_file, "restore", "--from",
                             str(backups)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    app = reopen(settings)
    try:
        with open_portal(app.registry) as portal:
            assert portal["accounts"].get_by_code("original") is not None
    finally:
        get_database(app.registry).close()


def test_storage_info_reads_relstorage_dsn_from_zconfig(tmp_path, monkeypatch):
    from compte_citoyen.operations.storage import RELSTORAGE, storage_info
    monkeypatch.setenv("COMPTE_CITOYEN_PG_DSN", "dbname=ville host=127.0.0.1")
    info = storage_info({"zodbconn.uri": f"zconfig://{ROOT}/etc/relstorage.conf"})
    assert info.kind == RELSTORAGE
    assert info.dsn == "dbname=ville host=127.0.0.1"


# --- data generator -------------------------------------------------------------------------------------------------

def test_generate_data_fills_indexes_through_the_domain_apis(settings, ini_file, tmp_path):
    from compte_citoyen.database import get_database
    result = cli(ini_file, "generate-data", "--households", "12", "--seed", "3", "--batch", "5")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "12 households" in result.stdout
    app = reopen(settings)
    try:
        with open_portal(app.registry) as portal:
            households = portal["households"]
            assert len(households) == 12 + 1  # and the test citizen of the fixture
            generated = [h for h in households.values() if h.holder is not None and
                         portal["accounts"].for_household(h.id) is not None and
                         portal["accounts"].for_household(h.id).code != "original"]
            assert len(generated) == 12
            submissions = portal["submissions"]
            invoices = portal["invoices"]
            outbox = portal["outbox"]
            total_requests = total_invoices = 0
            steps = set()
            for household in generated:
                keys = list(submissions.keys_for_household(household.id))
                total_requests += len(keys)
                for _created, number in keys:
                    submission = submissions[number]
                    assert submission.household_id == household.id
                    queue = submissions.queue_set(submission.queue_shard)  # the generating process's
                    assert submission.queue_shard and queue is not submissions.queue
                    assert queue_entry(submission, ("s", submission.service, submission.step)) in queue
                    assert queue_entry(submission, ("p", submission.service, submission.procedure_code,
                                                    submission.step)) in queue
                    steps.add(submission.step)
                account = portal["accounts"].for_household(household.id)
                household_invoices = invoices.for_household(household.id)
                total_invoices += len(household_invoices)
                if not account.validated:
                    assert household_invoices == []
                for invoice in household_invoices:
                    assert invoice.regie in household.billing_refs
                    assert (invoice.regie, invoice.issue_date, invoice.key) in invoices.by_state[invoice.state]
                # the messages of the past are delivered history: nothing waits in the queue for them
                for message in outbox.for_household(household.id):
                    assert message.state != "queued"
            assert total_requests >= 12 * 6, total_requests
            assert steps == {1, 2, 3, 4}
            assert total_invoices >= 12 * 4
            assert len({i.regie for h in generated for i in invoices.for_household(h.id)}) == 2  # both régies
            # the back office finds generated requests by a family name, through the index
            some = submissions[next(iter(submissions.keys_for_household(generated[0].id)))[1]]
            assert len(submissions.name_keys(generated[0].family_name)) >= 1 or some.member_name
    finally:
        get_database(app.registry).close()


def test_generate_data_refuses_nonsense(ini_file):
    result = cli(ini_file, "generate-data", "--households", "0")
    assert result.returncode == 2
    assert "--households must be positive" in result.stderr
