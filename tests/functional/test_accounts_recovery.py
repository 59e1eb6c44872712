"""Lost password ("Mot de passe oublié") and change of password (issue 3)."""
from __future__ import annotations

import datetime
import re

from compte_citoyen.authentication import throttle
from compte_citoyen.authentication.schemas import SECRET_QUESTIONS
from compte_citoyen.testing import FIXED_CAPTCHA, SMTPServer, create_citizen, csrf_token, login_citizen

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "le vent se lève il faut tenter de vivre"
FRENCH_QUESTIONS = {
    "Quel est le nom de votre premier animal ?", "Dans quelle ville est née votre mère ?",
    "Quel est le prénom de votre meilleur ami d’enfance ?", "Quel était le nom de votre école primaire ?",
    "Quelle était la marque de votre première voiture ?",
    "Quel est le nom de jeune fille de votre grand-mère paternelle ?", "Dans quelle rue habitiez-vous enfant ?",
    "Quel est votre livre préféré ?",
}


def question_of(page) -> str:
    return re.search(r'<strong id="secret-question">([^<]*)</strong>', page.text).group(1)


def main_part(response) -> str:
    text = response.text
    return text[text.index("<main"):text.index("</main>")]


def ask_reset(testapp, code: str = "jdupont", answer: str = "medor", status=None):
    """From the login box's link to the final page; returns the last response."""
    page = testapp.get(f"/mot-de-passe-oublie?code={code}").follow()
    form = page.forms["recover-form"]
    form["answer"] = answer
    return form.submit("confirm", status=status or "*")


def reset_links(portal, code: str = "jdupont") -> list[str]:
    outbox = portal["outbox"]
    links = []
    for key, message_id in outbox.event_keys.items():
        if key.startswith(f"password-reset-link:{code}:"):
            message = outbox[message_id]
            links.append((message.created, re.search(r"http://localhost(/nouveau-mot-de-passe/\S+)",
                                                      message.text).group(1)))
    return [link for _created, link in sorted(links)]


def choose_password(testapp, link: str, password: str = NEW_PASSWORD):
    page = testapp.get(link)
    form = page.forms["reset"]
    form["password"] = password
    form["password_confirm"] = password
    return form.submit("save")


def test_lost_password_link_and_question(testapp, portal_tx):
    with portal_tx() as portal:
        create_citizen(portal)
    home = testapp.get("/")
    assert ">Mot de passe oublié</a>" in home.text
    # without JavaScript the code is asked for
    page = testapp.get("/mot-de-passe-oublie")
    assert "Saisissez votre code d’accès" in page.text
    response = page.forms[0].submit()
    assert "Saisissez votre code d’accès." in main_part(response)
    form = page.forms[0]
    form["code"] = "JDupont"
    page = form.submit().follow()
    assert question_of(page) == "Quel est le nom de votre premier animal ?"
    assert ">Confirmer</button>" in page.text
    assert re.search(r"<label[^>]*>Réponse</label>", page.text)


def test_lost_password_end_to_end(smtp_server, testapp, portal_tx, registry):
    from compte_citoyen.notification.worker import deliver_due
    with portal_tx() as portal:
        create_citizen(portal)
    # another browser where the citizen is logged in
    other = type(testapp)(testapp.app, extra_environ={"REMOTE_ADDR": "192.0.2.99", "HTTP_HOST": "localhost"})
    assert login_citizen(other).status_int == 302
    response = ask_reset(testapp, answer="  MÉDOR ")  # case, accents and spaces do not matter
    assert response.status_int == 302 and response.location.endswith("/mot-de-passe-oublie/envoye")
    final = response.follow()
    assert "un courriel vient d’être envoyé" in final.text
    with portal_tx() as portal:
        account = portal["accounts"].get_by_code("jdupont")
        assert len(account.reset_tokens) == 1
        link = reset_links(portal)[0]
        token = link.rsplit("/", 1)[1]
        assert token not in list(account.reset_tokens.keys())  # stored hashed
        assert len(token) >= 22  # 128 bits or more, url-safe base64
        message = portal["outbox"][portal["outbox"].event_keys[
            next(k for k in portal["outbox"].event_keys.keys() if k.startswith("password-reset-link:"))]]
        assert message.email == "jeanne.dupont@example.org" and PASSWORD not in message.text
        assert ("password-reset-requested", "account:jdupont") in [
            (e.action, e.target) for e in portal["journal"].latest(5)]
    # the e-mail arrives with the link
    deliver_due(registry)
    mail = smtp_server.wait_for(1)[0]
    assert mail["To"] == "jeanne.dupont@example.org"
    body = SMTPServer.text_of(mail)
    assert link in body and "30 minutes" in body and "ne pas y répondre" in body
    # choose a new password
    page = testapp.get(link)
    assert "Choisir un nouveau mot de passe" in page.text and "jdupont" in page.text
    response = choose_password(testapp, link)
    assert response.status_int == 302 and "/connexion" in response.location
    # the link is single use
    replay = testapp.get(link, status=410)
    assert "Ce lien n’est plus valable" in replay.text
    # the old password no longer works, the new one does
    assert login_citizen(testapp, "jdupont", PASSWORD).status_int == 200
    assert login_citizen(testapp, "jdupont", NEW_PASSWORD).status_int == 302
    # the session opened elsewhere is closed
    assert other.get("/mon-compte/mot-de-passe").status_int == 302
    with portal_tx() as portal:
        account = portal["accounts"].get_by_code("jdupont")
        assert len(account.reset_tokens) == 0 and account.password_changed_at is not None
        assert len(portal["accounts"].reset_index) == 0
        notices = [k for k in portal["outbox"].event_keys.keys() if k.startswith("password-changed:jdupont:reset")]
        assert len(notices) == 1
        actions = [e.action for e in portal["journal"].latest(10)]
        assert "password-reset" in actions
    deliver_due(registry)
    mails = smtp_server.wait_for(2)
    assert len(mails) == 2 and "modifié" in mails[1]["Subject"]


def test_reset_link_expires(testapp, portal_tx):
    with portal_tx() as portal:
        create_citizen(portal)
    ask_reset(testapp)
    with portal_tx() as portal:
        account = portal["accounts"].get_by_code("jdupont")
        link = reset_links(portal)[0]
        for key in list(account.reset_tokens.keys()):
            account.reset_tokens[key] = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    response = testapp.get(link, status=410)
    assert "Ce lien n’est plus valable" in response.text
    assert ">Demander un nouveau lien</a>" in response.text


def test_reset_link_is_valid_about_thirty_minutes(testapp, portal_tx):
    with portal_tx() as portal:
        create_citizen(portal)
    before = datetime.datetime.now(datetime.timezone.utc)
    ask_reset(testapp)
    with portal_tx() as portal:
        expires = list(portal["accounts"].get_by_code("jdupont").reset_tokens.values())[0]
    assert datetime.timedelta(minutes=29) < expires - before <= datetime.timedelta(minutes=31)


def test_unknown_token_and_earlier_links_after_a_reset(testapp, portal_tx, monkeypatch):
    monkeypatch.setitem(throttle.DEFAULTS, "delay_after", 10)
    with portal_tx() as portal:
        create_citizen(portal)
    testapp.get("/nouveau-mot-de-passe/made-up-token", status=410)
    ask_reset(testapp)
    ask_reset(testapp)
    with portal_tx() as portal:
        first, second = reset_links(portal)
    assert choose_password(testapp, second).status_int == 302
    assert "Ce lien n’est plus valable" in testapp.get(first, status=410).text


def test_unknown_code_gets_a_plausible_question_and_the_same_final_page(testapp, portal_tx):
    with portal_tx() as portal:
        create_citizen(portal)
    page = testapp.get("/mot-de-passe-oublie?code=nobody-here").follow()
    fake = question_of(page)
    assert fake in FRENCH_QUESTIONS
    # always the same question for the same code (reloading reveals nothing)
    assert question_of(testapp.get("/mot-de-passe-oublie?code=NOBODY-HERE").follow()) == fake
    # the codes do not all get the same question
    questions = {question_of(testapp.get(f"/mot-de-passe-oublie?code=someone{i}").follow()) for i in range(12)}
    assert len(questions) > 1
    unknown = ask_reset(testapp, code="nobody-here", answer="Médor")
    wrong = ask_reset(testapp, code="jdupont", answer="Rex")
    assert unknown.status_int == wrong.status_int == 302
    assert unknown.location == wrong.location
    assert main_part(unknown.follow()) == main_part(wrong.follow())
    with portal_tx() as portal:
        assert not [k for k in portal["outbox"].event_keys.keys() if k.startswith("password-reset-link:")]
        assert len(portal["accounts"].get_by_code("jdupont").reset_tokens) == 0
        entries = [(e.action, e.target, e.detail) for e in portal["journal"].latest(10)]
        assert ("password-reset-unknown-code", "", "unknown code d'accès") in entries
        assert ("password-reset-wrong-answer", "account:jdupont", "") in entries
        assert not any("nobody-here" in " ".join(e) or "Rex" in " ".join(e) for e in entries)


def test_recovery_attempts_are_throttled(testapp, portal_tx, monkeypatch):
    clock = [5_000_000.0]
    monkeypatch.setattr(throttle, "now", lambda: clock[0])
    with portal_tx() as portal:
        create_citizen(portal)
    for answer in ["rex", "milou", "félix"]:
        assert ask_reset(testapp, answer=answer).status_int == 302
    response = ask_reset(testapp, answer="medor")
    assert response.status_int == 429 and "Attendez 2 secondes" in response.text
    for _i in range(3):
        clock[0] += 61
        ask_reset(testapp, answer="wrong")
    clock[0] += 61
    # now the cryptogramme is required: the question page shows it
    page = testapp.get("/mot-de-passe-oublie?code=jdupont").follow()
    assert 'name="captcha_token"' in page.text
    form = page.forms["recover-form"]
    form["answer"] = "medor"
    response = form.submit("confirm")
    assert response.status_int == 200 and "recopiez aussi le cryptogramme" in response.text
    form = response.forms["recover-form"]
    form["answer"] = "medor"
    form["captcha_answer"] = FIXED_CAPTCHA.lower()
    response = form.submit("confirm")
    assert response.status_int == 302
    with portal_tx() as portal:
        assert len(reset_links(portal)) == 1


def test_unknown_code_is_throttled_the_same_way(testapp, portal_tx, monkeypatch):
    monkeypatch.setattr(throttle, "now", lambda: 6_000_000.0)
    for _i in range(3):
        ask_reset(testapp, code="nobody-here", answer="x")
    assert ask_reset(testapp, code="nobody-here", answer="x").status_int == 429


def test_reset_form_refuses_bad_passwords(testapp, portal_tx):
    with portal_tx() as portal:
        create_citizen(portal)
    ask_reset(testapp)
    with portal_tx() as portal:
        link = reset_links(portal)[0]
    for password, confirm, message in [("trop court", "trop court", "au moins 12 caractères"),
                                       ("azertyuiop123", "azertyuiop123", "trop courant"),
                                       (NEW_PASSWORD, NEW_PASSWORD + "x", "La confirmation est différente"),
                                       ("jdupont", "jdupont", "au moins 12")]:
        form = testapp.get(link).forms["reset"]
        form["password"], form["password_confirm"] = password, confirm
        response = form.submit("save")
        assert response.status_int == 200 and message in response.text
    # the link still works after refusals
    assert choose_password(testapp, link).status_int == 302


def test_change_of_password(smtp_server, testapp, portal_tx, registry):
    from compte_citoyen.notification.worker import deliver_due
    with portal_tx() as portal:
        create_citizen(portal)
    other = type(testapp)(testapp.app, extra_environ={"REMOTE_ADDR": "192.0.2.99", "HTTP_HOST": "localhost"})
    login_citizen(other)
    ask_reset(testapp)  # a pending reset link, cancelled by the change
    login_citizen(testapp)
    page = testapp.get("/mon-compte/mot-de-passe")
    assert "<h1>Changer mon mot de passe</h1>" in page.text
    for label in ["Mot de passe actuel", "Nouveau mot de passe", "Confirmation du nouveau mot de passe"]:
        assert re.search(r"<label[^>]*>\s*" + label + r"\s*<", page.text), label
    # the current password is required
    form = page.forms["change-password"]
    form["current_password"] = "not my password"
    form["password"] = form["password_confirm"] = NEW_PASSWORD
    response = form.submit("save")
    assert response.status_int == 200 and "Le mot de passe actuel est incorrect." in response.text
    form = response.forms["change-password"]
    form["current_password"] = PASSWORD
    form["password"] = form["password_confirm"] = "azerty123456"
    response = form.submit("save")
    assert "trop courant" in response.text
    form = response.forms["change-password"]
    form["current_password"] = PASSWORD
    form["password"] = form["password_confirm"] = NEW_PASSWORD
    response = form.submit("save")
    assert response.status_int == 302
    # this session goes on, the other one is closed, the reset link is cancelled
    assert testapp.get("/mon-compte/mot-de-passe").status_int == 200
    assert other.get("/mon-compte/mot-de-passe").status_int == 302
    with portal_tx() as portal:
        account = portal["accounts"].get_by_code("jdupont")
        assert len(account.sessions) == 1 and len(account.reset_tokens) == 0
        actions = [(e.action, e.target) for e in portal["journal"].latest(10)]
        assert ("password-changed", "account:jdupont") in actions
        assert ("password-change-failed", "account:jdupont") in actions
        link = reset_links(portal)[0]
    testapp.get(link, status=410)
    deliver_due(registry)
    mails = smtp_server.wait_for(2)
    subjects = [m["Subject"] for m in mails]
    assert any("modifié" in s for s in subjects), subjects
    assert all(NEW_PASSWORD not in SMTPServer.text_of(m) for m in mails)


def test_change_of_password_needs_login(testapp):
    response = testapp.get("/mon-compte/mot-de-passe")
    assert response.status_int == 302 and "/connexion" in response.location


def test_journal_never_holds_secrets(testapp, portal_tx):
    with portal_tx() as portal:
        create_citizen(portal)
    login_citizen(testapp, "jdupont", "a wrong password 123")
    ask_reset(testapp, answer="Médor")
    with portal_tx() as portal:
        link = reset_links(portal)[0]
    choose_password(testapp, link)
    with portal_tx() as portal:
        for entry in portal["journal"].latest(50):
            text = " ".join([entry.action, entry.target, entry.detail])
            for secret in ["a wrong password", "Médor", "medor", NEW_PASSWORD, link.rsplit("/", 1)[1]]:
                assert secret not in text
            assert entry.address == "192.0.2.10"


def test_secret_questions_are_all_translated(testapp):
    from compte_citoyen.authentication.schemas import SECRET_QUESTIONS  # noqa: F811
    assert len(SECRET_QUESTIONS) == len(FRENCH_QUESTIONS)


def test_csrf_token_required_on_recovery(testapp):
    csrf_token(testapp)
    testapp.post("/mot-de-passe-oublie/question", {"code": "jdupont", "answer": "x"}, status=400)
