"""Security: the Pyramid 2 security policy, roles, permissions, server-side sessions.

Authentication state lives in the signed session cookie as an opaque session id; the id's hash is recorded
on the account (or staff member), so logging out or changing a password ends it on the server side and a
copied cookie stops working. Idle expiry comes from the session cookie's timeout, absolute expiry from the
server-side record.
"""
from __future__ import annotations

import datetime
import hashlib
import secrets

from pyramid.authorization import ACLHelper, ALL_PERMISSIONS, Allow, Authenticated, DENY_ALL, Everyone
from pyramid.csrf import SessionCSRFStoragePolicy
from pyramid.session import JSONSerializer, SignedCookieSessionFactory

# Permissions
CITIZEN = "citizen"
BACKOFFICE = "backoffice"
MANAGE_STAFF = "manage_staff"
VALIDATE_ACCOUNTS = "validate_accounts"
VIEW_CITIZEN_FILE = "view_citizen_file"
PROCESS_REQUESTS = "process_requests"
MANAGE_REGIE = "manage_regie"

# Staff roles: name -> (French label message id, permissions granted on the root)
ROLE_ADMIN = "admin"
ROLE_VALIDATOR = "validator"
ROLE_AGENT = "agent"
ROLE_REGIE_MANAGER = "regie_manager"
ROLES = {
    ROLE_ADMIN: "Administrator",
    ROLE_VALIDATOR: "Account validator",
    ROLE_AGENT: "Service agent",
    ROLE_REGIE_MANAGER: "Régie manager",
}

ROOT_ACL = [
    (Allow, "citizen", CITIZEN),
    (Allow, "staff", BACKOFFICE),
    (Allow, f"role:{ROLE_ADMIN}", ALL_PERMISSIONS),
    (Allow, f"role:{ROLE_VALIDATOR}", (VALIDATE_ACCOUNTS, VIEW_CITIZEN_FILE)),
    (Allow, f"role:{ROLE_AGENT}", (PROCESS_REQUESTS, VIEW_CITIZEN_FILE)),
    (Allow, f"role:{ROLE_REGIE_MANAGER}", (MANAGE_REGIE,)),
    DENY_ALL,
]

CITIZEN_KIND = "citizen"
STAFF_KIND = "staff"


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def hash_token(token: str) -> str:
    """Tokens (session ids, reset links) are stored hashed: a database leak does not leak them."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


class SessionHolder:
    """Mixin for persistent principals (accounts, staff) that keep their open sessions server-side."""

    sessions = None  # OOBTree: hashed session id -> datetime opened

    def open_session(self, sid: str, now: datetime.datetime, absolute_timeout: int) -> None:
        from BTrees.OOBTree import OOBTree
        if self.sessions is None:
            self.sessions = OOBTree()
        limit = now - datetime.timedelta(seconds=absolute_timeout)
        for key, opened in list(self.sessions.items()):
            if opened < limit:
                del self.sessions[key]
        self.sessions[hash_token(sid)] = now

    def has_session(self, sid: str, now: datetime.datetime, absolute_timeout: int) -> bool:
        if not self.sessions or not sid:
            return False
        opened = self.sessions.get(hash_token(sid))
        return opened is not None and opened >= now - datetime.timedelta(seconds=absolute_timeout)

    def close_session(self, sid: str) -> None:
        if self.sessions is not None:
            self.sessions.pop(hash_token(sid), None)

    def close_all_sessions(self, keep: str | None = None) -> None:
        if self.sessions is None:
            return
        kept = hash_token(keep) if keep else None
        for key in list(self.sessions.keys()):
            if key != kept:
                del self.sessions[key]


def _load_identity(request):
    auth = request.session.get("auth")
    if not auth:
        return None
    settings = request.registry.settings
    timeout = settings["compte_citoyen.session.absolute_timeout"]
    now = utcnow()
    try:
        root = request.app_root
    except Exception:
        return None
    if auth.get("kind") == CITIZEN_KIND:
        folder = root.get("accounts")
        principal = folder.get_by_code(auth.get("id", "")) if folder is not None else None
    elif auth.get("kind") == STAFF_KIND and auth.get("mfa"):
        folder = root.get("staff")
        principal = folder.get(auth.get("id", "")) if folder is not None else None
    else:
        principal = None
    if principal is None or not principal.has_session(auth.get("sid"), now, timeout):
        return None
    if not getattr(principal, "active", True):
        return None
    return principal


class SecurityPolicy:
    """Identity from the server-checked session; permissions from ACLs and the principal's groups."""

    def __init__(self):
        self.helper = ACLHelper()

    def identity(self, request):
        return request.identity_cache

    def authenticated_userid(self, request):
        identity = self.identity(request)
        return identity.userid if identity is not None else None

    def effective_principals(self, request) -> list[str]:
        principals = [Everyone]
        identity = self.identity(request)
        if identity is not None:
            principals.append(Authenticated)
            principals.extend(identity.principals())
        return principals

    def permits(self, request, context, permission):
        return self.helper.permits(context, self.effective_principals(request), permission)

    def remember(self, request, userid, **kw):
        return []

    def forget(self, request, **kw):
        return []


def log_in(request, principal, kind: str, mfa: bool = True) -> None:
    """Start an authenticated session: a fresh session (new cookie, new CSRF token) and a server record."""
    settings = request.registry.settings
    request.session.invalidate()
    sid = new_token()
    principal.open_session(sid, utcnow(), settings["compte_citoyen.session.absolute_timeout"])
    request.session["auth"] = {"kind": kind, "id": principal.userid_key, "sid": sid, "mfa": mfa}
    request.session.new_csrf_token()
    request.identity_cache = principal if mfa else None


def log_out(request) -> None:
    """End the session on the server side too (the copied cookie no longer works)."""
    auth = request.session.get("auth") or {}
    identity = request.identity
    if identity is not None:
        identity.close_session(auth.get("sid"))
    request.session.invalidate()
    request.identity_cache = None


def current_sid(request) -> str | None:
    return (request.session.get("auth") or {}).get("sid")


#: messages kept in a flash queue: the session lives in a cookie, which a browser refuses past 4 KB
MAX_FLASH_MESSAGES = 4


def bounded_flash(session_factory):
    """The session class of ``session_factory`` whose flash queues keep only their last messages, without
    repeats: a client that never opens the page showing them (a script, a form sent again and again) would
    otherwise grow the cookie until the response fails."""

    class Session(session_factory):
        def flash(self, msg, queue="", allow_duplicate=True):
            storage = self.setdefault("_f_" + queue, [])  # where pyramid's flash keeps a queue
            if msg in storage:  # a repeat moves to the end
                storage.remove(msg)
            storage.append(msg)
            del storage[:-MAX_FLASH_MESSAGES]
            self.changed()

        def pop_flash(self, queue=""):
            # pyramid marks the session changed even when the queue is empty, so every page that shows the
            # flash messages re-signed and re-sent the cookie; it is now re-sent only when something was popped
            # (or at the session's ``reissue_time``, which keeps the idle timeout sliding)
            if "_f_" + queue not in self:
                return []
            return super().pop_flash(queue)

    return Session


def includeme(config):
    settings = config.get_settings()
    session_factory = SignedCookieSessionFactory(
        settings["compte_citoyen.secret"],
        cookie_name="cc_session",
        secure=settings["compte_citoyen.secure_cookies"],
        httponly=True,
        samesite="Lax",
        timeout=settings["compte_citoyen.session.idle_timeout"],
        reissue_time=60,
        max_age=settings["compte_citoyen.session.absolute_timeout"],
        serializer=JSONSerializer(),
    )
    config.set_session_factory(bounded_flash(session_factory))
    config.set_csrf_storage_policy(SessionCSRFStoragePolicy())
    config.set_default_csrf_options(require_csrf=True)
    config.set_security_policy(SecurityPolicy())
    config.set_default_permission(CITIZEN)
    config.add_request_method(_load_identity, "identity_cache", reify=True)
