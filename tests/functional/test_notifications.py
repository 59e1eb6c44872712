"""Notifications: outbox in the request's transaction, worker after commit, real SMTP and HTTP SMS gateway."""
from __future__ import annotations

import datetime
import mailbox
import os

import pytest
import transaction
from pyramid.config import Configurator
from pyramid.security import NO_PERMISSION_REQUIRED
from ZODB.POSException import ConflictError

from compte_citoyen.household.workdays import local_today
from compte_citoyen.notification import (
    ACKNOWLEDGEMENT, DECISION, FAILED, INFORMATION, PHONE, QUEUED, SENDING, SENT, get_outbox, messages_for_household,
    messages_for_request, notify_household, queue_message, render_message,
)
from compte_citoyen.notification import worker
from compte_citoyen.notification.worker import deliver_due
from compte_citoyen.testing import SMTPServer, create_citizen, create_staff, login_staff

NO_REPLY = "Ce message est envoyé automatiquement, merci de ne pas y répondre."
UTC = datetime.timezone.utc


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(UTC)


class Calls:
    attempts = 0


@pytest.fixture
def notify_app(app):
    """Adds a test view standing for any operation that notifies (a submission, a decision): it queues a
    message in the request's transaction; with ``conflict=1`` its first attempt raises ConflictError after
    queueing, as a concurrent write would, and pyramid_retry runs the request again."""
    calls = Calls()

    def view(request):
        calls.attempts += 1
        portal = request.app_root
        household = portal["households"][request.params["household"]]
        messages = notify_household(
            request, portal, household, kind=request.params.get("kind", ACKNOWLEDGEMENT),
            subject=request.params.get("subject", "Votre demande est enregistrée"),
            text=request.params.get("text", "Nous avons bien reçu votre demande de carte de stationnement."),
            event_key=request.params["event"], request_number=request.params.get("number"))
        if request.params.get("conflict") and calls.attempts == 1:
            raise ConflictError("simulated concurrent write")
        return {"ids": [m.id for m in messages], "attempts": calls.attempts}

    config = Configurator(registry=app.registry)
    config.add_route("test_notify", "/test/notifier")
    config.add_view(view, route_name="test_notify", renderer="json", permission=NO_PERMISSION_REQUIRED,
                    require_csrf=False)
    config.commit()
    return calls


def make_household(portal_tx, **kw):
    with portal_tx() as portal:
        _account, household = create_citizen(portal, code=kw.pop("code", "jdupont"), **kw)
        return household.id


def outbox_state(portal_tx, message_id):
    with portal_tx() as portal:
        message = get_outbox(portal)[message_id]
        return message.state, message.attempts, message.last_error, message.failure_reason


# --- templates ----------------------------------------------------------------------------------------

def test_templates_in_french_for_the_three_kinds(registry):
    for kind, label in [(ACKNOWLEDGEMENT, "Accusé de réception"), (DECISION, "Décision"),
                        (INFORMATION, "Information")]:
        rendered = render_message(registry, kind, "Votre demande", "Première ligne.\nDeuxième ligne.",
                                  "Autre paragraphe.", request_number="2026-00042")
        assert rendered.subject == f"{label} : Votre demande"
        assert rendered.text.startswith(label + "\n")
        assert "Bonjour," in rendered.text and "Numéro de la demande : 2026-00042" in rendered.text
        assert NO_REPLY in rendered.text and NO_REPLY in rendered.html and NO_REPLY in rendered.sms
        assert "Première ligne.<br>Deuxième ligne." in rendered.html and '<html lang="fr">' in rendered.html
        assert rendered.html.count("<h1>") == 1
        assert rendered.sms.startswith("Ville de Clairval : ") and len(rendered.sms) <= 459


def test_sms_is_short_even_for_a_long_text(registry):
    rendered = render_message(registry, INFORMATION, "Rappel", "mot " * 400)
    assert len(rendered.sms) <= 459 and rendered.sms.endswith(NO_REPLY) and "…" in rendered.sms


def test_html_escapes_what_the_caller_wrote(registry):
    rendered = render_message(registry, DECISION, "Refus", "<script>alert(1)</script> & motif")
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html


# --- e-mail: acknowledgement, outage, conflicts ----------------------------------------------------------

def test_acknowledgement_arrives_once(smtp_server, notify_app, testapp, portal_tx, registry):
    household_id = make_household(portal_tx)
    response = testapp.post("/test/notifier", {"household": household_id, "event": "submitted:2026-1",
                                               "number": "2026-1"})
    assert response.json["attempts"] == 1
    assert smtp_server.messages == []  # nothing is sent by the request itself
    stats = deliver_due(registry)
    assert stats["sent"] == 1
    mails = smtp_server.wait_for(1)
    assert len(mails) == 1
    mail = mails[0]
    assert mail["To"] == "jeanne.dupont@example.org"
    assert mail["Subject"] == "Accusé de réception : Votre demande est enregistrée"
    assert mail["Auto-Submitted"] == "auto-generated"
    text = SMTPServer.text_of(mail)
    assert "Nous avons bien reçu votre demande de carte de stationnement." in text
    assert "Numéro de la demande : 2026-1" in text and NO_REPLY in text
    assert mail.get_body(preferencelist=("html",)) is not None
    # the same event again (a double click, a retried request) and more worker rounds: still one mail
    testapp.post("/test/notifier", {"household": household_id, "event": "submitted:2026-1"})
    assert deliver_due(registry).get("sent", 0) == 0
    assert deliver_due(registry, now=now_utc() + datetime.timedelta(days=2)).get("sent", 0) == 0
    assert len(smtp_server.wait_for(2, timeout=0.5)) == 1
    with portal_tx() as portal:
        messages = messages_for_household(portal, household_id)
        assert [m.state for m in messages] == [SENT]
        assert messages[0].sent_at is not None and messages[0].attempts == 1
        assert [m.id for m in messages_for_request(portal, "2026-1")] == [messages[0].id]


def test_smtp_outage_delays_and_loses_nothing(smtp_server, notify_app, testapp, portal_tx, registry):
    household_id = make_household(portal_tx)
    smtp_server.stop()
    response = testapp.post("/test/notifier", {"household": household_id, "event": "submitted:2026-2"})
    message_id = response.json["ids"][0]
    now = now_utc()
    stats = deliver_due(registry, now=now)
    assert stats["retry"] == 1
    state, attempts, last_error, _reason = outbox_state(portal_tx, message_id)
    assert (state, attempts) == (QUEUED, 1) and "Connection refused" in last_error
    # still down a minute later: the delay doubles
    assert deliver_due(registry, now=now + datetime.timedelta(seconds=61))["retry"] == 1
    with portal_tx() as portal:
        message = get_outbox(portal)[message_id]
        assert message.next_attempt == now + datetime.timedelta(seconds=61 + 120)
    smtp_server.start()  # the server is back on the same port
    assert deliver_due(registry, now=now + datetime.timedelta(seconds=62)).get("sent", 0) == 0  # not due yet
    assert deliver_due(registry, now=now + datetime.timedelta(seconds=200))["sent"] == 1
    assert len(smtp_server.wait_for(1)) == 1
    deliver_due(registry, now=now + datetime.timedelta(days=1))
    assert len(smtp_server.wait_for(2, timeout=0.5)) == 1
    state, attempts, last_error, _reason = outbox_state(portal_tx, message_id)
    assert (state, attempts, last_error) == (SENT, 3, "")


def test_conflict_retry_of_the_request_does_not_duplicate(smtp_server, notify_app, testapp, portal_tx, registry):
    household_id = make_household(portal_tx)
    response = testapp.post("/test/notifier", {"household": household_id, "event": "submitted:2026-3",
                                               "conflict": "1"})
    assert response.status_int == 200 and response.json["attempts"] == 2  # retried by pyramid_retry
    with portal_tx() as portal:
        assert len(get_outbox(portal)) == 1
        assert len(messages_for_household(portal, household_id)) == 1
    assert deliver_due(registry)["sent"] == 1
    assert deliver_due(registry).get("sent", 0) == 0
    assert len(smtp_server.wait_for(2, timeout=0.5)) == 1


def test_event_key_makes_queueing_idempotent(portal_tx, registry):
    household_id = make_household(portal_tx)
    with portal_tx() as portal:
        household = portal["households"][household_id]
        first = notify_household(None, portal, household, kind=DECISION, subject="Accord", text="Accordé.",
                                 event_key="decision:2026-4", registry=registry)
        second = notify_household(None, portal, household, kind=DECISION, subject="Accord", text="Accordé.",
                                  event_key="decision:2026-4", registry=registry)
        again = queue_message(portal, event_key="decision:2026-4", kind=DECISION, subject="x", text="y",
                              email="x@example.org")
        assert [m.id for m in first] == [m.id for m in second] == [again.id]
        assert len(get_outbox(portal)) == 1


def test_unknown_kind_is_refused(portal_tx):
    with portal_tx() as portal, pytest.raises(ValueError):
        queue_message(portal, event_key="k", kind="spam", subject="s", text="t", email="a@example.org")


def test_anonymous_requester_gets_an_email(smtp_server, portal_tx, registry):
    rendered = render_message(registry, ACKNOWLEDGEMENT, "Demande d'acte de naissance",
                              "Votre demande est enregistrée.", request_number="EC-2026-7",
                              link="http://localhost/suivi/EC-2026-7/jeton")
    with portal_tx() as portal:
        queue_message(portal, event_key="submitted:EC-2026-7", kind=ACKNOWLEDGEMENT, subject=rendered.subject,
                      text=rendered.text, html=rendered.html, email="anonyme@example.org",
                      request_number="EC-2026-7")
    assert deliver_due(registry)["sent"] == 1
    mail = smtp_server.wait_for(1)[0]
    assert mail["To"] == "anonyme@example.org"
    assert "http://localhost/suivi/EC-2026-7/jeton" in SMTPServer.text_of(mail)


def test_permanent_smtp_refusal_fails_with_reason(smtp_server, portal_tx, registry, monkeypatch):
    import smtplib
    household_id = make_household(portal_tx, email="")
    with portal_tx() as portal:
        household = portal["households"][household_id]
        household.holder.mobile = ""
        [message] = notify_household(None, portal, household, kind=ACKNOWLEDGEMENT, subject="s", text="t",
                                     event_key="k1", registry=registry)
        assert message.channel == "phone"  # nothing to write to: the service calls
        refused = queue_message(portal, event_key="k2", kind=INFORMATION, subject="s", text="t",
                                email="nobody@example.org")
    from repoze.sendmail.mailer import SMTPMailer

    def refuse(self, fromaddr, toaddrs, message):
        raise smtplib.SMTPRecipientsRefused({"nobody@example.org": (550, b"no such user")})
    monkeypatch.setattr(SMTPMailer, "send", refuse)
    assert deliver_due(registry)["failed"] == 1
    state, attempts, _err, reason = outbox_state(portal_tx, refused.id)
    assert state == FAILED and attempts == 1 and "SMTPRecipientsRefused" in reason


def test_gives_up_after_max_attempts(settings, portal_tx, registry):
    registry.settings["compte_citoyen.notifications.max_attempts"] = "2"
    with portal_tx() as portal:
        message = queue_message(portal, event_key="k", kind=INFORMATION, subject="s", text="t",
                                email="a@example.org")
    now = now_utc()
    assert deliver_due(registry, now=now)["retry"] == 1  # nothing listens on mail.port 1
    assert deliver_due(registry, now=now + datetime.timedelta(hours=1))["failed"] == 1
    state, attempts, _err, reason = outbox_state(portal_tx, message.id)
    assert state == FAILED and attempts == 2 and reason.startswith("gave up after 2 attempts")


# --- two workers, interrupted workers ----------------------------------------------------------------------

def test_two_workers_claiming_the_same_message_send_it_once(smtp_server, portal_tx, registry, monkeypatch):
    with portal_tx() as portal:
        message = queue_message(portal, event_key="k", kind=INFORMATION, subject="s", text="t",
                                email="a@example.org")
        message_id = message.id
    original = worker._snapshot
    other_worker = {}

    def snapshot_while_another_worker_claims(msg):
        # this worker is inside its claim transaction; another worker claims and commits first
        if not other_worker:
            other_worker["snapshot"] = None
            tm = transaction.TransactionManager(explicit=True)
            conn = worker.get_database(registry).open(transaction_manager=tm)
            try:
                other_worker["snapshot"] = worker._claim(tm, conn, message_id, now_utc())
            finally:
                conn.close()
        return original(msg)

    monkeypatch.setattr(worker, "_snapshot", snapshot_while_another_worker_claims)
    stats = deliver_due(registry)
    assert other_worker["snapshot"] is not None  # the other worker got it
    assert stats["skipped"] == 1 and stats.get("sent", 0) == 0  # this one hit ConflictError and let go
    assert outbox_state(portal_tx, message_id)[0] == SENDING
    assert smtp_server.messages == []


def test_message_left_sending_is_never_sent_twice(smtp_server, portal_tx, registry):
    with portal_tx() as portal:
        message = queue_message(portal, event_key="k", kind=INFORMATION, subject="s", text="t",
                                email="a@example.org")
        outbox = get_outbox(portal)
        outbox.set_state(message, SENDING)  # a worker claimed it, then died during the send
        message.sending_since = now_utc()
    assert deliver_due(registry) == {"interrupted": 0}
    later = now_utc() + datetime.timedelta(hours=1)
    assert deliver_due(registry, now=later)["interrupted"] == 1
    state, _a, _e, reason = outbox_state(portal_tx, message.id)
    assert state == FAILED and "delivery uncertain" in reason
    assert smtp_server.messages == []


# --- SMS -----------------------------------------------------------------------------------------------------

def test_sms_preference_sends_the_decision_by_sms(smtp_server, sms_gateway_server, portal_tx, registry):
    household_id = make_household(portal_tx, communication="sms", mobile="06 12 34 56 78")
    with portal_tx() as portal:
        household = portal["households"][household_id]
        [decision] = notify_household(None, portal, household, kind=DECISION, subject="Demande acceptée",
                                      text="Votre demande de stationnement est acceptée.",
                                      event_key="decision:2026-5", request_number="2026-5", registry=registry)
        [ack] = notify_household(None, portal, household, kind=ACKNOWLEDGEMENT, subject="Demande enregistrée",
                                 text="Nous avons bien reçu votre demande.", event_key="submitted:2026-5",
                                 registry=registry)
        assert (decision.channel, ack.channel) == ("sms", "email")  # acknowledgements always by e-mail
    stats = deliver_due(registry)
    assert stats["sent"] == 2
    [sms] = sms_gateway_server.requests
    assert sms["json"]["to"] == "+33612345678" and sms["json"]["from"] == "CLAIRVAL"
    assert "Votre demande de stationnement est acceptée." in sms["json"]["text"]
    assert NO_REPLY in sms["json"]["text"]
    assert sms["headers"]["Authorization"].startswith("Basic ")
    assert sms["headers"]["Idempotency-Key"] == decision.id
    [mail] = smtp_server.wait_for(1)
    assert mail["Subject"] == "Accusé de réception : Demande enregistrée"
    deliver_due(registry, now=now_utc() + datetime.timedelta(days=1))
    assert len(sms_gateway_server.requests) == 1


def test_sms_gateway_outage_is_retried(sms_gateway_server, portal_tx, registry):
    household_id = make_household(portal_tx, communication="sms")
    sms_gateway_server.status = 503
    with portal_tx() as portal:
        [message] = notify_household(None, portal, portal["households"][household_id], kind=INFORMATION,
                                     subject="Pièces à apporter", text="Présentez-vous au guichet.",
                                     event_key="info:1", registry=registry)
    now = now_utc()
    assert deliver_due(registry, now=now)["retry"] == 1
    state, attempts, last_error, _ = outbox_state(portal_tx, message.id)
    assert (state, attempts) == (QUEUED, 1) and "HTTP 503" in last_error
    sms_gateway_server.status = 200
    assert deliver_due(registry, now=now + datetime.timedelta(minutes=2))["sent"] == 1
    assert len(sms_gateway_server.requests) == 2  # the refused try, then the delivered one


def test_sms_permanent_failure_falls_back_to_email(smtp_server, sms_gateway_server, portal_tx, registry):
    household_id = make_household(portal_tx, communication="sms")
    sms_gateway_server.status = 400
    with portal_tx() as portal:
        [message] = notify_household(None, portal, portal["households"][household_id], kind=DECISION,
                                     subject="Demande refusée", text="Motif : dossier incomplet.",
                                     event_key="decision:2026-6", registry=registry)
    stats = deliver_due(registry)
    assert stats["failed_with_fallback"] == 1 and stats["sent"] == 1  # the fallback went out in the same round
    [mail] = smtp_server.wait_for(1)
    assert mail["Subject"] == "Décision : Demande refusée"
    assert "Motif : dossier incomplet." in SMTPServer.text_of(mail)
    with portal_tx() as portal:
        sms = get_outbox(portal)[message.id]
        assert sms.state == FAILED and "HTTP 400" in sms.failure_reason
        fallback = get_outbox(portal)[sms.fallback_id]
        assert (fallback.channel, fallback.state, fallback.fallback_of) == ("email", SENT, sms.id)
        assert len(messages_for_household(portal, household_id)) == 2
    deliver_due(registry, now=now_utc() + datetime.timedelta(days=1))
    assert len(smtp_server.wait_for(2, timeout=0.5)) == 1 and len(sms_gateway_server.requests) == 1


def test_sms_without_active_gateway_falls_back_to_email(smtp_server, settings, portal_tx, registry):
    registry.settings["compte_citoyen.sms_channel"] = "no_such_gateway"
    household_id = make_household(portal_tx, communication="sms")
    with portal_tx() as portal:
        notify_household(None, portal, portal["households"][household_id], kind=INFORMATION, subject="Info",
                         text="Texte.", event_key="info:2", registry=registry)
    assert deliver_due(registry)["failed_with_fallback"] == 1
    assert len(smtp_server.wait_for(1)) == 1


# --- scheduled reminders, phone preference ---------------------------------------------------------------

def test_scheduled_reminder_goes_out_on_its_date_and_not_before(smtp_server, portal_tx, registry):
    household_id = make_household(portal_tx)
    pickup = local_today() + datetime.timedelta(days=10)
    day_before = pickup - datetime.timedelta(days=1)
    with portal_tx() as portal:
        [reminder] = notify_household(
            None, portal, portal["households"][household_id], kind=INFORMATION, subject="Rappel encombrants",
            text=f"Pensez à sortir vos encombrants dans la rue le {pickup:%d/%m/%Y}.",
            event_key="reminder:2026-8", request_number="2026-8", send_after=day_before, registry=registry)
        due = reminder.send_after
    assert due.astimezone(datetime.timezone.utc) == due
    local = due.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert (local.date(), local.hour) == (day_before, 8)
    assert deliver_due(registry) == {"interrupted": 0}  # today: nothing
    assert deliver_due(registry, now=due - datetime.timedelta(minutes=1)) == {"interrupted": 0}
    assert smtp_server.messages == []
    assert deliver_due(registry, now=due)["sent"] == 1
    [mail] = smtp_server.wait_for(1)
    assert f"sortir vos encombrants dans la rue le {pickup:%d/%m/%Y}" in SMTPServer.text_of(mail)
    assert deliver_due(registry, now=due + datetime.timedelta(days=1)).get("sent", 0) == 0


def test_phone_preference_keeps_the_message_for_the_portal(smtp_server, sms_gateway_server, portal_tx, registry):
    household_id = make_household(portal_tx, communication="phone")
    with portal_tx() as portal:
        household = portal["households"][household_id]
        [decision] = notify_household(None, portal, household, kind=DECISION, subject="Demande acceptée",
                                      text="Accordé.", event_key="decision:9", registry=registry)
        [ack] = notify_household(None, portal, household, kind=ACKNOWLEDGEMENT, subject="Reçu",
                                 text="Reçu.", event_key="submitted:9", registry=registry)
        assert decision.state == PHONE and decision.channel == "phone"
        assert ack.channel == "email"
    assert deliver_due(registry)["sent"] == 1  # the acknowledgement only
    assert len(smtp_server.wait_for(1)) == 1 and sms_gateway_server.requests == []
    with portal_tx() as portal:
        messages = messages_for_household(portal, household_id)
        assert [m.id for m in messages] == [ack.id, decision.id]  # newest first
        assert messages[1].state == PHONE


def test_household_messages_newest_first_with_limit(portal_tx, registry):
    household_id = make_household(portal_tx)
    with portal_tx() as portal:
        household = portal["households"][household_id]
        for i in range(5):
            notify_household(None, portal, household, kind=INFORMATION, subject=f"Message {i}", text="t",
                             event_key=f"info:{i}", registry=registry)
    with portal_tx() as portal:
        subjects = [m.subject for m in messages_for_household(portal, household_id, limit=3)]
        assert subjects == ["Information : Message 4", "Information : Message 3", "Information : Message 2"]
        assert messages_for_household(portal, "unknown") == []


# --- development delivery, background thread, command ------------------------------------------------------

@pytest.mark.parametrize("folder_exists", [False, True], ids=["new-folder", "empty-folder-made-by-make"])
def test_development_mail_goes_to_the_maildir(settings, portal_tx, registry, tmp_path, folder_exists):
    settings["compte_citoyen.mail_delivery"] = "folder"
    registry.settings["compte_citoyen.mail_delivery"] = "folder"
    if folder_exists:
        os.makedirs(settings["compte_citoyen.mail_folder"], exist_ok=True)
    with portal_tx() as portal:
        queue_message(portal, event_key="k", kind=INFORMATION, subject="Dans le dossier", text="Bonjour",
                      email="a@example.org")
    assert deliver_due(registry)["sent"] == 1
    box = mailbox.Maildir(settings["compte_citoyen.mail_folder"], create=False)
    [mail] = list(box)
    assert mail["Subject"] == "Dans le dossier" and mail["To"] == "a@example.org"


def test_background_worker_only_when_asked(smtp_server, settings, tmp_path, portal_tx, registry):
    assert getattr(registry, "_notification_worker", None) is None  # never started in tests by default
    with portal_tx() as portal:
        queue_message(portal, event_key="k", kind=INFORMATION, subject="s", text="t", email="a@example.org")
    background = worker.start_background_worker(registry, interval=0.1)
    try:
        assert worker.start_background_worker(registry) is background  # once per process
        assert len(smtp_server.wait_for(1)) == 1
    finally:
        background.stop()
    assert not background.thread.is_alive()


def test_background_worker_setting_starts_the_thread(smtp_server, tmp_path):
    from compte_citoyen import main
    from compte_citoyen.database import get_database
    from compte_citoyen.testing import base_settings, open_portal
    settings = base_settings(tmp_path, **{"compte_citoyen.notifications.background_worker": "true",
                                          "compte_citoyen.notifications.interval": "0.1",
                                          "mail.host": smtp_server.host, "mail.port": str(smtp_server.port)})
    application = main({}, **settings)
    try:
        assert getattr(application.registry, "_notification_worker", None) is None  # CLI tools load apps too
        import webtest
        webtest.TestApp(application).get("/sante")  # the server's first request starts it
        background = application.registry._notification_worker
        webtest.TestApp(application).get("/sante")
        assert application.registry._notification_worker is background
        with open_portal(application.registry) as portal:
            queue_message(portal, event_key="k", kind=INFORMATION, subject="s", text="t", email="a@example.org")
        assert len(smtp_server.wait_for(1)) == 1
        background.stop()
    finally:
        get_database(application.registry).close()


def test_send_notifications_command(smtp_server, portal_tx, registry, capsys):
    from types import SimpleNamespace

    from compte_citoyen.cli import COMMANDS, make_parser
    from compte_citoyen.notification.commands import send_notifications
    parser = make_parser()
    args = parser.parse_args(["x.ini", "send-notifications", "--loop", "--interval", "2"])
    assert (args.loop, args.interval) == (True, 2.0)
    assert COMMANDS["send-notifications"][0] is send_notifications
    env = SimpleNamespace(registry=registry)
    assert send_notifications(env, SimpleNamespace(loop=False, interval=5)) == 0
    assert "nothing to send" in capsys.readouterr().out
    with portal_tx() as portal:
        queue_message(portal, event_key="k", kind=INFORMATION, subject="s", text="t", email="a@example.org")
    send_notifications(env, SimpleNamespace(loop=False, interval=5))
    assert "sent: 1" in capsys.readouterr().out
    assert len(smtp_server.wait_for(1)) == 1


def test_outbox_indexes_added_to_an_old_outbox(portal_tx, registry):
    from compte_citoyen.notification import index_outbox_states
    with portal_tx() as portal:
        message = queue_message(portal, event_key="k", kind=INFORMATION, subject="s", text="t",
                                email="a@example.org", request_number="R-1")
        outbox = get_outbox(portal)
        outbox.by_state = outbox.by_created = outbox.by_request = None  # as stored before the indexes
        index_outbox_states(portal, registry)
        assert outbox.page(QUEUED)[0] == [message]
        assert messages_for_request(portal, "R-1") == [message]


# --- back office ------------------------------------------------------------------------------------------------

@pytest.fixture
def staff_app(testapp, portal_tx):
    with portal_tx() as portal:
        staff = create_staff(portal, "agent.dupuis", roles=("agent",), services=("voirie",))
        secret = staff.totp_secret
    login_staff(testapp, "agent.dupuis", totp_secret=secret)
    return testapp


def test_backoffice_messages_page_filters_and_pages(staff_app, portal_tx, registry, monkeypatch):
    from compte_citoyen.notification import views
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    with portal_tx() as portal:
        outbox = get_outbox(portal)
        for i in range(3):
            queue_message(portal, event_key=f"q{i}", kind=INFORMATION, subject=f"En attente {i}", text="t",
                          email="a@example.org")
        failed = queue_message(portal, event_key="f", kind=DECISION, subject="Refus SMS", text="t",
                               phone="0612345678", channel="sms", request_number="2026-77")
        outbox.set_state(failed, FAILED)
        failed.failure_reason = "SMS gateway answered HTTP 400"
    html = staff_app.get("/backoffice/messages").text
    assert html.count("<h1") == 1 and "Messages aux citoyens" in html
    assert html.count('class="message-row') == 2 and "Messages plus anciens" in html
    html = staff_app.get("/backoffice/messages", {"etat": "failed"}).text
    assert html.count('class="message-row') == 1 and "SMS gateway answered HTTP 400" in html
    assert "Refus SMS" in html and "En attente" not in html.split("<tbody>")[1]
    page1 = staff_app.get("/backoffice/messages", {"etat": "queued"})
    assert page1.text.count('class="message-row') == 2
    page2 = page1.click(description="Messages plus anciens")
    assert page2.text.count('class="message-row') == 1 and "Messages les plus récents" in page2.text
    assert "Messages plus anciens" not in page2.text
    # bad filter values are ignored, not errors
    assert staff_app.get("/backoffice/messages", {"etat": "nope", "apres": "garbage"}).status_int == 200


def test_backoffice_resend_a_failed_message(smtp_server, staff_app, portal_tx, registry):
    with portal_tx() as portal:
        message = queue_message(portal, event_key="f", kind=DECISION, subject="Refus", text="t",
                                email="a@example.org")
        get_outbox(portal).set_state(message, FAILED)
        message.failure_reason = "interrupted"
    page = staff_app.get("/backoffice/messages", {"etat": "failed"})
    form = [f for f in page.forms.values() if "message" in f.fields][0]
    response = form.submit("action", value="resend")
    assert response.status_int == 302
    assert outbox_state(portal_tx, message.id)[0] == QUEUED
    assert deliver_due(registry)["sent"] == 1 and len(smtp_server.wait_for(1)) == 1
    with portal_tx() as portal:
        assert any(e.action == "message.resend" for e in portal["journal"].latest(10))


def test_backoffice_records_a_phone_call(staff_app, portal_tx, registry):
    household_id = make_household(portal_tx, communication="phone")
    with portal_tx() as portal:
        [message] = notify_household(None, portal, portal["households"][household_id], kind=DECISION,
                                     subject="Accord", text="t", event_key="d", registry=registry)
    page = staff_app.get("/backoffice/messages", {"etat": "phone"})
    assert "À appeler" in page.text and "Marquer comme appelé" in page.text
    form = [f for f in page.forms.values() if "message" in f.fields][0]
    form.submit("action", value="called")
    assert outbox_state(portal_tx, message.id)[0] == SENT


def test_backoffice_messages_need_staff(testapp, portal_tx):
    assert testapp.get("/backoffice/messages", status=302).location.startswith("http://localhost/backoffice/connexion")
    response = testapp.post("/backoffice/messages", {"message": "x", "action": "resend"}, status=302)
    assert "/backoffice/connexion" in response.location


# --- portal macro ------------------------------------------------------------------------------------------------

def messages_page(app, tmp_path, household_id: str, path: str) -> None:
    """A page at ``path`` that includes the ``messages`` macro with the household's messages, as Accueil does."""
    page = tmp_path / "page.pt"
    page.write_text('<metal:page use-macro="layout.macros[\'layout\']" i18n:domain="compte_citoyen">'
                    '<metal:content fill-slot="content"><h1>Accueil</h1>'
                    '<metal:m use-macro="request.messages_macro"/></metal:content></metal:page>',
                    encoding="utf-8")

    def view(request):
        return {"page_title": "Accueil", "messages": messages_for_household(request.app_root, household_id)}

    config = Configurator(registry=app.registry, package="compte_citoyen")
    config.add_route(f"test{path.replace('/', '_')}", path)
    config.add_view(view, route_name=f"test{path.replace('/', '_')}", renderer=str(page),
                    permission=NO_PERMISSION_REQUIRED)
    config.commit()


def test_messages_macro_lists_the_household_messages(app, testapp, portal_tx, registry, tmp_path):
    """The macro the Accueil page and the request detail include: newest first, kind, state, date, body."""
    household_id = make_household(portal_tx)
    with portal_tx() as portal:
        household = portal["households"][household_id]
        notify_household(None, portal, household, kind=ACKNOWLEDGEMENT, subject="Demande enregistrée",
                         text="Nous avons bien reçu votre demande.\nÀ bientôt.", event_key="a",
                         request_number="2026-11", registry=registry)
        notify_household(None, portal, household, kind=INFORMATION, subject="Rappel", text="Encombrants.",
                         event_key="r", send_after=datetime.date(2099, 5, 12), registry=registry)
        household.communication = "phone"
        notify_household(None, portal, household, kind=DECISION, subject="Demande acceptée",
                         text="Votre demande est acceptée.", event_key="d", registry=registry)
    messages_page(app, tmp_path, household_id, "/test/messages")
    html = testapp.get("/test/messages").text
    assert html.count("<h1") == 1 and "Mes messages" in html
    assert "Ces messages ne nécessitent aucune réponse." in html
    positions = [html.index(s) for s in ("Décision : Demande acceptée", "Information : Rappel",
                                         "Accusé de réception : Demande enregistrée")]
    assert positions == sorted(positions)  # newest first
    assert "Le service vous appellera" in html  # phone preference
    assert "Prévu le 12/05/2099 08:00" in html  # scheduled reminder
    assert "En cours d’envoi" in html
    assert "Nous avons bien reçu votre demande.<br>À bientôt." in html
    assert "Numéro de la demande : 2026-11" in html
    deliver_due(registry, now=now_utc())  # nothing listens on mail.port 1: still waiting, retried later
    assert "En cours d’envoi" in testapp.get("/test/messages").text


def test_rendered_messages_are_kept_per_version(app, testapp, portal_tx, registry, tmp_path, monkeypatch):
    """``request.message_html`` keeps each message's HTML for the version it rendered: a change committed to
    the message (its ``_p_serial``) shows at once, and so does a reminder whose date has come."""
    import compte_citoyen.notification as notification
    from compte_citoyen.notification import views as message_views

    household_id = make_household(portal_tx)
    with portal_tx() as portal:
        household = portal["households"][household_id]
        [ack] = notify_household(None, portal, household, kind=ACKNOWLEDGEMENT, subject="Demande enregistrée",
                                 text="Bien reçu.", event_key="a", registry=registry)
        [reminder] = notify_household(None, portal, household, kind=INFORMATION, subject="Rappel",
                                      text="Encombrants.", event_key="r", send_after=datetime.date(2099, 5, 12),
                                      registry=registry)
        ack_id, reminder_id, due = ack.id, reminder.id, reminder.send_after
    renders = []
    import pyramid.renderers
    original = pyramid.renderers.render

    def counting_render(name, value, request=None, package=None):
        if name.endswith("message.pt"):
            renders.append(value["message"].id)
        return original(name, value, request=request, package=package)

    monkeypatch.setattr(pyramid.renderers, "render", counting_render)
    messages_page(app, tmp_path, household_id, "/test/cached-messages")
    first = testapp.get("/test/cached-messages").text
    assert sorted(renders) == sorted([ack_id, reminder_id])
    assert testapp.get("/test/cached-messages").text == first
    assert len(renders) == 2  # the second page rendered no message again
    with portal_tx() as portal:
        portal["outbox"][ack_id].subject = "Demande bien enregistrée"
    html = testapp.get("/test/cached-messages").text
    assert ">Demande bien enregistrée</h3>" in html and renders[2:] == [ack_id]
    assert "Prévu le 12/05/2099 08:00" in html
    later = due + datetime.timedelta(minutes=1)
    monkeypatch.setattr(notification, "utcnow", lambda: later)
    monkeypatch.setattr(message_views, "utcnow", lambda: later)
    html = testapp.get("/test/cached-messages").text
    assert "Prévu le" not in html and html.count("En cours d’envoi") == 2
    assert renders[3:] == [reminder_id]
