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
FIXED_CAPTCHA = "AB12C"
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
