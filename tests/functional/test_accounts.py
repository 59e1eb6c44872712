"""Citizen accounts: creation with cryptogramme, login, throttling, sessions (issue 3)."""
from __future__ import annotations

import datetime
import re

import pytest

from compte_citoyen.authentication import captcha, throttle
from compte_citoyen.authentication.models import PENDING
from compte_citoyen.household.workdays import local_today
from compte_citoyen.testing import FIXED_CAPTCHA, SMTPServer, create_citizen, csrf_token, login_citizen

GOOD_PASSWORD = "un cheval blanc sous la pluie"


def main_part(response) -> str:
    text = response.text
    return text[text.index("<main"):text.index("</main>")]


def accept_terms(testapp):
    page = testapp.get("/creer-votre-compte")
    form = page.forms["accept-terms-form"]
    form["accept"] = "yes"
    response = form.submit()
    assert response.status_int == 302 and response.location.endswith("/creer-votre-compte/formulaire")
    return response.follow()


def fill_registration(page, **overrides):
    form = page.forms["register"]
    values = {
        "civility": "Mme", "family_name": "Martin", "first_names": "Claire Anne", "birth_date": "1980-02-03",
        "address": "3 place de la Mairie", "postcode": "75001", "city": "Clairval",
        "email": "claire.martin@example.org", "phone": "01 23 45 67 89", "mobile": "+33 6 11 22 33 44",
        "code": "cmartin", "password": GOOD_PASSWORD, "password_confirm": GOOD_PASSWORD,
        "secret_question": "0", "secret_answer": "Médor", "answer": FIXED_CAPTCHA.lower(),
    }
    values.update(overrides)
    for name, value in values.items():
        if name == "birth_date" and name not in form.fields:
            name = "date"  # the date template posts deform's mapping {"date": ...}
        form[name] = value
    return form


def register(testapp, **overrides):
    page = accept_terms(testapp)
    return fill_registration(page, **overrides).submit("save")


def field_error(response, name_fragment: str) -> str:
    """The error text shown under the field whose id is ``item-<oid>`` and that holds ``name_fragment``."""
    html = response.text
    for match in re.finditer(r'<div\s[^>]*id="item-([^"]+)"[^>]*>(.*?)</div>\s*(?=<div|<input type="hidden" name="csrf)',
                             html, re.S):
        block = match.group(2)
        if (f'name="{name_fragment}"' in block or f'value="{name_fragment}:mapping"' in block
                or (name_fragment == "birth_date" and 'value="birth_date:mapping"' in block)):
            error = re.search(r'class="field__error"[^>]*>(.*?)</p>', block, re.S)
            return re.sub(r"<[^>]+>", "", error.group(1)).strip() if error else ""
    return ""


# --- account creation ---------------------------------------------------------------------------

def test_home_confirm_leads_to_terms_and_terms_must_be_accepted(testapp):
    home = testapp.get("/")
    link = re.search(r'<a class="button" href="([^"]+)"[^>]*>Confirmer</a>', home.text)
    assert link and link.group(1).endswith("/creer-votre-compte")
    terms = testapp.get("/creer-votre-compte")
    assert "Conditions générales" in terms.text
    assert "J’ai lu et j’accepte les conditions générales" in terms.text
    # refused without acceptance
    refused = terms.forms["accept-terms-form"].submit()
    assert refused.status_int == 200
    assert "vous devez accepter les conditions générales" in refused.text
    assert 'aria-invalid="true"' in refused.text
    # and the form cannot be reached directly
    direct = testapp.get("/creer-votre-compte/formulaire")
    assert direct.status_int == 302 and direct.location.endswith("/creer-votre-compte")


def test_registration_form_has_the_faq_labels(testapp):
    page = accept_terms(testapp)
    text = page.text
    for label in ["Civilité", "Nom de famille", "Prénoms", "Date de naissance", "Adresse", "Code postal", "Ville",
                  "Adresse électronique", "Téléphone", "Téléphone mobile", "Code d'accès", "Mot de passe",
                  "Confirmation du mot de passe", "Question secrète", "Réponse", "Cryptogramme"]:
        assert re.search(r"<label[^>]*>\s*" + re.escape(label) + r"\s*<", text), label
    assert ">Enregistrer</button>" in text
    # the rules of the code d'accès and the password are shown before typing
    assert "De 4 à 30 caractères" in text and "Au moins 12 caractères" in text
    # the answer of the cryptogramme is never in the page
    assert FIXED_CAPTCHA not in text and FIXED_CAPTCHA.lower() not in text
    assert "Quel est le nom de votre premier animal ?" in text


def test_account_creation_end_to_end(testapp, portal_tx):
    response = register(testapp)
    assert response.status_int == 302 and response.location.endswith("/creer-votre-compte/termine")
    done = response.follow()
    assert "<h1>Votre compte est créé.</h1>" in done.text
    assert "claire.martin@example.org" in done.text
    with portal_tx() as portal:
        account = portal["accounts"].get_by_code("CMARTIN")
        assert account is not None and account.code == "cmartin"
        assert account.state == PENDING and not account.validated
        assert account.terms_accepted_at is not None
        assert account.password_hash.startswith("$argon2id$")
        assert GOOD_PASSWORD not in account.password_hash
        assert account.secret_question == "What is the name of your first pet?"
        household = portal["households"][account.household_id]
        holder = household.holder
        assert household.adults() == [holder]
        assert (holder.family_name, holder.first_names, holder.civility) == ("Martin", "Claire Anne", "Mme")
        assert holder.birth_date == datetime.date(1980, 2, 3)
        assert (holder.phone, holder.mobile) == ("0123456789", "0611223344")
        assert (household.address, household.postcode, household.city) == ("3 place de la Mairie", "75001",
                                                                           "Clairval")
        assert household.communication == "email"
        assert any(key == account.key for _created, key in portal["accounts"].pending.keys())
        outbox = portal["outbox"]
        message = outbox[outbox.event_keys[f"account-created:{account.key}"]]
        assert message.email == "claire.martin@example.org" and message.kind == "acknowledgement"
        assert message.household_id == household.id
        assert "cmartin" in message.text and "ne pas y répondre" in message.text
        assert GOOD_PASSWORD not in message.text
        actions = [(e.action, e.target) for e in portal["journal"].latest(10)]
        assert ("account-created", "account:cmartin") in actions
    # the citizen is logged in: a page for citizens answers
    assert testapp.get("/mon-compte/mot-de-passe").status_int == 200


def test_acknowledgement_email_is_received(smtp_server, testapp, registry):
    from compte_citoyen.notification.worker import deliver_due
    register(testapp).follow()
    deliver_due(registry)
    messages = smtp_server.wait_for(1)
    assert len(messages) == 1
    mail = messages[0]
    assert mail["To"] == "claire.martin@example.org"
    assert "ne-pas-repondre@" in mail["From"]
    body = SMTPServer.text_of(mail)
    assert "cmartin" in body and "validation" in body
    assert "ne pas y répondre" in body
    assert mail.get_body(preferencelist=("html",)) is not None


@pytest.mark.parametrize("typed", ["JDupont", "JDUPONT", " jdupont "])
def test_duplicate_code_whatever_the_case(testapp, portal_tx, typed):
    with portal_tx() as portal:
        create_citizen(portal, code="jdupont")
    response = register(testapp, code=typed)
    assert response.status_int == 200
    assert "Ce code d’accès est déjà pris" in field_error(response, "code")
    # what was typed is kept
    assert 'value="Martin"' in response.text and 'value="claire.martin@example.org"' in response.text
    with portal_tx() as portal:
        assert len(portal["accounts"]) == 1


@pytest.mark.parametrize("overrides, field, message", [
    ({"password": "court mais", "password_confirm": "court mais"}, "password", "au moins 12 caractères"),
    ({"password": "motdepasse123", "password_confirm": "motdepasse123"}, "password", "trop courant"),
    ({"password": "Azertyuiop123", "password_confirm": "Azertyuiop123"}, "password", "trop courant"),
    ({"password": "123456789012", "password_confirm": "123456789012"}, "password", "trop courant"),
    ({"password_confirm": GOOD_PASSWORD + "!"}, "password_confirm", "La confirmation est différente"),
    ({"code": "claire.martin.75", "password": "claire.martin.75", "password_confirm": "claire.martin.75"},
     "password", "ne doit pas être votre code d’accès"),
    ({"code": "a b"}, "code", "de 4 à 30 caractères"),
    ({"code": "ab"}, "code", "de 4 à 30 caractères"),
    ({"email": "claire@"}, "email", "adresse électronique valide"),
    ({"phone": "12345"}, "phone", "10 chiffres commençant par 0"),
    ({"mobile": "01 23 45 67 89"}, "mobile", "06 ou 07"),
    ({"postcode": "7500"}, "postcode", "5 chiffres"),
    ({"birth_date": "2999-01-01"}, "birth_date", "dans le futur"),
    ({"birth_date": (local_today() - datetime.timedelta(days=365 * 10)).isoformat()}, "birth_date",
     "majeur"),
    ({"family_name": ""}, "family_name", "obligatoire"),
    ({"secret_question": ""}, "secret_question", "Choisissez une question"),
    ({"secret_answer": "x"}, "secret_answer", "au moins 2 caractères"),
])
def test_registration_refuses_bad_input(testapp, portal_tx, overrides, field, message):
    response = register(testapp, **overrides)
    assert response.status_int == 200
    assert "Le formulaire contient des erreurs" in response.text or "contient des erreurs" in response.text
    assert message in field_error(response, field), (field, field_error(response, field))
    assert 'aria-invalid="true"' in response.text
    # passwords are never sent back; other typed values are
    assert GOOD_PASSWORD not in response.text
    assert 'value="3 place de la Mairie"' in response.text
    with portal_tx() as portal:
        assert len(portal["accounts"]) == 0


def test_long_password_is_accepted_and_never_truncated(testapp, portal_tx):
    long_password = "une très longue phrase de passe " * 6  # 192 characters
    assert register(testapp, password=long_password, password_confirm=long_password).status_int == 302
    testapp.post("/deconnexion", {"csrf_token": csrf_token_of(testapp)})
    assert login_citizen(testapp, "cmartin", long_password[:-1]).status_int == 200
    assert login_citizen(testapp, "cmartin", long_password[:72]).status_int == 200
    assert login_citizen(testapp, "cmartin", long_password).status_int == 302


def login_form(page):
    return next(f for k, f in page.forms.items() if isinstance(k, int) and "code" in f.fields)


def csrf_token_of(testapp) -> str:
    """The CSRF token of a logged-in session (from the logout page's form)."""
    page = testapp.get("/deconnexion")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


# --- cryptogramme -------------------------------------------------------------------------------

def test_wrong_cryptogramme_is_refused(testapp, portal_tx):
    response = register(testapp, answer="ZZZZZ")
    assert "ne correspondent pas au cryptogramme" in field_error(response, "captcha")
    with portal_tx() as portal:
        assert len(portal["accounts"]) == 0
    # a new image is shown, and the form (typed values kept) goes through with it
    form = response.forms["register"]
    form["password"] = form["password_confirm"] = GOOD_PASSWORD
    form["answer"] = FIXED_CAPTCHA
    assert form.submit("save").status_int == 302


def test_cryptogramme_is_single_use(testapp, portal_tx):
    page = accept_terms(testapp)
    form = fill_registration(page, code="premier")
    token = form["token"].value
    assert form.submit("save").status_int == 302
    testapp.post("/deconnexion", {"csrf_token": csrf_token_of(testapp)})
    # replay the same challenge with another account
    page = accept_terms(testapp)
    form = fill_registration(page, code="second")
    form["token"] = token
    response = form.submit("save")
    assert "ne correspondent pas au cryptogramme" in field_error(response, "captcha")
    with portal_tx() as portal:
        assert portal["accounts"].get_by_code("second") is None


def test_cryptogramme_expires(testapp, portal_tx, monkeypatch):
    page = accept_terms(testapp)
    form = fill_registration(page)
    later = captcha.now() + captcha.TTL + 1
    monkeypatch.setattr(captcha, "now", lambda: later)
    response = form.submit("save")
    assert "ne correspondent pas au cryptogramme" in field_error(response, "captcha")
    with portal_tx() as portal:
        assert len(portal["accounts"]) == 0


def test_cryptogramme_image_audio_and_unknown_token(testapp):
    page = accept_terms(testapp)
    image_url = re.search(r'<img class="captcha__image" src="http://localhost(/cryptogramme/[^"]+\.png)"', page.text)
    audio_url = re.search(r'href="http://localhost(/cryptogramme/[^"]+\.wav)"', page.text)
    image = testapp.get(image_url.group(1))
    assert image.content_type == "image/png" and image.body[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.headers["Cache-Control"] == "no-store"
    audio = testapp.get(audio_url.group(1))
    assert audio.content_type == "audio/wav" and audio.body[:4] == b"RIFF"
    testapp.get("/cryptogramme/not-a-token.png", status=404)
    # the answer is in no cookie and no URL
    assert all(FIXED_CAPTCHA.lower() not in value.lower() for value in testapp.cookies.values())
    assert FIXED_CAPTCHA not in image_url.group(1) + audio_url.group(1)


def test_new_image_keeps_what_was_typed(testapp):
    page = accept_terms(testapp)
    form = fill_registration(page, answer="")
    old_token = form["token"].value
    response = form.submit("captcha_new")
    assert response.status_int == 200
    assert 'value="Martin"' in response.text and 'value="cmartin"' in response.text
    assert "contient des erreurs" not in response.text
    new_token = response.forms["register"]["token"].value
    assert new_token != old_token


def test_enter_in_a_field_submits_when_the_cryptogramme_is_typed(testapp, portal_tx):
    """The "Nouvelle image" button comes first in the form, so Enter sends it: with an answer typed, that is
    the real submission."""
    page = accept_terms(testapp)
    response = fill_registration(page).submit("captcha_new")
    assert response.status_int == 302 and response.location.endswith("/creer-votre-compte/termine")
    with portal_tx() as portal:
        assert portal["accounts"].get_by_code("cmartin") is not None


def test_login_page_new_image_keeps_the_code(testapp, portal_tx, monkeypatch):
    monkeypatch.setitem(throttle.DEFAULTS, "captcha_after", 1)
    with portal_tx() as portal:
        create_citizen(portal)
    login_citizen(testapp, "jdupont", "bad password!")
    page = testapp.get("/connexion?code=jdupont")
    form = login_form(page)
    old = form["captcha_token"].value
    response = form.submit("captcha_new")
    assert response.status_int == 200 and 'value="jdupont"' in response.text
    assert login_form(response)["captcha_token"].value != old
    assert "Code d’accès inconnu" not in response.text


def test_staff_administrator_is_sent_home_from_citizen_pages(testapp, portal_tx):
    from compte_citoyen.testing import create_staff, login_staff
    with portal_tx() as portal:
        staff = create_staff(portal, "admin1")
        secret = staff.totp_secret
    login_staff(testapp, "admin1", totp_secret=secret)
    for path in ["/mon-compte/mot-de-passe", "/creer-votre-compte/termine"]:
        response = testapp.get(path, status="*")
        assert response.status_int in (302, 403), path


def test_image_captcha_provider_generates_random_answers(tmp_path):
    import webtest

    from compte_citoyen import main
    from compte_citoyen.testing import base_settings
    app = main({}, **base_settings(tmp_path, **{"compte_citoyen.captcha": "image"}))
    try:
        client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost"})
        form = client.get("/creer-votre-compte").forms["accept-terms-form"]
        form["accept"] = "yes"
        page = form.submit().follow()
        assert client.get(re.search(r'src="http://localhost(/cryptogramme/[^"]+\.png)"', page.text).group(1)
                          ).content_type == "image/png"
        from compte_citoyen.testing import open_portal
        with open_portal(app.registry) as portal:
            answers = [answer for answer, _expires in portal["captchas"].challenges.values()]
        assert answers and all(len(a) == captcha.LENGTH and set(a) <= set(captcha.ALPHABET) for a in answers)
        assert FIXED_CAPTCHA not in answers
    finally:
        from compte_citoyen.database import get_database
        get_database(app.registry).close()


# --- login --------------------------------------------------------------------------------------

def test_login_page_has_the_faq_labels(testapp):
    page = testapp.get("/connexion")
    assert re.search(r"<label[^>]*>Utilisateur</label>", page.text)
    assert re.search(r"<label[^>]*>Mot de passe</label>", page.text)
    assert ">Se connecter</button>" in page.text
    assert ">Mot de passe oublié</a>" in page.text
    assert page.headers["Cache-Control"] == "no-store"


def test_login_and_logout(testapp, portal_tx):
    with portal_tx() as portal:
        create_citizen(portal)
    before = csrf_token(testapp)
    response = login_citizen(testapp, "JDupont")  # the code d'accès is not case-sensitive
    assert response.status_int == 302 and response.location == "http://localhost/accueil"
    page = testapp.get("/mon-compte/mot-de-passe")
    assert page.status_int == 200 and page.headers["Cache-Control"] == "no-store"
    # session renewed at login: the CSRF token (tied to the session) changed
    after = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert after != before
    with portal_tx() as portal:
        account = portal["accounts"].get_by_code("jdupont")
        assert len(account.sessions) == 1
        assert ("login", "account:jdupont") in [(e.action, e.target) for e in portal["journal"].latest(5)]
    response = testapp.post("/deconnexion", {"csrf_token": after})
    assert response.status_int == 302 and response.location == "http://localhost/"
    assert testapp.get("/mon-compte/mot-de-passe").status_int == 302
    with portal_tx() as portal:
        assert len(portal["accounts"].get_by_code("jdupont").sessions) == 0


def test_login_redirects_to_a_local_next_only(testapp, portal_tx):
    with portal_tx() as portal:
        create_citizen(portal)
    token = csrf_token(testapp)
    response = testapp.post("/connexion?next=/mon-compte/mot-de-passe",
                            {"code": "jdupont", "password": "correct horse battery staple", "csrf_token": token})
    assert response.location == "http://localhost/mon-compte/mot-de-passe"
    testapp.post("/deconnexion", {"csrf_token": csrf_token_of(testapp)})
    for evil in ["//evil.example/", "https://evil.example/", "/\\evil.example", "/\t/evil.example"]:
        token = csrf_token(testapp)
        response = testapp.post("/connexion", {"code": "jdupont", "password": "correct horse battery staple",
                                               "csrf_token": token, "next": evil})
        assert response.location == "http://localhost/accueil", evil
        testapp.post("/deconnexion", {"csrf_token": csrf_token_of(testapp)})


def test_protected_page_comes_back_after_login(testapp, portal_tx):
    with portal_tx() as portal:
        create_citizen(portal)
    response = testapp.get("/mon-compte/mot-de-passe")
    assert response.status_int == 302
    page = response.follow()
    form = login_form(page)
    assert form["next"].value == "/mon-compte/mot-de-passe"
    form["code"] = "jdupont"
    form["password"] = "correct horse battery staple"
    response = form.submit()
    assert response.location == "http://localhost/mon-compte/mot-de-passe"


def test_unknown_code_and_wrong_password_get_the_same_answer(testapp, portal_tx):
    with portal_tx() as portal:
        create_citizen(portal)
    wrong = login_citizen(testapp, "jdupont", "not the right password")
    unknown = login_citizen(testapp, "nobody-here", "not the right password")
    assert wrong.status_int == unknown.status_int == 200
    message = "Code d’accès inconnu ou mot de passe incorrect."
    assert message in main_part(wrong) and message in main_part(unknown)
    strip = lambda r, code: re.sub(r'value="[^"]*"', "", main_part(r)).replace(code, "")  # noqa: E731
    assert strip(wrong, "jdupont") == strip(unknown, "nobody-here")
    # the code typed is kept
    assert 'value="nobody-here"' in unknown.text
    with portal_tx() as portal:
        entries = [(e.action, e.target, e.detail) for e in portal["journal"].latest(5)]
        assert ("login-failed", "account:jdupont", "") in entries
        assert ("login-failed", "", "unknown code d'accès") in entries
        assert not any("nobody-here" in " ".join(e) or "not the right" in " ".join(e) for e in entries)


def test_unknown_code_is_verified_against_a_hash_too(testapp, portal_tx, monkeypatch):
    """Comparable time: an unknown code costs one argon2 verification, like a wrong password."""
    from compte_citoyen.authentication import passwords
    calls = []
    real = passwords._hasher

    class Spy:
        def __getattr__(self, name):
            return getattr(real, name)

        def verify(self, stored, password):
            calls.append(stored)
            return real.verify(stored, password)

    monkeypatch.setattr(passwords, "_hasher", Spy())
    with portal_tx() as portal:
        create_citizen(portal)
    login_citizen(testapp, "nobody-here", "whatever password")
    login_citizen(testapp, "jdupont", "whatever password")
    assert len(calls) == 2 and calls[0] == passwords._DUMMY_HASH and calls[1].startswith("$argon2id$")


def test_outdated_hash_is_rehashed_at_login(testapp, portal_tx):
    from argon2 import PasswordHasher
    with portal_tx() as portal:
        account, _household = create_citizen(portal)
        account.password_hash = PasswordHasher(time_cost=1, memory_cost=8192).hash("correct horse battery staple")
        old = account.password_hash
    assert login_citizen(testapp).status_int == 302
    with portal_tx() as portal:
        new = portal["accounts"].get_by_code("jdupont").password_hash
    assert new != old and "m=8192" not in new


def test_closed_account_cannot_log_in(testapp, portal_tx):
    with portal_tx() as portal:
        account, _household = create_citizen(portal)
        account.state = "closed"
    assert login_citizen(testapp).status_int == 200


# --- throttling ---------------------------------------------------------------------------------

def attempt(testapp, code: str = "jdupont", password: str = "correct horse battery staple"):
    """A login attempt whatever the answer's status (429 while a delay runs)."""
    token = csrf_token(testapp)
    return testapp.post("/connexion", {"code": code, "password": password, "csrf_token": token}, status="*")


class Clock:
    def __init__(self, start: float):
        self.value = start

    def __call__(self) -> float:
        return self.value


def test_repeated_failures_are_slowed_down_then_need_the_cryptogramme(testapp, portal_tx, monkeypatch):
    clock = Clock(1_000_000.0)
    monkeypatch.setattr(throttle, "now", clock)
    with portal_tx() as portal:
        create_citizen(portal)
    for _i in range(3):
        assert attempt(testapp, "jdupont", "bad password!").status_int == 200
    # 3 failures: a delay before the next attempt, even with the right password
    response = attempt(testapp, "jdupont", "correct horse battery staple")
    assert response.status_int == 429 and "Attendez 2 secondes" in response.text
    clock.value += 3
    assert attempt(testapp, "jdupont", "bad password!").status_int == 200  # 4th failure
    response = attempt(testapp, "jdupont", "bad password!")
    assert response.status_int == 429 and "Attendez 4 secondes" in response.text  # the delay grows
    clock.value += 5
    attempt(testapp, "jdupont", "bad password!")  # 5th
    clock.value += 9
    response = attempt(testapp, "jdupont", "bad password!")  # 6th: from now on the cryptogramme
    assert "Cryptogramme" in response.text and 'name="captcha_token"' in response.text
    # without the cryptogramme the right password is not even checked
    response = attempt(testapp, "jdupont", "correct horse battery staple")
    assert response.status_int == 200 and "recopiez aussi le cryptogramme" in response.text
    # with it, the citizen gets in at once: no lock anyone could impose
    page = testapp.get("/connexion?code=jdupont")
    form = login_form(page)
    form["password"] = "correct horse battery staple"
    form["captcha_answer"] = FIXED_CAPTCHA
    response = form.submit("login")
    assert response.status_int == 302 and response.location.endswith("/accueil")


def test_failures_are_forgotten_after_the_window(testapp, portal_tx, monkeypatch):
    clock = Clock(2_000_000.0)
    monkeypatch.setattr(throttle, "now", clock)
    with portal_tx() as portal:
        create_citizen(portal)
    for _i in range(8):
        attempt(testapp, "jdupont", "bad password!")
        clock.value += 70
    assert 'name="captcha_token"' in testapp.get("/connexion?code=jdupont").text
    clock.value += throttle.DEFAULTS["window"] + 1
    assert 'name="captcha_token"' not in testapp.get("/connexion?code=jdupont").text
    assert attempt(testapp).status_int == 302
    with portal_tx() as portal:  # pruned: the counters do not grow for ever
        assert "login:account:jdupont" not in portal["throttle"].counters


def test_failures_from_one_address_on_many_codes_need_the_cryptogramme(testapp, portal_tx, monkeypatch):
    clock = Clock(3_000_000.0)
    monkeypatch.setattr(throttle, "now", clock)
    with portal_tx() as portal:
        create_citizen(portal)
    for i in range(throttle.DEFAULTS["address_captcha_after"]):
        attempt(testapp, f"guess{i}", "password guess!")
        clock.value += 61
    response = attempt(testapp, "jdupont", "correct horse battery staple")
    assert response.status_int == 200 and "recopiez aussi le cryptogramme" in response.text
    # another address is not affected
    other = type(testapp)(testapp.app, extra_environ={"REMOTE_ADDR": "198.51.100.7", "HTTP_HOST": "localhost"})
    assert attempt(other).status_int == 302


# --- sessions -----------------------------------------------------------------------------------

def test_copied_cookie_no_longer_works_after_logout(testapp, portal_tx):
    with portal_tx() as portal:
        create_citizen(portal)
    login_citizen(testapp)
    stolen = testapp.cookies["cc_session"]
    assert testapp.get("/mon-compte/mot-de-passe").status_int == 200
    testapp.post("/deconnexion", {"csrf_token": csrf_token_of(testapp)})
    testapp.set_cookie("cc_session", stolen)
    assert testapp.get("/mon-compte/mot-de-passe").status_int == 302


def test_session_cookie_before_login_does_not_carry_the_login(testapp, portal_tx):
    """Session fixation: the cookie a visitor had before logging in is not the logged-in session."""
    with portal_tx() as portal:
        create_citizen(portal)
    csrf_token(testapp)
    before = testapp.cookies["cc_session"]
    login_citizen(testapp)
    assert testapp.cookies["cc_session"] != before
    testapp.set_cookie("cc_session", before)
    assert testapp.get("/mon-compte/mot-de-passe").status_int == 302


def test_absolute_timeout_ends_the_session(testapp, portal_tx):
    with portal_tx() as portal:
        create_citizen(portal)
    login_citizen(testapp)
    with portal_tx() as portal:
        account = portal["accounts"].get_by_code("jdupont")
        for key in list(account.sessions.keys()):
            account.sessions[key] = account.sessions[key] - datetime.timedelta(hours=9)
    assert testapp.get("/mon-compte/mot-de-passe").status_int == 302


def test_idle_timeout_ends_the_session(settings):
    settings["compte_citoyen.session.idle_timeout"] = "1"
    import time

    import webtest

    from compte_citoyen import main
    app = main({}, **settings)
    try:
        client = webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost"})
        from compte_citoyen.testing import open_portal
        with open_portal(app.registry) as portal:
            create_citizen(portal)
        assert login_citizen(client).status_int == 302
        time.sleep(2.2)
        assert client.get("/mon-compte/mot-de-passe").status_int == 302
    finally:
        from compte_citoyen.database import get_database
        get_database(app.registry).close()


def test_csrf_failure_page_is_french_and_links_back(testapp):
    response = testapp.post("/connexion", {"code": "x", "password": "y", "csrf_token": "stale"},
                            headers={"Referer": "http://localhost/connexion"}, status=400)
    assert "Votre session a expiré" in response.text
    assert 'href="http://localhost/connexion"' in response.text
    response = testapp.post("/connexion", {"code": "x", "password": "y"},
                            headers={"Referer": "https://evil.example/"}, status=400)
    assert "evil.example" not in response.text


def test_logout_by_get_shows_a_button(testapp, portal_tx):
    with portal_tx() as portal:
        create_citizen(portal)
    assert testapp.get("/deconnexion").status_int == 302  # not logged in: home
    login_citizen(testapp)
    page = testapp.get("/deconnexion")
    assert page.status_int == 200 and ">Se déconnecter</button>" in page.text
