"""The benchmark: `make bench` (or `.venv/bin/python bench/run.py [options]`). Never part of `make test`.

For each database size (10,000 and 100,000 households by default, `--households N [N ...]` to choose):

1. generate the database once under bench/data/h<N>/ with `compte-citoyen INI generate-data` (reused afterwards);
2. prepare it: pick validated households (all generated accounts share one password): 16 that read their pages,
   and 8 per client, drawn anew at every run, that send requests in turn; create one back-office agent, and
   ready-to-send drafts so "submitting a request" measures the submission itself;
3. serve it as in production: the storage server (`--storage`: a ZEO server with the workers' client of
   etc/zeo-client.conf, the same with ZEO's own client, or PostgreSQL through RelStorage with etc/relstorage.conf,
   the database copied there once with zodbconvert) and gunicorn with etc/gunicorn.conf.py (sync workers,
   loopback), and serve bench/hello.py (a bare Pyramid "hello world") with the same gunicorn configuration;
4. drive each page with bench/loadgen.py in separate processes: 16 concurrent clients, a bounded duration;
5. report requests per second, p50/p99 latency and the ratio to hello world, the back-office search at each size,
   logging in against the cost of one argon2 verification, and the resident memory of every worker.

Results go to bench/results/<date>.json and into docs/performance.md between the BENCH-RESULTS markers.
"""
from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
DATA = HERE / "data"
RESULTS = HERE / "results"
DOC = ROOT / "docs" / "performance.md"
PASSWORD = "motdepasse-bench-2026"
STAFF_LOGIN = "bench-agent"
STAFF_PASSWORD = "bench agent password 2026"
SECRET = "bench-secret-not-for-production-0123456789abcdef"
SEARCH_NAME = "Martin"
PLUGINS = ["etat_civil", "voirie", "scolaire", "regie_ville", "regie_ccas", "sms_gateway"]

sys.path.insert(0, str(HERE))


def log(message: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, timeout: float = 120, path: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, _h, _b = http_request(port, "GET", path or "/", timeout=5)
            if status and (path is None or status == 200):
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"nothing answers on 127.0.0.1:{port}{path or ''}")


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


# --- HTTP with manual cookies (the app's cookies are Secure; this is loopback http) ---------------------------------

def http_request(port: int, method: str, path: str, cookies: dict | None = None, form: dict | None = None,
                 timeout: float = 60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Host": "localhost"}
    body = None
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read().decode("utf-8", "replace")
    if cookies is not None:
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                cookies[name.strip()] = rest.split(";", 1)[0]
    conn.close()
    return response.status, dict(response.getheaders()), data


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if not match:
        raise RuntimeError("no CSRF token in the page")
    return match.group(1)


def cookie_header(cookies: dict) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


# --- configuration files ----------------------------------------------------------------------------------------

def app_settings(var: Path, uri: str) -> dict:
    return {
        "zodbconn.uri": uri,
        "retry.attempts": "8",  # as production.ini
        "compte_citoyen.secret": SECRET,
        "compte_citoyen.production": "false",
        "compte_citoyen.city_name": "Ville de Clairval",
        "compte_citoyen.public_url": "http://127.0.0.1",
        "compte_citoyen.evolve_on_startup": "false",
        "compte_citoyen.captcha": "image",
        "compte_citoyen.plugins": "\n".join(PLUGINS),
        "compte_citoyen.notifications.background_worker": "false",
        "compte_citoyen.mail_folder": str(var / "mail"),
        "compte_citoyen.sms_folder": str(var / "sms"),
        "mail.default_sender": "Mon Compte Citoyen <ne-pas-repondre@clairval.example>",
        "mail.host": "127.0.0.1",
        "mail.port": "1",
        "pyramid.default_locale_name": "fr",
        # never deliver: the generated messages are history
    }


def write_ini(path: Path, settings: dict, app_use: str = "egg:compte_citoyen") -> Path:
    from compte_citoyen.testing import write_ini as write
    write(path, settings)
    if app_use != "egg:compte_citoyen":
        path.write_text(path.read_text().replace("use = egg:compte_citoyen", f"use = {app_use}", 1))
    return path


def data_dir(households: int) -> Path:
    return DATA / f"h{households}"


def filestorage_uri(var: Path) -> str:
    return f"file://{var}/Data.fs?blobstorage_dir={var}/blobs&connection_cache_size=20000"


# --- 1. generation ----------------------------------------------------------------------------------------------

def ensure_database(households: int, regenerate: bool) -> dict:
    base = data_dir(households)
    var = base / "var"
    marker = base / "generated.json"
    if marker.exists() and not regenerate and (var / "Data.fs").exists():
        info = json.loads(marker.read_text())
        log(f"reusing the database of {households} households generated on {info['date']}; evolving it")
        ini = write_ini(base / "generate.ini", app_settings(var, filestorage_uri(var)))
        subprocess.run([str(BIN / "compte-citoyen"), str(ini), "evolve"], check=True, capture_output=True)
        return info
    if base.exists():
        import shutil
        shutil.rmtree(base)
    (var / "blobs").mkdir(parents=True)
    ini = write_ini(base / "generate.ini", app_settings(var, filestorage_uri(var)))
    tool = str(BIN / "compte-citoyen")
    subprocess.run([tool, str(ini), "init"], check=True, capture_output=True)
    log(f"generating {households} households (compte-citoyen generate-data) ...")
    started = time.monotonic()
    # large transactions: each one rewrites the index leaves it touches, so fewer of them write far less
    batch = str(min(households, 5000))
    result = subprocess.run([tool, str(ini), "generate-data", "--households", str(households), "--batch", batch],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    elapsed = time.monotonic() - started
    summary = [line for line in result.stdout.splitlines() if line.startswith("generated")]
    log(summary[-1] if summary else "generated")
    log("packing the generated database (history of the generation batches) ...")
    subprocess.run([tool, str(ini), "pack", "--days", "0"], check=True, capture_output=True)
    info = {"households": households, "date": f"{datetime.datetime.now():%Y-%m-%d %H:%M}",
            "seconds": round(elapsed, 1), "summary": summary[-1] if summary else "",
            "data_fs_bytes": (var / "Data.fs").stat().st_size}
    marker.write_text(json.dumps(info, indent=2))
    return info


# --- 2. preparation (in this process, on the FileStorage, before the servers start) -----------------------------

#: households each submitting client files requests for, in turn (see ``prepare``)
SUBMITTER_HOUSEHOLDS = 8


def prepare(households: int, clients: int, drafts_per_client: int, ini: Path) -> dict:
    """Choose the citizens, create the agent and the drafts; return what the scenarios need.

    The readers (and the spare accounts that log in) are the same at every run. The households that submit
    requests are drawn anew at every run, ``SUBMITTER_HOUSEHOLDS`` per client: each client sends its drafts in
    turn for each of its households, as many households send requests in a city. A household that sent hundreds
    of requests in the same minute (the same 16 households at every run, one per client) is not what a city's
    portal sees, and would measure its own ever-growing history instead of a submission.
    """
    import random

    import pyotp
    import transaction

    from compte_citoyen.cli import load_env
    from compte_citoyen.database import ROOT_KEY
    from compte_citoyen.operations.formfill import fill_procedure
    from compte_citoyen.procedures.models import Draft, new_draft_id
    from compte_citoyen.procedures.registry import get_registry
    from compte_citoyen.procedures.views import DRAFT_LIFETIME, pages_of

    env = load_env(str(ini))
    rng = random.Random(7)
    try:
        tm = transaction.TransactionManager(explicit=True)
        conn = env.db.open(transaction_manager=tm)
        with tm:
            portal = conn.root()[ROOT_KEY]
            procedures = sorted((p for p in get_registry(env.registry).procedures.values()
                                 if p.account_required and not p.captcha), key=lambda p: p.code)
            chosen = []
            for account in portal["accounts"].values():
                if not account.validated:
                    continue
                household = portal["households"][account.household_id]
                unpaid = [i for i in portal["invoices"].for_household(household.id) if i.state == "unpaid"
                          and not i.basket_id and not i.payment_id]
                if not unpaid:
                    continue
                chosen.append((account, household, unpaid[0]))
                if len(chosen) >= clients * 2:  # readers, logins
                    break
            if len(chosen) < clients * 2:
                raise RuntimeError("not enough validated households with an unpaid invoice")
            staff = portal["staff"].get(STAFF_LOGIN)
            if staff is None:
                from compte_citoyen.backoffice.commands import create_staff_member
                staff = create_staff_member(portal, STAFF_LOGIN, STAFF_PASSWORD, ["admin"], [], [], "Agent bench")
            totp_secret = staff.totp_secret
            folder = portal["procedure_drafts"]
            prepared = []
            # as a form just filled in (each page sets the draft's expiry a day ahead: ``views.DRAFT_LIFETIME``)
            expires = datetime.datetime.now(datetime.timezone.utc) + DRAFT_LIFETIME
            request = env.request
            # the submitters are other households than the readers: a household's drafts are listed on its
            # "Mes Demandes" page, and hundreds of prepared drafts would distort that page's figures
            submitters = []
            per_household = -(-drafts_per_client // SUBMITTER_HOUSEHOLDS)
            for account, household in submitting_households(portal, clients * SUBMITTER_HOUSEHOLDS,
                                                            {a.key for a, _h, _i in chosen}):
                drafts = []
                def eligible(procedure):
                    return [m for m in household.current_members()
                            if procedure.member_kinds in ("any", "none")
                            or (procedure.member_kinds == "adults") == m.is_adult]

                possible = [p for p in procedures if not p.needs_member or eligible(p)]
                for _ in range(per_household):
                    for procedure in rng.sample(possible, len(possible)):
                        member = rng.choice(eligible(procedure)) if procedure.needs_member else None
                        filled = fill_procedure(request, portal, procedure, household, account, member, rng)
                        if filled is not None:
                            break
                    else:
                        raise RuntimeError(f"no procedure could be filled for household {household.id}")
                    _answers, _summary, pstructs = filled
                    draft = Draft(new_draft_id(), procedure.code, procedure.theme_code,
                                  f"household:{household.id}", household.id, expires)
                    pages = pages_of(procedure)
                    for index, pstruct in pstructs.items():
                        draft.set_page(index, pstruct, True)
                    for page in pages[:-1]:
                        draft.set_valid(page.index, True)
                    for document in procedure.documents:
                        draft.set_paper(document.code, True)
                    draft.member_id = member.id if member is not None else None
                    draft.current = len(pages) - 1
                    folder.add_draft(draft)
                    drafts.append(f"/brouillons/{draft.id}?etape={len(pages)}")
                submitters.append({"code": account.code, "drafts": drafts})
            for account, household, invoice in chosen[:clients]:
                prepared.append({"code": account.code, "invoice": [invoice.regie, invoice.number]})
            spare = [account.code for account, _h, _i in chosen[clients:clients * 2]]
            sample = sample_requests(portal, rng)
        conn.close()
    finally:
        from compte_citoyen.operations.commands import close_storage
        env.closer()
        close_storage(env.db)
    return {"citizens": prepared, "submitters": submitters, "spare": spare, "totp_secret": totp_secret,
            "requests": sample}


def submitting_households(portal, count: int, excluded: set) -> list[tuple]:
    """``count`` (account, household) pairs of validated accounts, drawn at random (not the same at every run),
    none of them in ``excluded``. Walks the accounts from random places of the tree (its keys are the codes)."""
    import random
    import string
    rng = random.Random()
    accounts = portal["accounts"]
    found: dict = {}
    for _attempt in range(count * 50):
        if len(found) >= count:
            break
        start = rng.choice(string.ascii_lowercase) + rng.choice(string.ascii_lowercase)
        for account in accounts.values(min=start):
            if len(found) >= count or account.key[:2] != start:
                break
            if account.validated and account.key not in excluded and account.key not in found:
                found[account.key] = (account, portal["households"][account.household_id])
                if rng.random() < 0.5:
                    break  # take them from many places
    if len(found) < count:
        raise RuntimeError(f"not enough validated households to send requests ({len(found)} of {count})")
    return list(found.values())


def sample_requests(portal, rng, size: int = 20000) -> list[str]:
    """Numbers of requests drawn uniformly from the whole database (for the cache-filling phase): each year's
    numbers run from 1 to its sequence's value, so a draw is a lookup, not a walk through a million keys."""
    from compte_citoyen.procedures.models import SUBMISSIONS
    folder = portal[SUBMISSIONS]
    years = [(name.split("-", 1)[1], sequence.value) for name, sequence in portal.sequences.items()
             if name.startswith("requests-") and sequence.value]
    total = sum(count for _year, count in years)
    numbers: list[str] = []
    for _ in range(size * 3):
        if len(numbers) >= size or not total:
            break
        draw = rng.randrange(total)
        for year, count in years:
            if draw < count:
                number = f"{year}-{draw + 1:06d}"
                if number in folder.data:  # reserved numbers a failed request never used are gaps
                    numbers.append(number)
                break
            draw -= count
    return numbers


# --- 3. servers ---------------------------------------------------------------------------------------------------

class Server:
    def __init__(self, argv: list[str], port: int, log_path: Path, env: dict | None = None):
        self.argv, self.port, self.log_path = argv, port, log_path
        handle = open(log_path, "ab")
        self.popen = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
                                      env={**os.environ, **(env or {})})
        handle.close()

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.popen.pid}/task/{self.popen.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by these processes (``/proc/<pid>/stat``), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / ticks


def start_zeo(households: int) -> Server:
    var = data_dir(households) / "var"
    port = free_port()
    conf = data_dir(households) / "zeo.conf"
    conf.write_text(f"<zeo>\n  address 127.0.0.1:{port}\n</zeo>\n<filestorage 1>\n  path {var}/Data.fs\n"
                    f"  blob-dir {var}/blobs\n</filestorage>\n")
    server = Server([str(BIN / "runzeo"), "-C", str(conf)], port, data_dir(households) / "zeo.log")
    wait_for_port(port, 600)  # a large Data.fs index is read at start
    return server



#: the storages the benchmark can serve from (``--storage``)
STORAGES = {
    "zeo": "ZEO, the workers' client of etc/zeo-client.conf",
    "zeo-plain": "ZEO, ZEO's own <clientstorage> (etc/zeo-client.conf otherwise)",
    "relstorage": "RelStorage on the local PostgreSQL (etc/relstorage.conf)",
}
PG_ADMIN_DSN = os.environ.get("COMPTE_CITOYEN_PG_DSN", "host=127.0.0.1 port=5432 dbname=test")


def pg_dsn(households: int) -> str:
    """The DSN of the benchmark's PostgreSQL database for this size (the server of ``PG_ADMIN_DSN``)."""
    base = " ".join(part for part in PG_ADMIN_DSN.split() if not part.startswith("dbname="))
    return f"{base} dbname=compte_citoyen_bench_h{households}"


def relstorage_conf(households: int) -> Path:
    """etc/relstorage.conf with this size's database and a blob cache under its folder."""
    base = data_dir(households)
    conf = base / "relstorage.conf"
    conf.write_text((ROOT / "etc" / "relstorage.conf").read_text()
                    .replace("$(COMPTE_CITOYEN_PG_DSN)", pg_dsn(households))
                    .replace("/var/cache/compte-citoyen/blobs", str(base / "relstorage-blobs")))
    return conf


def ensure_relstorage(households: int) -> None:
    """Copy the generated FileStorage into its PostgreSQL database once (zodbconvert), again when the FileStorage
    was generated anew since."""
    import psycopg2
    base = data_dir(households)
    marker = base / "relstorage.json"
    source = json.loads((base / "generated.json").read_text())["date"]
    if marker.exists() and json.loads(marker.read_text()).get("generated") == source:
        return
    name = f"compte_citoyen_bench_h{households}"
    admin = psycopg2.connect(PG_ADMIN_DSN)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        cursor.execute(f"CREATE DATABASE {name}")
    admin.close()
    var = base / "var"
    destination = relstorage_conf(households).read_text().split("<relstorage>", 1)[1].split("</relstorage>", 1)[0]
    convert = base / "zodbconvert.conf"
    convert.write_text(f"%import relstorage\n<filestorage source>\n  path {var}/Data.fs\n  blob-dir {var}/blobs\n"
                       f"  read-only true\n</filestorage>\n<relstorage destination>{destination}</relstorage>\n")
    log(f"copying the database of {households} households into PostgreSQL (zodbconvert) ...")
    started = time.monotonic()
    subprocess.run([str(BIN / "zodbconvert"), str(convert)], check=True, capture_output=True)
    marker.write_text(json.dumps({"generated": source, "seconds": round(time.monotonic() - started, 1)}))
    log(f"  copied in {time.monotonic() - started:.0f} s")


def postgres_pids() -> list[int]:
    """The PostgreSQL server's processes (its backends serve the workers: their CPU is the storage's)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip().startswith("postgres"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


class StorageServer:
    """The storage the workers share during a run: ``uri`` for their ini, ``pids()`` for its CPU time."""

    def __init__(self, households: int, storage: str):
        self.storage = storage
        self.zeo = None
        base = data_dir(households)
        if storage == "relstorage":
            self.uri = f"zconfig://{relstorage_conf(households)}"
            return
        self.zeo = start_zeo(households)
        var = base / "var"
        text = ((ROOT / "etc" / "zeo-client.conf").read_text()
                .replace("127.0.0.1:8100", f"127.0.0.1:{self.zeo.port}")
                .replace("/var/lib/compte-citoyen/blobs", f"{var}/blobs"))
        if storage == "zeo-plain":
            text = (text.replace("%import compte_citoyen.zeo\n", "%import ZEO\n")
                    .replace("<batchingclientstorage>", "<clientstorage>")
                    .replace("</batchingclientstorage>", "</clientstorage>"))
        client_conf = base / "zeo-client.conf"
        client_conf.write_text(text)
        self.uri = f"zconfig://{client_conf}"

    def pids(self) -> list[int]:
        return [self.zeo.popen.pid] if self.zeo is not None else postgres_pids()

    def stop(self) -> None:
        if self.zeo is not None:
            self.zeo.stop()


def start_gunicorn(ini: Path, port: int, workers: int, log_path: Path, pythonpath: str | None = None) -> Server:
    env = {"COMPTE_CITOYEN_BIND": f"127.0.0.1:{port}", "COMPTE_CITOYEN_WORKERS": str(workers),
           "COMPTE_CITOYEN_ACCESS_LOG": "/dev/null"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    # the production settings, except that workers are not recycled (``max_requests``) during the run: their
    # resident memory is what is measured
    argv = [str(BIN / "gunicorn"), "--paste", str(ini), "-c", str(ROOT / "etc" / "gunicorn.conf.py"),
            "--max-requests", "0"]
    return Server(argv, port, log_path, env)


def log_replays(ini: Path) -> None:
    """Log the conflicts pyramid_retry replays (``compte_citoyen.database`` at INFO) in the workers' log."""
    text = ini.read_text().replace("[loggers]\nkeys = root", "[loggers]\nkeys = root, replays", 1)
    text += ("\n[logger_replays]\nlevel = INFO\nhandlers = console\nqualname = compte_citoyen.database\n"
             "propagate = 0\n")
    ini.write_text(text)


def log_since(log_path: Path, start: int) -> str:
    """What the workers logged since byte ``start`` of their log."""
    with open(log_path, "rb") as handle:
        handle.seek(start)
        return handle.read().decode("utf-8", "replace")


def replays_in(text: str) -> dict:
    """How many requests the log ``text`` says were replayed after a conflict, by conflicting class."""
    import collections
    classes: collections.Counter = collections.Counter()
    total = 0
    for line in text.splitlines():
        if "replaying" not in line:
            continue
        total += 1
        match = re.search(r"class ([\w.]+)", line)
        classes[match.group(1).rsplit(".", 1)[-1] if match else
                "read conflict" if "read conflict" in line else "other"] += 1
    return {"total": total, "classes": dict(classes.most_common(6))}


def errors_logged_in(text: str) -> list[str]:
    """The ERROR lines of the log ``text`` (an exception in the ZEO client's I/O thread, for one, never reaches an
    HTTP answer: the errors column cannot show it)."""
    return [line for line in text.splitlines() if " ERROR " in line or "[ERROR]" in line]


# --- 4. load --------------------------------------------------------------------------------------------------------

WARMUP = 2  # seconds of warm-up before each measure


def load(port: int, clients_spec: list[dict], duration: float, clients: int, warmup: float = WARMUP) -> dict:
    spec = {"host": "127.0.0.1", "port": port, "duration": duration, "clients": clients, "warmup": warmup,
            "processes": 2, "clients_spec": clients_spec}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    try:
        result = subprocess.run([sys.executable, str(HERE / "loadgen.py"), handle.name], capture_output=True,
                                text=True, timeout=duration + warmup + 300)
    finally:
        os.unlink(handle.name)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout)


def login_citizen(port: int, code: str) -> dict:
    cookies: dict = {}
    _s, _h, page = http_request(port, "GET", "/", cookies)
    status, headers, body = http_request(port, "POST", "/connexion", cookies,
                                         {"code": code, "password": PASSWORD, "csrf_token": csrf_of(page)})
    if status != 302 or not headers.get("Location", "").endswith("/accueil"):
        raise RuntimeError(f"login of {code} failed: {status} {headers.get('Location')} {body[:300]}")
    return cookies


def login_staff(port: int, totp_secret: str) -> dict:
    import pyotp
    cookies: dict = {}
    _s, _h, page = http_request(port, "GET", "/backoffice/connexion", cookies)
    status, _h, body = http_request(port, "POST", "/backoffice/connexion", cookies,
                                    {"login": STAFF_LOGIN, "password": STAFF_PASSWORD, "csrf_token": csrf_of(page)})
    if status != 302:
        raise RuntimeError(f"staff login failed: {status} {body[:300]}")
    _s, _h, page = http_request(port, "GET", "/backoffice/connexion/code", cookies)
    status, _h, body = http_request(port, "POST", "/backoffice/connexion/code", cookies,
                                    {"code": pyotp.TOTP(totp_secret).now(), "csrf_token": csrf_of(page)})
    if status != 302:
        raise RuntimeError(f"staff second factor failed: {status} {body[:300]}")
    return cookies


def _verify_loop(stored: str, seconds: float, queue) -> None:
    from compte_citoyen.authentication.passwords import verify_password
    count, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        verify_password(stored, PASSWORD)
        count += 1
    queue.put(count)


def argon2_figures(processes: int, seconds: float = 8) -> dict:
    """One verification's time, and how many verifications per second ``processes`` processes manage together:
    the ceiling of any login rate on this machine (argon2id may use several threads per verification)."""
    import multiprocessing

    from compte_citoyen.authentication.passwords import hash_password, verify_password
    stored = hash_password(PASSWORD)
    started = time.perf_counter()
    for _ in range(5):
        verify_password(stored, PASSWORD)
    single = (time.perf_counter() - started) / 5
    queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_verify_loop, args=(stored, seconds, queue)) for _ in range(processes)]
    for proc in procs:
        proc.start()
    total = sum(queue.get() for _ in procs)
    for proc in procs:
        proc.join()
    return {"verify_ms": single * 1000, "per_second": total / seconds, "processes": processes}


def scenarios_for(port: int, prepared: dict, clients: int) -> dict[str, list[dict]]:
    """name -> the clients' steps, with each client logged in as its own citizen."""
    from concurrent.futures import ThreadPoolExecutor

    def log_in(citizen: dict) -> tuple:
        cookies = login_citizen(port, citizen["code"])
        status, headers, page = http_request(port, "GET", "/comptes", cookies)
        if status != 200:
            raise RuntimeError(f"/comptes answered {status} {headers.get('Location', '')}: {page[:500]}")
        return citizen, cookie_header(cookies), csrf_of(page)

    def logged_in(people: list[dict]) -> list[tuple]:
        with ThreadPoolExecutor(4) as pool:  # an argon2 verification each: the workers verify side by side
            return list(pool.map(log_in, people))

    citizens = logged_in(prepared["citizens"][:clients])
    households = logged_in(prepared["submitters"])

    def submitting(client: int) -> dict:
        """Client ``client`` sends a draft of each of its households in turn (each with its own session)."""
        own = households[client::clients]
        steps = []
        for round_ in range(max(len(citizen["drafts"]) for citizen, _c, _t in own)):
            for citizen, cookie, token in own:
                if round_ < len(citizen["drafts"]):
                    steps.append({"method": "POST", "path": citizen["drafts"][round_], "expect": [302, 303],
                                  "cookie": cookie,
                                  "body": urllib.parse.urlencode({"submit": "submit", "csrf_token": token})})
        return {"steps": steps}
    staff_cookie = cookie_header(login_staff(port, prepared["totp_secret"]))

    def each(steps_of) -> list[dict]:
        return [{"cookie": cookie, "steps": steps_of(citizen, token)} for citizen, cookie, token in citizens]

    anonymous = []
    for code in prepared["spare"][:clients]:
        cookies: dict = {}
        _s, _h, page = http_request(port, "GET", "/", cookies)
        body = urllib.parse.urlencode({"code": code, "password": PASSWORD, "csrf_token": csrf_of(page)})
        anonymous.append({"cookie": cookie_header(cookies),
                          "steps": [{"method": "POST", "path": "/connexion", "body": body, "expect": [302]}]})
    return {
        "Accueil": each(lambda c, t: [{"path": "/accueil"}]),
        "Mes Demandes": each(lambda c, t: [{"path": "/demandes"}]),
        "Mes comptes": each(lambda c, t: [{"path": "/comptes"}]),
        "Envoi d'une demande": [submitting(client) for client in range(clients)],
        "Ajout au panier": each(lambda c, t: [
            {"method": "POST", "path": "/panier/ajouter", "expect": [302, 303],
             "body": urllib.parse.urlencode({"regie": c["invoice"][0], "number": c["invoice"][1],
                                             "csrf_token": t})},
            {"method": "POST", "path": "/panier/retirer", "expect": [302, 303], "measure": False,
             "body": urllib.parse.urlencode({"regie": c["invoice"][0], "number": c["invoice"][1],
                                             "csrf_token": t})}]),
        "Recherche back-office": [{"cookie": staff_cookie, "steps": [
            {"path": f"/backoffice/demandes?q={SEARCH_NAME}"}]} for _ in range(clients)],
        "Connexion": anonymous,
    }


def cache_filling(staff_cookie: str, clients: int, numbers: list[str], days: int = 800, seed: int = 11,
                  pages: int = 600) -> list[dict]:
    """Back-office pages spread over the whole database: the list of a random day (up to 30 requests and the
    index leaves of that day) and the detail of two requests drawn at random from every request (the request,
    its answers, history and documents). Each worker loads far more objects than its connection cache keeps
    (``cache-size`` and ``cache-size-bytes`` in etc/zeo-client.conf), at both database sizes, so its resident
    memory reaches what the cache settings allow."""
    import random

    from compte_citoyen.household.workdays import local_today
    rng = random.Random(seed)
    today = local_today()  # the back office's days are days in Paris
    out = []
    for _ in range(clients):
        steps = []
        for index in range(pages):
            if index % 3 == 0 or not numbers:
                day = (today - datetime.timedelta(days=rng.randint(1, days))).isoformat()
                steps.append({"path": f"/backoffice/demandes?du={day}&au={day}&page={rng.randint(1, 2)}"})
            else:
                steps.append({"path": f"/backoffice/demandes/{rng.choice(numbers)}"})
        out.append({"cookie": staff_cookie, "steps": steps})
    return out


FILL_ROUNDS = 3


# --- 5. one database size ---------------------------------------------------------------------------------------

def run_size(households: int, args) -> dict:
    generation = ensure_database(households, args.regenerate)
    base = data_dir(households)
    # per client, more than it can send (a draft is sent once): up to 320 requests per second in all
    drafts = max(80, int((args.duration + WARMUP) * 320 / args.clients))
    var = base / "var"
    if args.storage == "relstorage":
        ensure_relstorage(households)
        ini_of_storage = write_ini(base / "relstorage.ini", app_settings(var, f"zconfig://{relstorage_conf(households)}"))
        subprocess.run([str(BIN / "compte-citoyen"), str(ini_of_storage), "evolve"], check=True, capture_output=True)
    else:
        ini_of_storage = base / "generate.ini"
    log("preparing citizens, agent and drafts ...")
    prepared = prepare(households, args.clients, drafts, ini_of_storage)
    storage = StorageServer(households, args.storage)
    ini = write_ini(base / "serve.ini", app_settings(var, storage.uri))
    log_replays(ini)
    hello_ini = write_ini(base / "hello.ini", {"pyramid.reload_templates": "false"}, app_use="call:hello:main")
    port, hello_port = free_port(), free_port()
    results: dict = {"households": households, "generation": generation, "storage": args.storage,
                     "scenarios": {}}
    app = hello = None
    try:
        app = start_gunicorn(ini, port, args.workers, base / "gunicorn.log")
        hello = start_gunicorn(hello_ini, hello_port, args.workers, base / "hello.log", pythonpath=str(HERE))
        wait_for(port, path="/sante")
        wait_for(hello_port)
        log("logging in the clients ...")
        scenarios = scenarios_for(port, prepared, args.clients)
        log(f"hello world, {args.clients} clients, {args.duration:g}s ...")
        results["hello"] = load(hello_port, [{"steps": [{"path": "/"}]}] * args.clients, args.duration,
                                args.clients)
        log(f"  {results['hello']['rps']:.0f} rps")
        for name, clients_spec in scenarios.items():
            if args.only and name not in args.only:
                continue
            # one login costs an argon2 verification (hundreds of ms): measure long enough to count many
            duration = max(args.duration, 30) if name == "Connexion" else args.duration
            log(f"{name} ...")
            log_start = (base / "gunicorn.log").stat().st_size
            workers = app.worker_pids()
            cpu_before = cpu_seconds(workers), cpu_seconds(storage.pids())
            figures = load(port, clients_spec, duration, args.clients)
            # CPU per request of the workers and of the ZEO server: the CPU time spent during the warm-up and
            # the measure, over the requests of both (the warm-up runs at the same rate, it is not counted)
            done = max(figures["requests"], 1) * (duration + WARMUP) / duration
            figures["cpu_ms"] = {"workers": (cpu_seconds(workers) - cpu_before[0]) * 1000 / done,
                                 "zeo": (cpu_seconds(storage.pids()) - cpu_before[1]) * 1000 / done}
            logged_text = log_since(base / "gunicorn.log", log_start)
            figures["replays"] = replays_in(logged_text)
            logged = errors_logged_in(logged_text)
            figures["logged_errors"] = {"total": len(logged), "first": logged[:3]}
            figures["ratio"] = figures["rps"] / results["hello"]["rps"] if results["hello"]["rps"] else None
            results["scenarios"][name] = figures
            log(f"  {figures['rps']:.1f} rps, p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
                f"{figures['errors']} errors {figures['error_statuses']}, "
                f"{figures['replays']['total']} conflicts replayed {figures['replays']['classes']}, "
                f"{figures['logged_errors']['total']} errors logged {figures['logged_errors']['first']}; CPU per request: "
                f"workers {figures['cpu_ms']['workers']:.1f} ms, storage {figures['cpu_ms']['zeo']:.1f} ms")
        log("back-office search, one client ...")
        results["search_single"] = load(port, scenarios["Recherche back-office"][:1], max(5, args.duration / 2), 1)
        results["memory_after_pages_mb"] = [round(rss_mb(pid), 1) for pid in app.worker_pids()]
        log("filling the workers' object caches (back-office lists of random days, random requests) ...")
        staff_cookie = scenarios["Recherche back-office"][0]["cookie"]
        # several rounds, the resident memory read after each: bounded memory stops growing (a plateau)
        results["cache_fill"] = []
        for round_ in range(FILL_ROUNDS):
            fill = load(port, cache_filling(staff_cookie, args.clients, prepared["requests"], seed=11 + round_),
                        max(30, args.duration), args.clients)
            memory = [round(rss_mb(pid), 1) for pid in app.worker_pids()]
            results["cache_fill"].append({"pages": fill["requests"], "errors": fill["errors"], "rps": fill["rps"],
                                          "memory_mb": memory})
            log(f"  round {round_ + 1}: {fill['requests']} pages, {fill['errors']} errors; memory per worker "
                f"{memory} MB")
        results["memory_mb"] = results["cache_fill"][-1]["memory_mb"]
        results["hello_memory_mb"] = [round(rss_mb(pid), 1) for pid in hello.worker_pids()]
    finally:
        for server in (app, hello):
            if server is not None:
                server.stop()
        storage.stop()
    results["data_fs_bytes"] = (var / "Data.fs").stat().st_size
    return results


# --- 6. report ------------------------------------------------------------------------------------------------------

def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem, "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}"}


def render(report: dict) -> str:
    lines = [f"Run of {report['date']} — `{report['command']}`", "",
             f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
             f"{report['machine']['memory']}, Python {report['machine']['python']}, {report['machine']['system']}. "
             f"gunicorn: {report['workers']} sync workers (etc/gunicorn.conf.py), "
             f"storage: {STORAGES[report.get('storage', 'zeo')]}, on loopback, "
             f"{report['clients']} concurrent clients, {report['duration']:g} s per measure after 2 s of warm-up; "
             "the load generator runs on the same machine (2 processes).", ""]
    for size in report["sizes"]:
        hello = size["hello"]
        gen = size["generation"]
        lines += [f"### {size['households']:,} households".replace(",", " "), "",
                  f"Database: {size['data_fs_bytes'] / 1e9:.2f} GB"
                  f"{'' if 'not packed' in gen.get('summary', '') else ' after pack'}; generated in {gen['seconds']:.0f} s "
                  f"({gen.get('summary', '')}).", "",
                  "| Page | req/s | p50 (ms) | p99 (ms) | ratio to hello world | errors | CPU ms per request "
                  "(workers + storage server) | conflicts replayed |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
                  f"| hello world (bare Pyramid) | {hello['rps']:.0f} | {hello['p50_ms']:.1f} | {hello['p99_ms']:.1f} "
                  f"| 100 % | {hello['errors']} | | |"]
        for name, fig in size["scenarios"].items():
            errors = f"{fig['errors']} ({', '.join(fig['error_statuses'])})" if fig["errors"] else "0"
            replays = fig.get("replays") or {}
            where = ", ".join(f"{count} {'read conflict' if name_ == '?' else name_}"
                              for name_, count in (replays.get("classes") or {}).items())
            replayed = f"{replays.get('total', 0)}" + (f" ({where})" if where else "")
            cpu = fig.get("cpu_ms")
            cpu_text = f"{cpu['workers']:.1f} + {cpu['zeo']:.1f}" if cpu else ""
            lines.append(f"| {name} | {fig['rps']:.1f} | {fig['p50_ms']:.1f} | {fig['p99_ms']:.1f} | "
                         f"{fig['ratio'] * 100:.1f} % | {errors} / {fig.get('answers', fig['requests'])} | {cpu_text} | "
                         f"{replayed} |")
        logged = {name: fig["logged_errors"]["total"] for name, fig in size["scenarios"].items()
                  if "logged_errors" in fig}
        if logged:
            where = ", ".join(f"{count} during « {name} »" for name, count in logged.items() if count)
            lines += ["", f"Errors in the workers' log (ERROR lines, which no HTTP answer shows) during the pages "
                          f"above: {sum(logged.values())}{f' ({where})' if where else ''}."]
        single = size.get("search_single")
        if single:
            lines += ["", f"Back-office search for \u00ab {SEARCH_NAME} \u00bb, one client: p50 "
                          f"{single['p50_ms']:.1f} ms, p99 {single['p99_ms']:.1f} ms."]
        after_pages = size.get("memory_after_pages_mb")
        fill = size.get("cache_fill")
        if after_pages and fill:
            mb = lambda values: ", ".join(f"{m:.0f}" for m in values)  # noqa: E731
            pages = sum(r["pages"] for r in fill)
            errors = sum(r["errors"] for r in fill)
            lines += ["", f"Resident memory per worker after the pages above: {mb(after_pages)} MB. Then "
                          f"{len(fill)} rounds of back-office pages spread over the whole database ({pages} pages, "
                          f"{errors} errors: lists of random days, each up to 30 requests and the index leaves of "
                          "its day, and details of requests drawn at random), memory read after each round: "
                          + "; ".join(f"{mb(r['memory_mb'])} MB" for r in fill)
                          + f" (hello world workers: {mb(size['hello_memory_mb'])} MB).", ""]
        else:
            lines += ["", f"Resident memory per worker after the run: "
                          f"{', '.join(f'{m:.0f}' for m in size['memory_mb'])} MB (hello world workers: "
                          f"{', '.join(f'{m:.0f}' for m in size['hello_memory_mb'])} MB).", ""]
    if len(report["sizes"]) > 1:
        first, last = report["sizes"][0], report["sizes"][-1]
        a = first.get("search_single", {}).get("p50_ms")
        b = last.get("search_single", {}).get("p50_ms")
        if a and b:
            lines += [f"Search cost growth: {b:.1f} ms at {last['households']} households vs {a:.1f} ms at "
                      f"{first['households']} (\u00d7{b / a:.2f}).", ""]
    argon2 = report["argon2"]
    lines += [f"Logging in: one argon2id verification takes {argon2['verify_ms']:.0f} ms here; {argon2['processes']} "
              f"processes verifying side by side (as many as the workers) manage {argon2['per_second']:.1f} per "
              "second in all, measured before the run: the ceiling of any login rate on this machine. Compare it "
              "with the \u00ab Connexion \u00bb line (measured over 30 s).", ""]
    return "\n".join(lines)


def write_doc(text: str) -> None:
    begin, end = "<!-- BENCH-RESULTS:BEGIN -->", "<!-- BENCH-RESULTS:END -->"
    content = DOC.read_text(encoding="utf-8") if DOC.exists() else f"# Performance\n\n{begin}\n{end}\n"
    if begin not in content:
        content += f"\n{begin}\n{end}\n"
    head, rest = content.split(begin, 1)
    _old, tail = rest.split(end, 1)
    DOC.write_text(f"{head}{begin}\n{text}\n{end}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, nargs="+", default=[10000, 100000],
                        help="database sizes (default 10000 100000: the target size and the growth from 10,000)")
    parser.add_argument("--duration", type=float, default=20, help="seconds measured per page (default 20)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1,
                        help="gunicorn workers (default: one per core plus one, as etc/gunicorn.conf.py)")
    parser.add_argument("--regenerate", action="store_true", help="generate the databases again")
    parser.add_argument("--only", nargs="*", help="only these pages (names as in the report)")
    parser.add_argument("--no-doc", action="store_true", help="do not update docs/performance.md")
    parser.add_argument("--storage", choices=sorted(STORAGES), default="zeo",
                        help="what the workers share: " + "; ".join(f"{k}: {v}" for k, v in STORAGES.items()))
    args = parser.parse_args(argv)
    report = {"date": f"{datetime.datetime.now():%Y-%m-%d %H:%M}", "machine": machine(), "workers": args.workers,
              "clients": args.clients, "duration": args.duration, "storage": args.storage,
              "command": " ".join(["python bench/run.py"] + (argv if argv is not None else sys.argv[1:])),
              "argon2": argon2_figures(args.workers), "sizes": []}
    for households in args.households:
        report["sizes"].append(run_size(households, args))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(report, indent=2))
    text = render(report)
    print(text)
    if not args.no_doc:
        write_doc(text)
    log(f"results in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
