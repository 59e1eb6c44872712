"""Message views: the back office's delivery-state page, and the display helpers of the portal macro."""
from __future__ import annotations

import datetime
import zoneinfo

from pyramid.httpexceptions import HTTPFound, HTTPNotFound
from pyramid.view import view_config

from ..i18n import _
from ..security import BACKOFFICE
from .models import EMAIL_CHANNEL, FAILED, PHONE, PHONE_CHANNEL, QUEUED, SENDING, SENT, SMS_CHANNEL, STATES, utcnow
from .rendering import KIND_LABELS, paragraphs

PAGE_SIZE = 50

#: what a citizen reads about a message, by (channel, state) or state
CITIZEN_STATES = {
    (EMAIL_CHANNEL, SENT): _("Sent by e-mail"),
    (SMS_CHANNEL, SENT): _("Sent by SMS"),
    (PHONE_CHANNEL, SENT): _("Given by phone"),
    QUEUED: _("Being sent"),
    SENDING: _("Being sent"),
    FAILED: _("Could not be delivered: the service has been told"),
    PHONE: _("The service will call you"),
    "cancelled": _("Cancelled"),
}

#: what staff read about a state (filters and table)
STAFF_STATES = {
    QUEUED: _("Queued"),
    SENDING: _("Sending"),
    SENT: _("Sent"),
    FAILED: _("Failed"),
    PHONE: _("To call"),
    "cancelled": _("Cancelled"),
}

CHANNEL_LABELS = {EMAIL_CHANNEL: _("E-mail"), SMS_CHANNEL: _("SMS"), PHONE_CHANNEL: _("Phone")}


def _tz(request) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(request.registry.settings.get("compte_citoyen.timezone") or "Europe/Paris")


def local_time(request, when: datetime.datetime | None) -> str:
    """A date and time in the city's time zone, French style (12/05/2026 08:00)."""
    if when is None:
        return ""
    return when.astimezone(_tz(request)).strftime("%d/%m/%Y %H:%M")


def kind_label(request, message) -> str:
    return request.translate(KIND_LABELS.get(message.kind, message.kind))


def citizen_state(request, message) -> str:
    """What the citizen reads about delivery; a reminder not yet due says when it will be sent."""
    if message.state == QUEUED and message.send_after and message.send_after > utcnow():
        return request.translate(_("Scheduled for ${date}", mapping={"date": local_time(request, message.send_after)}))
    label = CITIZEN_STATES.get((message.channel, message.state)) or CITIZEN_STATES.get(message.state, message.state)
    return request.translate(label)


def body_paragraphs(message) -> list[list[str]]:
    """The caller's own text (without the mail template around it), as paragraphs of lines."""
    return paragraphs(message.body or message.text)


def encode_cursor(key: tuple | None) -> str:
    return f"{key[0]!r}|{key[1]}" if key else ""


def decode_cursor(value: str) -> tuple | None:
    try:
        stamp, message_id = value.split("|", 1)
        return (float(stamp), message_id)
    except (ValueError, AttributeError):
        return None


@view_config(route_name="bo_messages", renderer="templates/bo_messages.pt", permission=BACKOFFICE,
             request_method="GET")
def bo_messages(request):
    """Delivery state of every message, newest first, one state at a time, read page by page from the index."""
    outbox = request.app_root["outbox"]
    state = request.params.get("etat", "")
    if state not in STATES:
        state = ""
    after = decode_cursor(request.params.get("apres", ""))
    messages, next_key = outbox.page(state or None, after, PAGE_SIZE)
    query = {"etat": state} if state else {}
    return {
        "page_title": request.translate(_("Messages to citizens")),
        "messages": messages,
        "state": state,
        "states": [(code, request.translate(STAFF_STATES[code]), outbox.count(code)) for code in STAFF_STATES],
        "next_url": request.route_url("bo_messages", _query={**query, "apres": encode_cursor(next_key)})
        if next_key else None,
        "first_url": request.route_url("bo_messages", _query=query) if after else None,
        "staff_state": lambda m: request.translate(STAFF_STATES.get(m.state, m.state)),
        "channel_label": lambda m: request.translate(CHANNEL_LABELS.get(m.channel, m.channel)),
        "kind_label": lambda m: kind_label(request, m),
        "local_time": lambda when: local_time(request, when),
        "csrf_token": request.session.get_csrf_token(),
    }


@view_config(route_name="bo_messages", permission=BACKOFFICE, request_method="POST")
def bo_message_action(request):
    """Staff act on one message: send again a failed one (on purpose), or record that a phone call was made."""
    from ..backoffice.models import journal
    outbox = request.app_root["outbox"]
    message = outbox.get(request.POST.get("message", ""))
    if message is None:
        raise HTTPNotFound()
    action = request.POST.get("action")
    now = utcnow()
    if action == "resend" and message.state == FAILED and message.erased_at is not None:
        # its single-use link was erased (and has expired by now): the citizen must ask for a new one
        request.session.flash(request.translate(_(
            "This message held a single-use link, erased after the failure: it cannot be sent again. The "
            "person must make the request again (for example \"Forgotten password\").")))
    elif action == "resend" and message.state == FAILED:
        message.failure_reason = ""
        message.attempts = 0
        outbox.requeue(message, now)
        message.log(now, f"sent again by {request.identity.userid}")
        journal(request, "message.resend", message.request_number or message.household_id or "", message.id)
        request.session.flash(request.translate(_("The message will be sent again in a moment.")))
    elif action == "called" and message.state == PHONE:
        outbox.set_state(message, SENT)
        message.sent_at = now
        message.log(now, f"phone call recorded by {request.identity.userid}")
        if message.sensitive:
            message.erase_content(now)
        journal(request, "message.called", message.request_number or message.household_id or "", message.id)
        request.session.flash(request.translate(_("The phone call is recorded.")))
    else:
        request.session.flash(request.translate(_("This action is not possible for this message any more.")))
    return HTTPFound(request.route_url("bo_messages", _query={"etat": request.POST.get("etat", "")}
                                       if request.POST.get("etat") in STATES else {}))
