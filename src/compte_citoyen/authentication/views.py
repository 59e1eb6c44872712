"""Citizen login and logout, the cryptogramme's image and sound, and the CSRF failure page.

Account creation is in ``registration.py`` and password recovery / change in ``recovery.py`` (same package).
"""
from __future__ import annotations

from pyramid.exceptions import BadCSRFToken
from pyramid.httpexceptions import HTTPFound, HTTPNotFound
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import exception_view_config, view_config

from .. import security
from ..backoffice.models import journal
from ..i18n import _
from . import captcha, throttle
from .models import CLOSED, code_key
from .passwords import verify_password

#: longer inputs are refused before hashing (argon2 cost grows with the input); far above any real password
MAX_PASSWORD_INPUT = 1024
LOGIN_SCOPE = "login"


def safe_next(request, value: str | None, default: str | None = None) -> str:
    """A local path to go back to after login; anything else (other site, scheme, //host) is ignored."""
    default = default or request.route_url("citizen_home")
    if not value or not isinstance(value, str):
        return default
    value = value.strip()
    # browsers drop tabs and newlines inside URLs ("/\t/evil.example" becomes "//evil.example")
    if (not value.startswith("/") or value.startswith("//") or "\\" in value
            or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value)
            or value.startswith("/deconnexion")):
        return default
    return request.application_url + value


def is_citizen(request) -> bool:
    identity = request.identity
    return identity is not None and getattr(identity, "kind", None) == security.CITIZEN_KIND


def _login_page(request, code: str = "", error: str | None = None, wait: int = 0,
                need_captcha: bool = False, captcha_error: str | None = None) -> dict:
    return {
        "page_title": request.translate(_("Log in")),
        "login_code": code,
        "error": error,
        "wait": wait,
        "next": request.params.get("next", ""),
        "need_captcha": need_captcha,
        "captcha_token": captcha.new_challenge(request) if need_captcha else None,
        "captcha_error": captcha_error,
        "captcha_macros": captcha.captcha_macros() if need_captcha else None,
    }


def _wait_message(request, wait: int) -> str:
    return request.translate(_("Too many unsuccessful attempts. Wait ${seconds} seconds, then try again.",
                               mapping={"seconds": wait}))


@view_config(route_name="login", request_method="GET", renderer="templates/login.pt",
             permission=NO_PERMISSION_REQUIRED)
def login_form(request):
    if is_citizen(request):
        return HTTPFound(safe_next(request, request.params.get("next")))
    code = request.params.get("code", "")[:200]
    verdict = throttle.check(request, LOGIN_SCOPE, code_key(code)) if code else throttle.Verdict()
    return _login_page(request, code, need_captcha=verdict.captcha)


@view_config(route_name="login", request_method="POST", renderer="templates/login.pt",
             permission=NO_PERMISSION_REQUIRED)
def login(request):
    """Check the code d'accès and password: one message for every failure, comparable time."""
    code = (request.POST.get("code") or "").strip()[:200]
    password = request.POST.get("password") or ""
    key = code_key(code)
    verdict = throttle.check(request, LOGIN_SCOPE, key)
    if captcha.REFRESH_BUTTON in request.POST and not request.POST.get("captcha_answer", "").strip():
        return _login_page(request, code, need_captcha=verdict.captcha)
    if verdict.wait:
        request.response.status = 429
        return _login_page(request, code, error=_wait_message(request, verdict.wait), wait=verdict.wait)
    # failures answer 200: pyramid_tm vetoes the commit of 4xx responses, and the failure counters, the
    # journal and the consumed cryptogramme must be committed
    if verdict.captcha and not captcha.check_posted(request):
        return _login_page(request, code, need_captcha=True,
                           error=request.translate(_("For your security, copy the cryptogramme as well.")),
                           captcha_error=request.translate(_("The characters typed do not match the cryptogramme "
                                                             "(or it has expired): copy the new image shown.")))
    accounts = request.app_root["accounts"]
    account = accounts.get_by_code(code) if key else None
    usable = account is not None and account.state != CLOSED and len(password) <= MAX_PASSWORD_INPUT
    stored_hash = account.password_hash if usable else None
    matches, new_hash = verify_password(stored_hash, password[:MAX_PASSWORD_INPUT])
    if not matches:
        after = throttle.record_failure(request, LOGIN_SCOPE, key)
        journal(request, "login-failed", f"account:{account.key}" if account is not None else "",
                "" if account is not None else "unknown code d'accès")
        message = request.translate(_("Unknown access code or wrong password. Check what you typed and try again."))
        return _login_page(request, code, error=message, need_captcha=after.captcha)
    if new_hash:
        account.password_hash = new_hash
    throttle.record_success(request, LOGIN_SCOPE, key)
    security.log_in(request, account, security.CITIZEN_KIND)
    journal(request, "login", f"account:{account.key}")
    return HTTPFound(safe_next(request, request.POST.get("next") or request.GET.get("next")))


@view_config(route_name="logout", request_method="POST", permission=NO_PERMISSION_REQUIRED)
def logout(request):
    """End the session here and on the server (a copied cookie stops working)."""
    identity = request.identity
    if identity is not None and getattr(identity, "kind", None) == security.CITIZEN_KIND:
        journal(request, "logout", f"account:{identity.key}")
    security.log_out(request)
    return HTTPFound(request.route_url("home"))


@view_config(route_name="logout", request_method="GET", renderer="templates/logout.pt",
             permission=NO_PERMISSION_REQUIRED)
def logout_form(request):
    """Logging out changes state, so it is a POST; a GET (bookmark, typed address) shows the button."""
    if request.identity is None:
        return HTTPFound(request.route_url("home"))
    return {"page_title": request.translate(_("Log out"))}


# --- cryptogramme media ---------------------------------------------------------------------------

def _media(request, render, content_type: str) -> Response:
    answer = captcha.answer_for(request, request.matchdict["token"])
    if not answer:
        raise HTTPNotFound()
    response = Response(body=render(answer), content_type=content_type)
    response.cache_control = "no-store"
    return response


@view_config(route_name="captcha_image", permission=NO_PERMISSION_REQUIRED)
def captcha_image(request):
    return _media(request, captcha.render_image, "image/png")


@view_config(route_name="captcha_audio", permission=NO_PERMISSION_REQUIRED)
def captcha_audio(request):
    response = _media(request, captcha.render_audio, "audio/wav")
    response.content_disposition = "inline; filename=cryptogramme.wav"
    return response


@view_config(route_name="captcha_new", permission=NO_PERMISSION_REQUIRED)
def captcha_new(request):
    """Without JavaScript: go back to the page (a local path), which shows a new cryptogramme."""
    return HTTPFound(safe_next(request, request.params.get("next"), request.route_url("home")))


# --- CSRF failure ---------------------------------------------------------------------------------

@exception_view_config(BadCSRFToken, renderer="templates/csrf_failure.pt")
def csrf_failure(exc, request):
    """The form's security token is missing or belongs to an earlier session (expired, logged out)."""
    request.response.status = 400
    referer = request.referer or ""
    back = request.route_url("home")
    if referer.startswith(request.application_url + "/"):
        back = referer
    return {"page_title": request.translate(_("Your session has expired")), "back_url": back}
