"""Back office: staff login (password then TOTP), dashboard, staff list and journal.

The staff login has two steps. The password step only records a *pending* login in the session (the
security policy ignores it: a staff identity requires ``mfa``); the TOTP step then opens the real session
with ``security.log_in(..., mfa=True)``. Each TOTP code is accepted once (``StaffMember.last_totp_step``).
Failures of either step are throttled per login and per client address, and journaled.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass

import pyotp
from pyramid.events import BeforeRender, subscriber
from pyramid.httpexceptions import HTTPFound
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from .. import security
from ..authentication.passwords import verify_password
from ..i18n import _
from .models import get_throttle, journal

PENDING_KEY = "bo_pending"
PENDING_LIFETIME = 5 * 60  # seconds between the password step and the code step
MAX_FIELD = 128


@dataclass(frozen=True)
class Section:
    """A back-office section: its route, its label and the permission needed to see it."""
    route: str
    label: str
    permission: str
    description: str = ""


#: Role labels (message ids of ``security.ROLES``, written here so that they are extracted).
ROLE_LABELS = {
    security.ROLE_ADMIN: _("Administrator"),
    security.ROLE_VALIDATOR: _("Account validator"),
    security.ROLE_AGENT: _("Service agent"),
    security.ROLE_REGIE_MANAGER: _("Régie manager"),
}


def role_label(request, role: str) -> str:
    return request.translate(ROLE_LABELS.get(role, role))


#: The back-office sections, in menu order. Other areas provide the views of their sections; a section
#: whose route has no view yet is not shown, and the view's own permission decides who sees it (the one
#: written here is the fallback).
SECTIONS = [
    Section("bo_home", _("Dashboard"), security.BACKOFFICE),
    Section("bo_accounts", _("Accounts to validate"), security.VALIDATE_ACCOUNTS,
            _("Accounts waiting for validation, oldest first; validate or refuse them, record the régie references.")),
    Section("bo_requests", _("Requests"), security.PROCESS_REQUESTS,
            _("Requests submitted by citizens for your services.")),
    Section("bo_messages", _("Messages"), security.BACKOFFICE,
            _("Messages sent to citizens and scheduled reminders.")),
    Section("bo_invoices", _("Invoices"), security.MANAGE_REGIE,
            _("Invoices and payments of your régies.")),
    Section("bo_staff", _("Staff"), security.MANAGE_STAFF, _("Staff members and their roles.")),
    Section("bo_journal", _("Journal"), security.MANAGE_STAFF,
            _("Who looked at which file and who decided what, and when.")),
]


def view_permissions(registry) -> dict[str, str | None]:
    """Route name -> permission of its GET view, read once from the configuration introspector.

    The menu shows a section only when its view exists and the staff member has that view's own permission,
    so the menu and the views can never disagree.
    """
    cached = getattr(registry, "_compte_citoyen_bo_view_permissions", None)
    if cached is None:
        cached = {}
        for intr in registry.introspector.get_category("views") or []:
            view = intr["introspectable"]
            route_name = view.get("route_name")
            methods = view.get("request_methods")
            if not route_name or (methods and "GET" not in methods):
                continue
            permissions = [r.get("value") for r in intr["related"] if r.category_name == "permissions"]
            cached[route_name] = permissions[0] if permissions else None
        registry._compte_citoyen_bo_view_permissions = cached
    return cached


def is_staff(request) -> bool:
    identity = request.identity
    return identity is not None and getattr(identity, "kind", None) == security.STAFF_KIND


def visible_sections(request) -> list[Section]:
    """The sections the current staff member's roles give access to (and that exist)."""
    if not is_staff(request):
        return []
    available = view_permissions(request.registry)
    root = request.app_root
    return [s for s in SECTIONS
            if s.route in available and request.has_permission(available[s.route] or s.permission, root)]


@dataclass
class NavTab:
    url: str
    label: str
    current: bool


def bo_nav(request) -> list[NavTab]:
    current = request.matched_route.name if request.matched_route else None
    section = getattr(request, "bo_section", None) or current
    return [NavTab(request.route_url(s.route), request.translate(s.label), s.route == section)
            for s in visible_sections(request)]


@subscriber(BeforeRender)
def add_backoffice_globals(event):
    """Back-office pages share the portal layout, with the back-office menu in place of the citizen tabs."""
    request = event.get("request")
    if request is None or not request.path.startswith("/backoffice"):
        return
    nav = bo_nav(request) if is_staff(request) else []
    event["bo_nav"] = nav
    event["nav_tabs"] = nav
    body_class = event.get("body_class") or ""
    event["body_class"] = (body_class + " backoffice").strip()


# --- login ------------------------------------------------------------------------------------------

def _now() -> float:
    return time.time()


def _throttle_keys(request, login: str) -> list[tuple[str, str]]:
    return [("login", login.casefold()), ("addr", request.client_addr or "unknown")]


def _safe_next(value: str | None) -> str:
    """Only back-office paths of this site (never an open redirect)."""
    if value and value.startswith("/backoffice/") and not value.startswith("//") and "\\" not in value:
        return value
    return ""


def _too_many(request, wait: int) -> str:
    return request.translate(_("Too many failed attempts. Wait ${seconds} seconds, then try again.",
                               mapping={"seconds": wait}))


@view_config(route_name="bo_login", renderer="templates/login.pt", permission=NO_PERMISSION_REQUIRED)
def login_view(request):
    if is_staff(request):
        return HTTPFound(request.route_url("bo_home"))
    error = ""
    login = ""
    next_url = _safe_next(request.params.get("next"))
    if request.method == "POST":
        login = (request.POST.get("login") or "").strip()[:MAX_FIELD]
        password = (request.POST.get("password") or "")[:1024]
        portal = request.app_root
        throttle = get_throttle(portal)
        keys = _throttle_keys(request, login)
        now = _now()
        wait = throttle.wait_seconds(keys, now)
        if wait:
            error = _too_many(request, wait)
        else:
            staff = portal["staff"].get(login) if login else None
            ok, new_hash = verify_password(staff.password_hash if staff is not None else None, password)
            if ok and staff is not None and staff.active:
                if new_hash:
                    staff.password_hash = new_hash
                request.session[PENDING_KEY] = {"login": staff.login, "at": now, "next": next_url}
                return HTTPFound(request.route_url("bo_otp"))
            throttle.failed(keys, now)
            portal["journal"].record("anonymous", "staff-login-failed", f"staff:{login}", "password",
                                     request.client_addr or "")
            error = request.translate(_("The login or the password is wrong."))
    return {"page_title": request.translate(_("Back office: log in")), "error": error, "login": login,
            "next": next_url}


def _pending_staff(request):
    pending = request.session.get(PENDING_KEY)
    if not pending or _now() - pending.get("at", 0) > PENDING_LIFETIME:
        request.session.pop(PENDING_KEY, None)
        return None, None
    staff = request.app_root["staff"].get(pending.get("login", ""))
    if staff is None or not staff.active:
        return None, None
    return staff, pending


def verify_totp(staff, code: str, now: float) -> bool:
    """Check ``code`` against the previous, current and next 30-second steps; accept each step once."""
    code = "".join((code or "").split())
    if not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(staff.totp_secret)
    current = int(now // totp.interval)
    for step in (current - 1, current, current + 1):
        if step <= (staff.last_totp_step or 0):
            continue
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            staff.last_totp_step = step
            return True
    return False


@view_config(route_name="bo_otp", renderer="templates/otp.pt", permission=NO_PERMISSION_REQUIRED)
def otp_view(request):
    staff, pending = _pending_staff(request)
    if staff is None:
        request.session.flash(request.translate(_("Your login has expired: enter your login and password again.")))
        return HTTPFound(request.route_url("bo_login"))
    error = ""
    if request.method == "POST":
        portal = request.app_root
        throttle = get_throttle(portal)
        keys = _throttle_keys(request, staff.login)
        now = _now()
        wait = throttle.wait_seconds(keys, now)
        if wait:
            error = _too_many(request, wait)
        elif verify_totp(staff, request.POST.get("code", "")[:MAX_FIELD], now):
            throttle.succeeded(keys[:1])
            next_url = pending.get("next") or request.route_url("bo_home")
            security.log_in(request, staff, security.STAFF_KIND, mfa=True)
            portal["journal"].record(staff.userid, "staff-login", staff.userid, "", request.client_addr or "")
            if random.random() < 0.02:
                throttle.purge(now)
            return HTTPFound(next_url)
        else:
            throttle.failed(keys, now)
            portal["journal"].record("anonymous", "staff-login-failed", staff.userid, "code",
                                     request.client_addr or "")
            error = request.translate(_("This code is wrong or has already been used. Enter the code your "
                                        "authenticator app shows now."))
    return {"page_title": request.translate(_("Back office: security code")), "error": error}


@view_config(route_name="bo_logout", request_method="POST", permission=NO_PERMISSION_REQUIRED)
def logout_view(request):
    if is_staff(request):
        journal(request, "staff-logout", request.identity.userid)
    security.log_out(request)
    return HTTPFound(request.route_url("bo_login"))


# --- dashboard, staff, journal ------------------------------------------------------------------------

@view_config(route_name="bo_home", renderer="templates/home.pt", permission=security.BACKOFFICE)
def home_view(request):
    staff = request.identity
    sections = [s for s in visible_sections(request) if s.route != "bo_home"]
    counts = {}
    if request.has_permission(security.VALIDATE_ACCOUNTS, request.app_root):
        accounts = request.app_root["accounts"]
        counts["bo_accounts"] = accounts.waiting_count()
    return {
        "page_title": request.translate(_("Back office")),
        "staff": staff,
        "roles": [role_label(request, r) for r in staff.roles],
        "sections": sections,
        "counts": counts,
    }


@view_config(route_name="bo_staff", renderer="templates/staff.pt", permission=security.MANAGE_STAFF)
def staff_view(request):
    members = list(request.app_root["staff"].values())
    return {
        "page_title": request.translate(_("Staff")),
        "members": members,
        "role_label": lambda r: role_label(request, r),
    }


JOURNAL_PAGE = 100


@view_config(route_name="bo_journal", renderer="templates/journal.pt", permission=security.MANAGE_STAFF)
def journal_view(request):
    """The journal, most recent first, page by page (``?page=``), optionally for one target."""
    from ..indexes import Pager, page_number
    from .accounts import local_time
    portal = request.app_root
    target = (request.params.get("cible") or "").strip()[:MAX_FIELD]
    log = portal["journal"]
    if target:  # nothing counts a target's entries: read one more to know whether a next page exists
        pager = Pager(page_number(request), JOURNAL_PAGE)
        entries = pager.fill(log.for_target(target, JOURNAL_PAGE + 1, pager.offset))
    else:
        pager = Pager(page_number(request), JOURNAL_PAGE, total=len(log)).clamp()
        entries = log.latest(JOURNAL_PAGE, pager.offset)
    query = {"cible": target} if target else {}
    pager.build(lambda n: request.route_url("bo_journal", _query={**query, "page": n}))
    return {"page_title": request.translate(_("Journal")), "entries": entries, "target": target,
            "local_time": local_time, "pager": pager}
