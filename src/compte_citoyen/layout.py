"""Page layout: template globals, navigation tabs, security headers, public pages and error pages."""
from __future__ import annotations

from dataclasses import dataclass

from pyramid.events import BeforeRender, subscriber
from pyramid.httpexceptions import HTTPFound
from pyramid.renderers import get_renderer
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import forbidden_view_config, notfound_view_config, view_config

from .i18n import _

STATIC_PREFIX = "/static/"

NAV_TABS = [
    ("citizen_home", _("Home")),
    ("services", _("Services")),
    ("my_requests", _("My requests")),
    ("my_accounts", _("My accounts")),
]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
       "form-action 'self'{form_action_extra}")


#: what the layout links to on every page (header, footer), and "Accueil" besides the tabs, by the name the
#: templates use
SITE_ROUTES = ("home", "faq", "terms", "privacy", "accessibility", "logout", "bo_logout", "my_account")
SITE_ASSETS = {
    "css": "compte_citoyen:static/css/portal.css",
    "favicon": "compte_citoyen:static/favicon.svg",
    "js": "compte_citoyen:static/js/portal.js",
    "logo": "compte_citoyen:static/logo.svg",
}
#: application URLs (host names) whose links are kept; a request for another empties the cache first
SITE_URLS_KEPT = 16


def site_urls(request) -> dict[str, str]:
    """The URLs of the layout and of the tabs (``SITE_ROUTES``, ``SITE_ASSETS``, ``NAV_TABS``) for this request's
    application URL, made once per application URL (scheme, host and script name) instead of on every page, which
    built fourteen of them with ``route_url`` and ``static_url`` (by profile, ``route_url`` alone took 7 % of the
    time of "Accueil")."""
    cache = request.registry.__dict__.setdefault("_compte_citoyen_site_urls", {})
    application_url = request.application_url
    urls = cache.get(application_url)
    if urls is None:
        urls = {name: request.route_url(name) for name in SITE_ROUTES + tuple(name for name, _label in NAV_TABS)}
        urls.update((name, request.static_url(spec)) for name, spec in SITE_ASSETS.items())
        if len(cache) >= SITE_URLS_KEPT:  # any Host header reaches the application: never grows without bound
            cache.clear()
        cache[application_url] = urls
    return urls


@dataclass
class Tab:
    url: str
    label: str
    current: bool


def nav_tabs(request, urls: dict[str, str] | None = None) -> list[Tab]:
    identity = request.identity
    if identity is None or getattr(identity, "kind", None) != "citizen":
        return []
    current = request.matched_route.name if request.matched_route else None
    sections = getattr(request, "nav_section", None) or current
    urls = urls if urls is not None else site_urls(request)
    return [Tab(urls[name], request.translate(label), name == sections) for name, label in NAV_TABS]


@subscriber(BeforeRender)
def add_globals(event):
    request = event.get("request")
    if request is None:
        return
    registry = request.registry
    layout = registry.__dict__.get("_compte_citoyen_layout")
    if layout is None:  # the same template object every time (it reloads itself when templates do)
        layout = registry.__dict__["_compte_citoyen_layout"] = get_renderer(
            "compte_citoyen:templates/layout.pt").implementation()
    event.setdefault("layout", layout)
    event.setdefault("city_name", registry.settings.get("compte_citoyen.city_name"))
    urls = site_urls(request)
    event.setdefault("site_urls", urls)
    identity = request.identity
    event.setdefault("user_label", identity.display_name if identity is not None else None)
    if identity is not None and getattr(identity, "kind", None) == "staff":
        event.setdefault("logout_url", urls["bo_logout"])
    else:
        event.setdefault("logout_url", urls["logout"])
    event.setdefault("nav_tabs", nav_tabs(request, urls))
    event.setdefault("flash_messages", request.session.pop_flash())
    event.setdefault("_", _)


def security_headers_tween_factory(handler, registry):
    settings = registry.settings
    csp = CSP.format(form_action_extra=(" " + settings["compte_citoyen.csp.form_action"])
                     if settings.get("compte_citoyen.csp.form_action") else "")
    hsts = settings.get("compte_citoyen.production")

    def tween(request):
        response = handler(request)
        headers = response.headers
        headers.setdefault("Content-Security-Policy", csp)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if hsts:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if not request.path.startswith(STATIC_PREFIX):
            # pages carry personal data or one-time tokens: never cached by the browser or a proxy
            headers["Cache-Control"] = "no-store"
            headers.setdefault("Pragma", "no-cache")
        return response
    return tween


# --- public pages ---------------------------------------------------------------------------------

@view_config(route_name="home", renderer="templates/home.pt", permission=NO_PERMISSION_REQUIRED)
def home(request):
    identity = request.identity
    if identity is not None and getattr(identity, "kind", None) == "citizen":
        return HTTPFound(request.route_url("citizen_home"))
    from .procedures.registry import get_registry
    return {
        "page_title": request.translate(_("Welcome")),
        "public_procedures": get_registry(request.registry).public_procedures(),
        "login_code": request.params.get("code", ""),
    }


@view_config(route_name="faq", renderer="templates/faq.pt", permission=NO_PERMISSION_REQUIRED)
def faq(request):
    from .content import load_faq
    return {"page_title": request.translate(_("Help")), "sections": load_faq(request.locale_name)}


DOCUMENTS = {"terms": _("General terms of use"), "privacy": _("Personal data"),
             "accessibility": _("Accessibility")}


def document_view(request):
    from .content import load_document
    name = request.matched_route.name
    return {"page_title": request.translate(DOCUMENTS[name]),
            "sections": load_document(name, request.locale_name)}


@view_config(route_name="health", renderer="json", permission=NO_PERMISSION_REQUIRED, require_csrf=False)
def health(request):
    """For the reverse proxy: answers only when the database answers."""
    root = request.app_root
    return {"status": "ok", "evolved": len(root.evolved)}


# --- errors ---------------------------------------------------------------------------------------

@notfound_view_config(renderer="templates/error.pt", append_slash=HTTPFound)
def not_found(request):
    request.response.status = 404
    return {"page_title": request.translate(_("Page not found")),
            "message": request.translate(_("This page does not exist or you cannot see it."))}


@forbidden_view_config(renderer="templates/error.pt")
def forbidden(request):
    if request.identity is None:
        if request.path.startswith("/backoffice"):
            return HTTPFound(request.route_url("bo_login", _query={"next": request.path_qs}))
        request.session.flash(request.translate(_("Please log in to reach this page.")))
        return HTTPFound(request.route_url("login", _query={"next": request.path_qs}))
    request.response.status = 403
    return {"page_title": request.translate(_("Access refused")),
            "message": request.translate(_("You are not allowed to see this page."))}


def includeme(config):
    for name in DOCUMENTS:
        config.add_view(document_view, route_name=name, renderer="templates/document.pt",
                        permission=NO_PERMISSION_REQUIRED)
    config.include("pyramid_chameleon")
    config.add_static_view("static", "compte_citoyen:static", cache_max_age=3600,
                           permission=NO_PERMISSION_REQUIRED)
    config.add_tween("compte_citoyen.layout.security_headers_tween_factory")
