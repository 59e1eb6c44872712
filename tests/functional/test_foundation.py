"""The foundation: app factory, pages, security baseline, plugins, evolve steps."""
import re

import pytest
from pyramid.exceptions import ConfigurationError


def test_home_page_in_french_with_both_boxes(testapp):
    response = testapp.get("/")
    html = response.text
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert "<html lang=\"fr\"" in html
    assert "Mon Compte Citoyen" in html
    assert ">Utilisateur<" in html and ">Mot de passe<" in html
    assert "Se connecter" in html and "Mot de passe oublié" in html
    assert "Créer votre compte" in html and "Confirmer" in html
    # login box comes first (top left), creation box second (top right)
    assert html.index("box--login") < html.index("box--register")
    assert html.count("<h1") == 1
    assert 'href="#contenu"' in html


def test_layout_links_follow_the_host_of_each_request(testapp):
    """The layout's links (``layout.site_urls``) are made once per application URL: each host gets its own, and the
    cache of them stays bounded whatever Host headers arrive."""
    from compte_citoyen.layout import SITE_URLS_KEPT

    for host in ("portail.clairval.example", "localhost", "portail.clairval.example"):
        html = testapp.get("/aide", extra_environ={"HTTP_HOST": host}).text
        for path in ("/", "/aide", "/conditions-generales", "/donnees-personnelles", "/accessibilite",
                     "/static/css/portal.css", "/static/js/portal.js", "/static/logo.svg"):
            assert f'="http://{host}{path}' in html, (host, path)
        other = "localhost" if host != "localhost" else "portail.clairval.example"
        assert f"http://{other}/" not in html
    for index in range(SITE_URLS_KEPT * 2):
        testapp.get("/aide", extra_environ={"HTTP_HOST": f"h{index}.example"})
    cache = testapp.app.registry.__dict__["_compte_citoyen_site_urls"]
    assert 0 < len(cache) <= SITE_URLS_KEPT


def test_faq_rendered_from_the_product_text(testapp):
    html = testapp.get("/aide").text
    for question in ["Comment créer un Compte Citoyen ?", "À quoi sert le cryptogramme qu’il faut ressaisir ?",
                     "Pourquoi n’ai-je aucune facture dans mon compte ?"]:
        assert question in html
    assert "Impossible d’ajouter cet article, vous devez d’abord payer ceux en attente dans votre panier" in html


@pytest.mark.parametrize("path", ["/conditions-generales", "/donnees-personnelles", "/accessibilite"])
def test_editorial_pages(testapp, path):
    html = testapp.get(path).text
    assert html.count("<h1") == 1


def test_security_headers(testapp):
    response = testapp.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cache-Control"] == "no-store"
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age" in cookie


def test_no_external_asset(testapp):
    html = testapp.get("/").text
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith(("/", "#", "http://localhost")), url
    assert "<script>" not in html and "onclick" not in html


def test_protected_page_redirects_to_login(testapp):
    response = testapp.get("/accueil", status=302)
    assert "/connexion" in response.location


def test_backoffice_redirects_to_staff_login(testapp):
    response = testapp.get("/backoffice/", status=302)
    assert "/backoffice/connexion" in response.location


def test_csrf_required_on_unsafe_requests(testapp):
    testapp.post("/connexion", {"code": "x", "password": "y"}, status=400)


def test_not_found_in_french(testapp):
    response = testapp.get("/nulle-part", status=404)
    assert "Page introuvable" in response.text


def test_health(testapp):
    assert testapp.get("/sante").json["status"] == "ok"


def test_root_created_with_evolve_steps(portal_tx, registry):
    from compte_citoyen.evolution import pending_steps
    with portal_tx() as portal:
        assert "accounts" in portal and "households" in portal and "outbox" in portal
        assert pending_steps(portal, registry) == []


def test_production_refuses_default_secret(tmp_path):
    from compte_citoyen import main
    from compte_citoyen.testing import base_settings
    settings = base_settings(tmp_path, **{"compte_citoyen.production": "true",
                                          "compte_citoyen.testing": "false",
                                          "compte_citoyen.captcha": "image",
                                          "compte_citoyen.secret": "changeme"})
    with pytest.raises(ConfigurationError):
        main({}, **settings)


def test_fixed_captcha_refused_outside_tests(tmp_path):
    from compte_citoyen import main
    from compte_citoyen.testing import base_settings
    settings = base_settings(tmp_path, **{"compte_citoyen.testing": "false"})
    with pytest.raises(ConfigurationError):
        main({}, **settings)


def test_unknown_plugin_refused(tmp_path):
    from compte_citoyen import main
    from compte_citoyen.testing import base_settings
    with pytest.raises(ConfigurationError, match="not installed"):
        main({}, **base_settings(tmp_path, **{"compte_citoyen.plugins": "nope"}))


def test_native_date_widget_round_trip(app):
    """deform's DateInputWidget posts a mapping; our native <input type=date> template keeps that shape."""
    import datetime

    import colander
    import deform
    from pyramid.scripting import prepare

    env = prepare(registry=app.registry)
    try:
        schema = colander.Schema()
        schema.add(colander.SchemaNode(colander.Date(), name="day", widget=deform.widget.DateInputWidget()))
        form = deform.Form(schema)
        html = form.render({"day": datetime.date(2026, 12, 24)})
        assert 'type="date"' in html and 'value="2026-12-24"' in html
        controls = [("__start__", "day:mapping"), ("date", "2027-01-05"), ("__end__", "day:mapping")]
        assert form.validate(controls) == {"day": datetime.date(2027, 1, 5)}
    finally:
        env["closer"]()


def test_conflicting_requests_are_replayed_after_a_growing_random_delay(monkeypatch, caplog):
    import logging
    from types import SimpleNamespace

    from ZODB.POSException import ConflictError

    from compte_citoyen import database
    delays = []
    monkeypatch.setattr(database.time, "sleep", delays.append)
    monkeypatch.setattr(database.random, "uniform", lambda low, high: high)
    registry = SimpleNamespace(settings={"compte_citoyen.retry.max_delay_ms": "50"})
    conflict = ConflictError(oid=b"\0" * 7 + b"\x2a", serials=(b"\0" * 8, b"\0" * 8), data=b"cBTrees.OOBTree\nOOBucket\n")
    caplog.set_level(logging.INFO, logger="compte_citoyen.database")
    for attempt in range(5):
        request = SimpleNamespace(registry=registry, method="POST", path="/brouillons/abc")
        event = SimpleNamespace(request=request, environ={"retry.attempt": attempt}, exception=conflict)
        database.backoff_before_retry(event)
    assert delays == [0.01, 0.02, 0.04, 0.05, 0.05]
    # each replay is logged with the object that conflicted: how an operator finds a hot spot
    assert len(caplog.records) == 5
    assert "replaying POST /brouillons/abc (attempt 1)" in caplog.records[0].getMessage()
    assert "oid 0x2a" in caplog.records[0].getMessage()


def test_flash_messages_never_outgrow_the_session_cookie(app):
    """The session lives in a signed cookie (4 KB at most in a browser): a client that never opens the page
    showing the messages keeps only the last few, without repeats, and the response never fails."""
    from pyramid.interfaces import ISessionFactory
    from pyramid.response import Response
    from pyramid.testing import DummyRequest

    from compte_citoyen.security import MAX_FLASH_MESSAGES
    factory = app.registry.getUtility(ISessionFactory)
    request = DummyRequest()
    session = factory(request)
    for number in range(60):
        session.flash(f"Votre demande est envoyée sous le numéro 2026-{number:06d}. Un accusé de réception "
                      "vous est envoyé par courriel.")
        session.flash("Votre brouillon est enregistré.")
    response = Response()
    session._set_cookie(response)  # what the response callback does; raised past 4 KB before the bound
    assert len(response.headers["Set-Cookie"]) < 2000
    messages = session.pop_flash()
    assert len(messages) == MAX_FLASH_MESSAGES
    assert messages[-2:] == ["Votre demande est envoyée sous le numéro 2026-000059. Un accusé de réception "
                             "vous est envoyé par courriel.", "Votre brouillon est enregistré."]


def test_session_cookie_sent_again_only_when_the_session_changed(app, testapp, portal_tx, monkeypatch):
    """Every page pops the flash messages: an empty queue must not re-sign and re-send the cookie on each page
    (it is sent again when a message was shown, or past the session's reissue time, which keeps the idle
    timeout sliding)."""
    import time as time_module

    from pyramid import session as pyramid_session

    from compte_citoyen.testing import create_citizen, login_citizen
    with portal_tx() as portal:
        create_citizen(portal)
    assert login_citizen(testapp).status_int == 302
    testapp.get("/accueil")
    assert "Set-Cookie" not in testapp.get("/accueil").headers
    assert "Set-Cookie" not in testapp.get("/demandes").headers
    # popping a message does change the session (the cookie that no longer holds it is sent)
    from pyramid.interfaces import ISessionFactory
    from pyramid.testing import DummyRequest
    request = DummyRequest()
    session = app.registry.getUtility(ISessionFactory)(request)
    assert session.pop_flash() == [] and not session._dirty
    session.flash("Votre brouillon est enregistré.")
    assert session.pop_flash() == ["Votre brouillon est enregistré."] and session._dirty
    # past the reissue time, a page re-sends the cookie with a new timestamp (the idle timeout slides)
    later = time_module.time() + 120
    monkeypatch.setattr(pyramid_session.time, "time", lambda: later)
    assert "cc_session=" in testapp.get("/accueil").headers.get("Set-Cookie", "")
