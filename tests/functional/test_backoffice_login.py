"""Back office: staff login with password then TOTP, single-use codes, throttling, roles, journal."""
import re
import time

import pyotp
import pytest

from compte_citoyen import testing

PASSWORD = "staff password 2026!"


def _token(response):
    return re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)


@pytest.fixture
def admin(portal_tx):
    with portal_tx() as portal:
        staff = testing.create_staff(portal, "admin1", PASSWORD, roles=("admin",), name="Alice Admin")
        return staff.totp_secret


def _password_step(testapp, login="admin1", password=PASSWORD):
    response = testapp.get("/backoffice/connexion")
    return testapp.post("/backoffice/connexion", {"login": login, "password": password,
                                                  "csrf_token": _token(response)})


def test_login_with_password_and_totp(testapp, admin, portal_tx):
    response = testing.login_staff(testapp, "admin1", PASSWORD, admin)
    assert response.status_int == 302
    assert response.location.endswith("/backoffice/")
    home = response.follow()
    assert home.html.find("h1").text == "Back-office"
    assert "Alice Admin" in home.text
    assert "Administrateur" in home.text
    # the back-office menu replaces the citizen tabs
    assert 'href="http://localhost/backoffice/agents"' in home.text
    assert "backoffice" in home.html.find("body")["class"]
    with portal_tx() as portal:
        actions = [e.action for e in portal["journal"].latest(10)]
        assert "staff-login" in actions


def test_password_step_alone_does_not_log_in(testapp, admin):
    response = _password_step(testapp)
    assert response.status_int == 302 and response.location.endswith("/backoffice/connexion/code")
    # the pending login is not an identity: the dashboard still asks for the login
    response = testapp.get("/backoffice/", status=302)
    assert "/backoffice/connexion" in response.location


def test_wrong_password_refused_without_saying_which(testapp, admin, portal_tx):
    response = _password_step(testapp, password="wrong password here")
    assert response.status_int == 200
    assert "L’identifiant ou le mot de passe est incorrect." in response.text
    unknown = _password_step(testapp, login="nobody")
    assert "L’identifiant ou le mot de passe est incorrect." in unknown.text
    with portal_tx() as portal:
        entries = portal["journal"].latest(10)
        assert [e.action for e in entries].count("staff-login-failed") == 2
        assert all("wrong password" not in e.detail for e in entries)


def test_code_step_without_password_step_goes_back(testapp, admin):
    response = testapp.get("/backoffice/connexion/code", status=302)
    assert response.location.endswith("/backoffice/connexion")


def test_totp_code_accepted_once(testapp, app, admin):
    import webtest
    code = pyotp.TOTP(admin).now()
    response = _password_step(testapp).follow()
    response = testapp.post("/backoffice/connexion/code", {"code": code, "csrf_token": _token(response)})
    assert response.status_int == 302
    # the same code replayed from another browser is refused
    other = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "192.0.2.11", "HTTP_HOST": "localhost"})
    response = _password_step(other).follow()
    response = other.post("/backoffice/connexion/code", {"code": code, "csrf_token": _token(response)})
    assert response.status_int == 200
    assert "déjà été utilisé" in response.text
    other.get("/backoffice/", status=302)


def test_wrong_code_refused(testapp, admin):
    response = _password_step(testapp).follow()
    response = testapp.post("/backoffice/connexion/code", {"code": "000000x", "csrf_token": _token(response)})
    assert response.status_int == 200
    assert 'aria-invalid="true"' in response.text


def test_failures_slow_down_the_login(testapp, admin, monkeypatch):
    from compte_citoyen.backoffice import views
    now = [time.time()]
    monkeypatch.setattr(views, "_now", lambda: now[0])
    for _ in range(3):
        response = _password_step(testapp, password="wrong password")
        assert "incorrect" in response.text
    # the 4th attempt, even with the right password, must wait
    response = _password_step(testapp)
    assert response.status_int == 200
    assert "Trop de tentatives" in response.text
    now[0] += 3
    response = _password_step(testapp)
    assert response.status_int == 302


def test_failures_per_address_slow_down_every_login(testapp, admin, portal_tx, monkeypatch):
    from compte_citoyen.backoffice import views
    now = [time.time()]
    monkeypatch.setattr(views, "_now", lambda: now[0])
    for i in range(10):
        _password_step(testapp, login=f"guess{i}", password="wrong password")
    response = _password_step(testapp)
    assert "Trop de tentatives" in response.text


def test_logout_ends_the_session(testapp, admin):
    testing.login_staff(testapp, "admin1", PASSWORD, admin)
    home = testapp.get("/backoffice/")
    testapp.post("/backoffice/deconnexion", {"csrf_token": _token(home)}, status=302)
    testapp.get("/backoffice/", status=302)


def test_citizen_session_cannot_reach_the_back_office(testapp, portal_tx):
    with portal_tx() as portal:
        testing.create_citizen(portal, validated=True)
    response = testing.login_citizen(testapp)
    if response.status_int != 302:
        pytest.skip("citizen login not available yet")
    testapp.get("/backoffice/", status=403)


@pytest.mark.parametrize("next_url,expected", [
    ("/backoffice/comptes", "/backoffice/comptes"),
    ("//evil.example/backoffice/", "/backoffice/"),
    ("https://evil.example/", "/backoffice/"),
])
def test_login_returns_to_the_page_asked_but_never_elsewhere(testapp, admin, next_url, expected):
    page = testapp.get("/backoffice/connexion", {"next": next_url})
    response = testapp.post("/backoffice/connexion", {"login": "admin1", "password": PASSWORD,
                                                      "next": next_url, "csrf_token": _token(page)})
    page = response.follow()
    response = testapp.post("/backoffice/connexion/code", {"code": pyotp.TOTP(admin).now(),
                                                           "csrf_token": _token(page)})
    assert response.status_int == 302
    assert response.location in (expected, "http://localhost" + expected)


def test_inactive_staff_cannot_log_in(testapp, admin, portal_tx):
    with portal_tx() as portal:
        portal["staff"]["admin1"].active = False
    response = _password_step(testapp)
    assert response.status_int == 200 and "incorrect" in response.text


def test_pending_login_expires(testapp, admin, monkeypatch):
    from compte_citoyen.backoffice import views
    page = _password_step(testapp).follow()
    now = time.time() + views.PENDING_LIFETIME + 1
    monkeypatch.setattr(views, "_now", lambda: now)
    response = testapp.post("/backoffice/connexion/code", {"code": pyotp.TOTP(admin).now(),
                                                           "csrf_token": _token(page)})
    assert response.status_int == 302 and response.location.endswith("/backoffice/connexion")
    testapp.get("/backoffice/", status=302)
