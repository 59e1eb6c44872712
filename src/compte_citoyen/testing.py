"""Test fixtures shared by the core and the plugins (exported as the pytest plugin ``compte_citoyen``).

- ``settings`` / ``app`` / ``testapp``: the real app factory on a fresh temporary FileStorage (with blobs) per
  test, with the normal transaction lifecycle.
- ``portal_tx``: run code against the same database in its own transaction (to arrange or inspect data).
- ``smtp_server``: a real local SMTP server (aiosmtpd) collecting messages; settings point mail at it.
- ``live_server``: the app served by waitress on a free loopback port (for browser tests).
- ``browser_page``: Playwright driving Debian's Chromium headless, with an axe scan (``page.check_a11y()``)
  required on every page the test visits.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy

import pytest
import transaction

from .household.workdays import local_today


def _let_pkg_resources_read_rewritten_modules() -> None:
    """pytest loads a pytest11 plugin's whole distribution through its assertion-rewriting loader, which
    pkg_resources (used by Pyramid and deform to find templates and catalogues) does not know."""
    import pkg_resources
    from _pytest.assertion.rewrite import AssertionRewritingHook
    pkg_resources.register_loader_type(AssertionRewritingHook, pkg_resources.DefaultProvider)


_let_pkg_resources_read_rewritten_modules()

CHROMIUM = os.environ.get("COMPTE_CITOYEN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FIXED_CAPTCHA = "AC34E"  # only characters of the real alphabet (the French voice speaks them all)
DEFAULT_PLUGINS = ["etat_civil", "voirie", "scolaire", "regie_ville", "regie_ccas", "sms_gateway"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def installed_plugins(names: list[str]) -> list[str]:
    from .plugins import discover
    found = discover()
    return [name for name in names if name in found]


def base_settings(tmp_path, **overrides) -> dict:
    data = tmp_path / "var"
    data.mkdir(exist_ok=True)
    settings = {
        "zodbconn.uri": f"file://{data}/Data.fs?blobstorage_dir={data}/blobs",
        "retry.attempts": "3",
        "compte_citoyen.secret": "test-secret-0123456789-0123456789-abcdef",
        "compte_citoyen.testing": "true",
        "compte_citoyen.captcha": "fixed",
        "compte_citoyen.captcha.fixed_answer": FIXED_CAPTCHA,
        "compte_citoyen.city_name": "Ville de Clairval",
        "compte_citoyen.public_url": "http://localhost",
        "compte_citoyen.plugins": "\n".join(installed_plugins(DEFAULT_PLUGINS)),
        "compte_citoyen.mail_folder": str(data / "mail"),
        "compte_citoyen.sms_folder": str(data / "sms"),
        "mail.default_sender": "Mon Compte Citoyen <ne-pas-repondre@clairval.example>",
        "mail.host": "127.0.0.1",
        "mail.port": "1",  # nothing listens: tests that send mail use the smtp_server fixture
        "pyramid.default_locale_name": "fr",
    }
    settings.update(overrides)
    return settings


@pytest.fixture
def settings(tmp_path):
    """Settings of a fresh app; tests may change them before asking for ``app``."""
    return base_settings(tmp_path)


@pytest.fixture
def app(settings):
    from . import main
    application = main({}, **settings)
    yield application
    from .database import get_database
    get_database(application.registry).close()


@pytest.fixture
def registry(app):
    return app.registry


@pytest.fixture
def testapp(app):
    import webtest
    return webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.10", "HTTP_HOST": "localhost"})


@contextlib.contextmanager
def open_portal(registry):
    """The portal root in its own committed transaction (for arranging and inspecting data in tests)."""
    from .database import ROOT_KEY, get_database
    tm = transaction.TransactionManager(explicit=True)
    conn = get_database(registry).open(transaction_manager=tm)
    try:
        with tm:
            yield conn.root()[ROOT_KEY]
    finally:
        conn.close()


@pytest.fixture
def portal_tx(registry):
    """``with portal_tx() as portal:`` commits what the block changes."""
    return lambda: open_portal(registry)


def csrf_token(testapp) -> str:
    """The CSRF token of the test browser's session (loads the home page if the session is new)."""
    response = testapp.get("/")
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert match, "no CSRF token on the home page"
    return match.group(1)


# --- mail -------------------------------------------------------------------------------------------

@dataclass
class SMTPServer:
    host: str
    port: int
    messages: list = field(default_factory=list)
    controller: object = None

    def start(self):
        from aiosmtpd.controller import Controller
        server = self

        class Handler:
            async def handle_DATA(self, smtp, session, envelope):
                server.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
                return "250 OK"

        self.controller = Controller(Handler(), hostname=self.host, port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages

    @staticmethod
    def text_of(message) -> str:
        part = message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on a free loopback port; the app's ``mail.*`` settings point at it."""
    server = SMTPServer("127.0.0.1", free_port())
    server.start()
    settings["mail.host"] = server.host
    settings["mail.port"] = str(server.port)
    yield server
    server.stop()


# --- live server and browser ------------------------------------------------------------------------

@dataclass
class LiveServer:
    url: str
    app: object
    server: object
    thread: threading.Thread

    @property
    def registry(self):
        return self.app.registry

    def portal(self):
        return open_portal(self.app.registry)


@pytest.fixture
def live_server(app, settings):
    from waitress.server import create_server
    port = free_port()
    server = create_server(app, host="127.0.0.1", port=port, threads=4, clear_untrusted_proxy_headers=True)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    settings["compte_citoyen.public_url"] = url
    app.registry.settings["compte_citoyen.public_url"] = url
    yield LiveServer(url, app, server, thread)
    server.close()
    thread.join(timeout=5)


def chromium_available() -> bool:
    return bool(shutil.which(CHROMIUM) or os.path.exists(CHROMIUM))


@pytest.fixture(scope="session")
def chromium():
    if not chromium_available():
        if os.environ.get("COMPTE_CITOYEN_REQUIRE_BROWSER"):
            pytest.fail(f"Chromium is required (COMPTE_CITOYEN_REQUIRE_BROWSER) but absent at {CHROMIUM}")
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (Debian package 'chromium')")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class AccessibilityError(AssertionError):
    pass


class CheckedPage:
    """A Playwright page whose every visited page must pass an axe scan before the test ends."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.visited: list[str] = []
        self.checked: set[str] = set()
        page.on("framenavigated", self._navigated)

    def _navigated(self, frame):
        if frame == self.page.main_frame:
            self.visited.append(frame.url)

    def __getattr__(self, name):
        return getattr(self.page, name)

    def goto(self, path: str, **kw):
        return self.page.goto(path if path.startswith("http") else self.base_url + path, **kw)

    def check_a11y(self) -> None:
        """Run axe (WCAG 2.1 A and AA rules) on the current page; fail on any violation."""
        from axe_playwright_python.sync_playwright import Axe
        self.page.wait_for_load_state("load")
        results = Axe().run(self.page, options={"runOnly": {"type": "tag", "values": AXE_TAGS},
                                                "resultTypes": ["violations"]})
        if results.violations_count:
            raise AccessibilityError(f"{self.page.url}:\n{results.generate_report()}")
        self.checked.add(self._key(self.page.url))

    @staticmethod
    def _key(url: str) -> str:
        return url.split("#", 1)[0]

    def unchecked_pages(self) -> list[str]:
        html_pages = [u for u in self.visited if u.startswith("http") and not re.search(r"\.(pdf|json|png|wav)(\?|$)", u)]
        return sorted({self._key(u) for u in html_pages} - self.checked)


@pytest.fixture
def browser_page(chromium, live_server):
    context = chromium.new_context(locale="fr-FR", accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    checked = CheckedPage(page, live_server.url)
    yield checked
    unchecked = checked.unchecked_pages()
    context.close()
    assert not unchecked, f"pages visited without an axe scan (call page.check_a11y()): {unchecked}"


# --- people: citizens and staff created directly in the database ------------------------------------

def create_citizen(portal, code: str = "jdupont", password: str = "correct horse battery staple",
                   validated: bool = False, *, family_name: str = "Dupont", first_names: str = "Jeanne",
                   email: str = "jeanne.dupont@example.org", mobile: str = "0612345678",
                   communication: str = "email", question: str = "Quel est le nom de votre premier animal ?",
                   answer: str = "Médor", **person):
    """Create an account, its household and its holder (first adult); returns (account, household)."""
    import datetime as _dt

    from .authentication.models import VALIDATED, Account
    from .authentication.passwords import hash_answer, hash_password
    from .household.models import ADULT, Member, new_id
    household = portal["households"].new_household(family_name)
    holder = Member(new_id(), ADULT, family_name, first_names,
                    person.pop("birth_date", _dt.date(1985, 4, 12)), email=email, mobile=mobile,
                    civility=person.pop("civility", "Mme"), sex=person.pop("sex", "F"), relation="holder", **person)
    household.add_member(holder)
    household.holder_id = holder.id
    household.communication = communication
    household.address = "12 rue des Lilas"
    household.postcode = "75001"
    household.city = "Clairval"
    account = Account(code, hash_password(password), household.id, holder.id, question, hash_answer(answer))
    portal["accounts"].add_account(account)
    if validated:
        portal["accounts"].set_state(account, VALIDATED)
    return account, household


def create_child(household, first_names: str = "Lucas", family_name: str | None = None, birth_date=None, **fields):
    import datetime as _dt

    from .household.models import CHILD, Member, new_id
    child = Member(new_id(), CHILD, family_name or household.family_name, first_names,
                   birth_date or _dt.date(2016, 9, 1), relation="child", **fields)
    return household.add_member(child)


def login_citizen(testapp, code: str = "jdupont", password: str = "correct horse battery staple"):
    """Log in through the real login form; returns the response (302 to /accueil on success)."""
    token = csrf_token(testapp)
    return testapp.post("/connexion", {"code": code, "password": password, "csrf_token": token})


def create_staff(portal, login: str, password: str = "staff password 2026!", roles=("admin",),
                 services=(), regies=(), name: str = ""):
    from .backoffice.commands import create_staff_member
    return create_staff_member(portal, login, password, list(roles), list(services), list(regies), name or login)


def login_staff(testapp, login: str, password: str = "staff password 2026!", totp_secret: str = ""):
    """Staff login through the real back-office forms: password, then the TOTP code."""
    import pyotp
    response = testapp.get("/backoffice/connexion")
    token = re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)
    response = testapp.post("/backoffice/connexion", {"login": login, "password": password, "csrf_token": token})
    assert response.status_int == 302, response.text[:2000]
    response = response.follow()
    token = re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)
    return testapp.post("/backoffice/connexion/code", {"code": pyotp.TOTP(totp_secret).now(), "csrf_token": token})


# --- operations: ini files for subprocesses, PostgreSQL databases for RelStorage --------------------------------------

def write_ini(path, settings: dict, *, port: int | None = None, log_level: str = "WARNING") -> str:
    """Write ``settings`` as a PasteDeploy ini file (for the CLI, pserve or gunicorn in a subprocess)."""
    lines = ["[app:main]", "use = egg:compte_citoyen"]
    for key, value in settings.items():
        value = str(value).replace("%", "%%")  # ini values are interpolated by configparser
        if "\n" in value:
            value = "\n" + "\n".join("    " + part for part in value.splitlines() if part.strip())
        lines.append(f"{key} = {value}")
    if port is not None:
        lines += ["", "[server:main]", "use = egg:waitress#main", f"listen = 127.0.0.1:{port}", "threads = 4"]
    lines += ["", "[loggers]", "keys = root", "", "[handlers]", "keys = console", "", "[formatters]",
              "keys = generic", "", "[logger_root]", f"level = {log_level}", "handlers = console", "",
              "[handler_console]", "class = StreamHandler", "args = (sys.stderr,)", "level = NOTSET",
              "formatter = generic", "", "[formatter_generic]",
              "format = %(asctime)s %(levelname)-5.5s [%(name)s][%(process)d] %(message)s", ""]
    text = "\n".join(lines)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return str(path)


PG_DSN = os.environ.get("COMPTE_CITOYEN_PG_DSN", "host=127.0.0.1 port=5432 dbname=test")


def postgres_available() -> bool:
    try:
        import psycopg2
        psycopg2.connect(PG_DSN, connect_timeout=3).close()
        return True
    except Exception:
        return False


@pytest.fixture
def postgres_database():
    """A fresh PostgreSQL database (DSN string) for one test, dropped afterwards.

    Skipped when the server at 127.0.0.1:5432 is absent, unless COMPTE_CITOYEN_REQUIRE_POSTGRES is set (CI): then
    the test fails.
    """
    import secrets as _secrets

    import psycopg2
    if not postgres_available():
        if os.environ.get("COMPTE_CITOYEN_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL is required (COMPTE_CITOYEN_REQUIRE_POSTGRES) but not reachable: {PG_DSN}")
        pytest.skip(f"PostgreSQL is not reachable: {PG_DSN}")
    name = f"compte_citoyen_test_{_secrets.token_hex(6)}"
    admin = psycopg2.connect(PG_DSN)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    base = " ".join(part for part in PG_DSN.split() if not part.startswith("dbname="))
    try:
        yield f"{base} dbname={name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,))
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def relstorage_conf(path, dsn: str, blob_dir) -> str:
    """A ZConfig file for RelStorage on PostgreSQL (blobs stored in the database, a local blob cache)."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"""%import relstorage
<zodb main>
  cache-size 5000
  <relstorage>
    keep-history true
    blob-dir {blob_dir}
    shared-blob-dir false
    blob-cache-size 64mb
    <postgresql>
      dsn {dsn}
    </postgresql>
  </relstorage>
</zodb>
""")
    return f"zconfig://{path}"


# --- plugins: activating a plugin in a test (for the core's tests and the plugins' own) -------------

def activate_plugin(settings: dict, name: str, module: str | None = None, monkeypatch=None) -> None:
    """List the plugin ``name`` in ``compte_citoyen.plugins`` for this test's app (call before ``app``).

    Installed is not active: a plugin's tests activate it explicitly. When the plugin is not installed
    (its tests run from its source folder with ``PYTHONPATH``), pass its ``module`` (dotted name) and the
    ``monkeypatch`` fixture: it is then found as if its entry point were installed, for this test only.
    """
    from importlib.metadata import EntryPoint

    from . import plugins
    found = plugins.discover()
    if name not in found:
        if module is None or monkeypatch is None:
            raise LookupError(f"plugin {name!r} is not installed (installed: {', '.join(sorted(found))}); "
                              "pass its module and monkeypatch to use it from its source folder")
        entry_point = EntryPoint(name=name, value=module, group=plugins.ENTRY_POINT_GROUP)
        monkeypatch.setattr(plugins, "discover", lambda: {**found, name: entry_point})
    active = [line for line in str(settings.get("compte_citoyen.plugins", "")).split() if line]
    if name not in active:
        settings["compte_citoyen.plugins"] = "\n".join([*active, name])


# --- notifications: a local HTTP server standing for an SMS gateway ---------------------------------

@dataclass
class SMSGatewayServer:
    """A real HTTP server on a free loopback port that records each POST (an SMS) and answers ``status``.

    ``requests`` holds dicts ``{"path", "headers", "body", "json" (or None), "form" (or None)}``; set ``status``
    (e.g. 400 for a permanent refusal, 503 for an outage) before the worker runs.
    """
    host: str = "127.0.0.1"
    port: int = 0
    status: int = 200
    requests: list = field(default_factory=list)
    server: object = None
    thread: object = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/sms"

    def start(self):
        import json as _json
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                record = {"path": self.path, "headers": dict(self.headers), "body": body, "json": None, "form": None}
                if "json" in (self.headers.get("Content-Type") or ""):
                    record["json"] = _json.loads(body.decode("utf-8"))
                else:
                    record["form"] = {k: v[0] for k, v in parse_qs(body.decode("utf-8")).items()}
                gateway.requests.append(record)
                self.send_response(gateway.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "accepted"}' if gateway.status < 300 else b'{"error": "refused"}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.requests


@pytest.fixture
def sms_gateway_server(settings):
    """A local HTTP SMS gateway; the app's ``sms_gateway`` plugin is active and configured to use it."""
    server = SMSGatewayServer().start()
    activate_plugin(settings, "sms_gateway")
    settings.update({
        "compte_citoyen_sms_gateway.backend": "http",
        "compte_citoyen_sms_gateway.url": server.url,
        "compte_citoyen_sms_gateway.username": "clairval",
        "compte_citoyen_sms_gateway.password": "gateway-password",
        "compte_citoyen_sms_gateway.sender": "CLAIRVAL",
        "compte_citoyen_sms_gateway.timeout": "3",
    })
    yield server
    server.stop()


# --- billing: invoices and the local payment simulator ------------------------------------------------

def create_invoice(portal, household, regie: str = "ville", number: str | None = None, amount: int = 4250,
                   issue_date=None, due_date=None, label: str = "Restauration scolaire", member=None,
                   state: str | None = None):
    """Store an invoice of ``amount`` cents for the household (one line, for ``member`` if given)."""
    import datetime as _dt

    from .billing.models import INVOICES, Invoice, InvoiceLine
    issue_date = issue_date or local_today()
    number = number or f"{regie.upper()}-{portal.next_number('test-invoice:' + regie):05d}"
    line = InvoiceLine(label, amount, member.id if member is not None else "",
                       member.full_name if member is not None else "")
    invoice = Invoice(regie, number, household.id, issue_date, due_date or issue_date + _dt.timedelta(days=30),
                      [line], label=label, source="test")
    portal[INVOICES].add_invoice(invoice)
    if state is not None:
        portal[INVOICES].set_state(invoice, state)
    return invoice


def inline_simulator_transport(app):
    """Let the payment simulator post its server-to-server notification into ``app`` without a server (webtest
    tests); returns the list of (path, response status, posted fields) it posted."""
    import urllib.parse

    import webtest
    bank = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.99", "HTTP_HOST": "localhost"})
    posted = []

    def transport(url, data):
        path = urllib.parse.urlsplit(url).path
        response = bank.post(path, data, expect_errors=True)
        posted.append((path, response.status_int, dict(data)))
        return response.status_int
    app.registry.payment_simulator_transport = transport
    return posted


# --- procedures: requests filed directly, test files, the guided forms walked through webtest -----------------

def file_request(registry, portal, procedure_code: str, pages: dict | None = None, *, household=None,
                 account=None, member=None, paper=(), notify: bool = False):
    """File a request of ``procedure_code`` straight into the database (no web form), as the form would.

    ``pages`` maps page index -> answers; missing pages get the defaults below (valid answers of the shipped
    plugins' procedures). Returns the ``Submission``.
    """
    import datetime as _dt

    from .procedures.demo import FIRST_CHOICE, demo_request, file_answers
    from .procedures.registry import get_registry
    defaults = {
        "encombrants": {0: {"address": "12 rue des Lilas", "address_extra": "", "postcode": "75001",
                            "city": "Clairval", "pickup_date": FIRST_CHOICE, "phone": "0612345678"},
                        1: {"categories": ["furniture"], "items": "1 armoire", "volume": 1, "access": ""}},
        "inscription_scolaire": {0: {"school_year": FIRST_CHOICE, "level": "CP"},
                                 1: {"school": "École Jules Ferry", "previous_school": "", "derogation": False,
                                     "derogation_reason": "", "health": ""}},
        "periscolaire": {0: {"school_year": FIRST_CHOICE},
                         1: {"school": "École Jules Ferry", "canteen": ["monday"], "morning": [], "evening": [], "wednesday": False,
                             "start_date": local_today() + _dt.timedelta(days=10), "pai": False, "diet": ""}},
        "acte_naissance": {0: {"person_family_name": "Durand", "person_first_names": "Marie",
                               "event_date": _dt.date(1990, 1, 2), "event_place": "Clairval",
                               "father_family_name": "Durand", "father_first_names": "Luc",
                               "mother_family_name": "", "mother_first_names": "",
                               "document_type": "copie_integrale", "copies": 1, "quality": "self"},
                           1: {"civility": "Mme", "family_name": "Durand", "first_names": "Marie",
                               "email": "marie.durand@example.org", "phone": "", "address": "1 rue Haute",
                               "address_extra": "", "postcode": "69001", "city": "Lyon", "country": "France"}},
    }
    procedure = get_registry(registry).get(procedure_code)
    answers = dict(defaults.get(procedure_code, {}))
    answers.update(pages or {})
    if account is None and household is not None:
        account = portal["accounts"].for_household(household.id)
    return file_answers(demo_request(portal, registry), portal, procedure, answers, household=household,
                        account=account, member=member, paper=paper, notify=notify)


def pdf_bytes(extra: int = 0) -> bytes:
    """A small valid PDF document (``extra`` bytes of padding make it bigger)."""
    import io as _io

    from reportlab.pdfgen import canvas
    buffer = _io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.drawString(100, 750, "Justificatif de domicile")
    if extra:
        pdf.setTitle("x" * extra)
    pdf.save()
    return buffer.getvalue()


def png_bytes(size: tuple[int, int] = (20, 20)) -> bytes:
    import io as _io

    from PIL import Image
    buffer = _io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


def form_page(response, formid: str = "procedure-form"):
    """The form of a guided-form page: the deform form by id, else the page's multipart/POST form."""
    if formid in response.forms:
        return response.forms[formid]
    for form in response.forms.values():
        if form.method.upper() == "POST" and form.action and "deconnexion" not in form.action \
                and "csrf_token" in form.fields and ("next" in form.fields or "submit" in form.fields):
            return form
    raise AssertionError("no procedure form on the page")


def walk_encombrants(testapp, *, items: str = "1 canapé\n2 chaises", paper: bool = True):
    """File a bulky-item pick-up through "Les Services" as the logged-in citizen; returns the last response
    (the request's page, after the redirect)."""
    response = testapp.get("/services/voirie/encombrants")
    form = form_page(response)
    form["pickup_date"] = form.fields["pickup_date"][0].options[0][0]
    response = form.submit("next").follow()
    form = form_page(response)
    form["items"] = items
    form.fields["checkbox"][0].checked = True
    response = form.submit("next").follow()
    form = form_page(response)
    response = form.submit("next").follow()
    form = form_page(response)
    return form.submit("submit").follow()


def pdf_text(body: bytes) -> str:
    """The text drawn in a reportlab PDF (its content streams decoded), for assertions on PDF responses."""
    import base64
    import zlib
    out = []
    for match in re.finditer(rb"<<(.*?)>>\s*stream\r?\n(.*?)endstream", body, re.S):
        header, data = match.group(1), match.group(2).strip()
        if b"ASCII85Decode" in header:
            data = base64.a85decode(data[:-2] if data.endswith(b"~>") else data, adobe=False)
        if b"FlateDecode" in header:
            try:
                data = zlib.decompress(data)
            except zlib.error:
                continue
        for text in re.findall(rb"\((.*?)(?<!\\)\)\s*Tj", data, re.S):
            text = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), text)
            out.append(text.replace(b"\\(", b"(").replace(b"\\)", b")").decode("cp1252", "replace"))
    return "\n".join(out)


@pytest.fixture
def second_browser_page(chromium, live_server):
    """A second browser (its own cookies, e.g. for a staff member beside a citizen), axe-checked like
    ``browser_page``."""
    context = chromium.new_context(locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(15000)
    checked = CheckedPage(page, live_server.url)
    yield checked
    unchecked = checked.unchecked_pages()
    context.close()
    assert not unchecked, f"pages visited without an axe scan (call page.check_a11y()): {unchecked}"


def browser_staff_login(page, login: str, totp_secret: str, password: str = "staff password 2026!") -> None:
    """Staff login in a browser page (password, then the TOTP code), each page axe-checked; ends on /backoffice/."""
    import pyotp
    page.goto("/backoffice/connexion")
    page.check_a11y()
    page.get_by_label("Identifiant").fill(login)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Continuer").click()
    page.wait_for_url("**/backoffice/connexion/code")
    page.check_a11y()
    page.get_by_label("Code de sécurité").fill(pyotp.TOTP(totp_secret).now())
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/backoffice/")
    page.check_a11y()


def labelled_field(page, label: str):
    """The input of a browser page whose label is ``label`` (deform labels also hold " *" and a hidden
    "(obligatoire)")."""
    return page.get_by_label(re.compile(r"^\s*" + re.escape(label) + r"(\s*\*)?(\s*\(obligatoire\))?\s*$"))


def browser_citizen_login(page, code: str = "jdupont", password: str = "correct horse battery staple") -> None:
    """A citizen logs in from the home page's box, as the FAQ says; both pages axe-checked; ends on /accueil."""
    page.goto("/")
    page.check_a11y()
    page.get_by_label("Utilisateur").fill(code)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/accueil")
    page.check_a11y()
