"""Sensitive messages: a single-use link leaves the outbox once its message is sent or has failed for good."""
from __future__ import annotations

import datetime
import re
import smtplib


from compte_citoyen.notification import (
    DECISION, ERASED_CONTENT, FAILED, INFORMATION, QUEUED, SENDING, SENT, Message, get_outbox, notify_household,
    queue_message,
)
from compte_citoyen.notification.worker import deliver_due
from compte_citoyen.testing import SMTPServer, create_citizen, create_staff, login_staff

NEW_PASSWORD = "le vent se lève il faut tenter de vivre"
LINK = "http://localhost/nouveau-mot-de-passe/secret-token-0123456789abcdef"


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def ask_reset(testapp, code: str = "jdupont", answer: str = "medor"):
    page = testapp.get(f"/mot-de-passe-oublie?code={code}").follow()
    form = page.forms["recover-form"]
    form["answer"] = answer
    response = form.submit("confirm")
    assert response.status_int == 302 and response.location.endswith("/mot-de-passe-oublie/envoye")


def reset_message(portal):
    outbox = get_outbox(portal)
    key = next(k for k in outbox.event_keys.keys() if k.startswith("password-reset-link:"))
    return outbox[outbox.event_keys[key]]


def stored_bodies(message) -> str:
    return " ".join(str(getattr(message, name) or "") for name in ("text", "html", "sms_text", "body"))


def queue_secret(portal, event_key: str = "secret", **kw) -> Message:
    kw.setdefault("email", "jeanne.dupont@example.org")
    return queue_message(portal, event_key=event_key, kind=INFORMATION, subject="Choisir un nouveau mot de passe",
                         text=f"Ouvrez ce lien : {LINK}", html=f"<p><a href=\"{LINK}\">{LINK}</a></p>",
                         sensitive=True, **kw)


def refuse_smtp(monkeypatch):
    from repoze.sendmail.mailer import SMTPMailer

    def refuse(self, fromaddr, toaddrs, message):
        raise smtplib.SMTPRecipientsRefused({"nobody@example.org": (550, b"no such user")})
    monkeypatch.setattr(SMTPMailer, "send", refuse)


# --- the lost-password e-mail ----------------------------------------------------------------------------

def test_reset_link_is_delivered_then_erased_from_the_outbox(smtp_server, testapp, portal_tx, registry):
    with portal_tx() as portal:
        create_citizen(portal)
    ask_reset(testapp)
    with portal_tx() as portal:
        message = reset_message(portal)
        assert message.sensitive and message.state == QUEUED and message.erased_at is None
        link = re.search(r"http://localhost(/nouveau-mot-de-passe/\S+)", message.text).group(1)
        token = link.rsplit("/", 1)[1]
        assert token in message.html  # until it is sent, the outbox needs it
        message_id, subject = message.id, message.subject
    assert deliver_due(registry)["sent"] == 1
    # the citizen's e-mail holds the link (text and HTML parts)
    [mail] = smtp_server.wait_for(1)
    assert mail["To"] == "jeanne.dupont@example.org" and mail["Subject"] == subject
    assert link in SMTPServer.text_of(mail)
    assert token in mail.get_body(preferencelist=("html",)).get_content()
    # the stored message no longer does; what the back office needs is kept
    with portal_tx() as portal:
        message = get_outbox(portal)[message_id]
        assert token not in stored_bodies(message)
        assert message.text == message.html == message.body == ERASED_CONTENT
        assert (message.state, message.email, message.subject) == (SENT, "jeanne.dupont@example.org", subject)
        assert message.sent_at is not None and message.erased_at == message.sent_at
        assert any("content erased" in event for event in message.history.values())
    # the link itself still works: only the outbox copy is gone
    page = testapp.get(link)
    form = page.forms["reset"]
    form["password"] = form["password_confirm"] = NEW_PASSWORD
    assert form.submit("save").status_int == 302
    # another worker round sends nothing more
    deliver_due(registry)
    assert len(smtp_server.wait_for(3, timeout=0.5)) == 2  # the reset link, then the "password changed" notice


def test_ordinary_message_is_kept_after_delivery(smtp_server, testapp, portal_tx, registry):
    """Only messages holding a secret are erased: the other messages stay readable for the back office."""
    with portal_tx() as portal:
        _account, household = create_citizen(portal)
        notify_household(None, portal, household, kind=DECISION, subject="Accord", text="Votre demande est acceptée.",
                         event_key="decision:1", registry=registry)
    deliver_due(registry)
    smtp_server.wait_for(1)
    with portal_tx() as portal:
        message = get_outbox(portal)[get_outbox(portal).event_keys["decision:1"]]
        assert message.state == SENT and not message.sensitive and message.erased_at is None
        assert "Votre demande est acceptée." in message.text and message.body == "Votre demande est acceptée."


# --- failures ------------------------------------------------------------------------------------------------

def test_permanent_failure_erases_the_content(smtp_server, portal_tx, registry, monkeypatch):
    with portal_tx() as portal:
        message = queue_secret(portal, email="nobody@example.org")
    refuse_smtp(monkeypatch)
    assert deliver_due(registry)["failed"] == 1
    with portal_tx() as portal:
        message = get_outbox(portal)[message.id]
        assert message.state == FAILED and "SMTPRecipientsRefused" in message.failure_reason
        assert LINK not in stored_bodies(message) and message.text == ERASED_CONTENT
        assert message.email == "nobody@example.org" and message.erased_at is not None
    assert smtp_server.messages == []


def test_temporary_failure_keeps_the_content_until_it_gives_up(settings, portal_tx, registry):
    registry.settings["compte_citoyen.notifications.max_attempts"] = "2"
    with portal_tx() as portal:
        message = queue_secret(portal)
    now = now_utc()
    assert deliver_due(registry, now=now)["retry"] == 1  # nothing listens on mail.port 1
    with portal_tx() as portal:
        kept = get_outbox(portal)[message.id]
        assert kept.state == QUEUED and LINK in kept.text and kept.erased_at is None  # needed for the retry
    assert deliver_due(registry, now=now + datetime.timedelta(hours=1))["failed"] == 1
    with portal_tx() as portal:
        failed = get_outbox(portal)[message.id]
        assert failed.state == FAILED and "gave up after 2 attempts" in failed.failure_reason
        assert LINK not in stored_bodies(failed)


def test_message_interrupted_while_sending_is_erased(smtp_server, portal_tx, registry):
    with portal_tx() as portal:
        message = queue_secret(portal)
        get_outbox(portal).set_state(message, SENDING)  # a worker claimed it, then died during the send
        message.sending_since = now_utc()
    assert deliver_due(registry, now=now_utc() + datetime.timedelta(hours=1))["interrupted"] == 1
    with portal_tx() as portal:
        message = get_outbox(portal)[message.id]
        assert message.state == FAILED and LINK not in stored_bodies(message)
    assert smtp_server.messages == []


def test_sms_failed_for_good_passes_the_secret_to_its_email_fallback(smtp_server, sms_gateway_server, portal_tx,
                                                                     registry):
    sms_gateway_server.status = 400
    with portal_tx() as portal:
        _account, household = create_citizen(portal, communication="sms")
        sms = queue_secret(portal, channel="sms", phone="0612345678", email=None, sms_text=f"Lien : {LINK}",
                           household_id=household.id)
    stats = deliver_due(registry)
    assert stats["failed_with_fallback"] == 1 and stats["sent"] == 1
    [mail] = smtp_server.wait_for(1)
    assert LINK in SMTPServer.text_of(mail)
    with portal_tx() as portal:
        outbox = get_outbox(portal)
        failed_sms = outbox[sms.id]
        fallback = outbox[failed_sms.fallback_id]
        assert failed_sms.state == FAILED and failed_sms.sms_text == ERASED_CONTENT
        assert LINK not in stored_bodies(failed_sms)
        assert fallback.sensitive and fallback.state == SENT and LINK not in stored_bodies(fallback)


def test_old_messages_without_the_attribute_are_not_sensitive(portal_tx):
    with portal_tx() as portal:
        message = queue_message(portal, event_key="old", kind=INFORMATION, subject="s", text="t",
                                email="a@example.org")
        assert "sensitive" not in message.__dict__ and "erased_at" not in message.__dict__  # class defaults
        assert Message.sensitive is False and Message.erased_at is None
        assert message.sensitive is False and message.erased_at is None


# --- back office ---------------------------------------------------------------------------------------------

def test_erased_message_cannot_be_sent_again(testapp, portal_tx, registry, monkeypatch):
    with portal_tx() as portal:
        totp_secret = create_staff(portal, "agent.leroy", roles=("agent",)).totp_secret
        erased = queue_secret(portal, event_key="erased", email="nobody@example.org")
        plain = queue_message(portal, event_key="plain", kind=DECISION, subject="Refus", text="t",
                              email="nobody@example.org")
    refuse_smtp(monkeypatch)
    assert deliver_due(registry)["failed"] == 2
    staff_app = testapp
    login_staff(staff_app, "agent.leroy", totp_secret=totp_secret)
    page = staff_app.get("/backoffice/messages", {"etat": "failed"})
    assert "Contenu effacé (lien à usage unique)." in page.text
    forms = {f["message"].value: f for f in page.forms.values() if "message" in f.fields}
    assert set(forms) == {plain.id}  # no "Renvoyer" button for the erased one
    response = staff_app.post("/backoffice/messages", {"message": erased.id, "action": "resend",
                                                       "csrf_token": forms[plain.id]["csrf_token"].value})
    assert "ne peut pas être renvoyé" in response.follow().text
    with portal_tx() as portal:
        assert get_outbox(portal)[erased.id].state == FAILED
        assert not any(e.action == "message.resend" for e in portal["journal"].latest(10))
