"""Notifications: messages recorded in an outbox with the change that causes them, delivered after commit.

Views and subscribers call ``notify_household`` (a household, by its communication preference) or
``queue_message`` (one explicit recipient, e.g. an anonymous requester); nothing here talks SMTP inside a
request. The worker (``compte-citoyen INI send-notifications``, or the development background thread) delivers
what is due through the channels declared by plugins (see ``worker.py``).
"""
from __future__ import annotations

import collections
import datetime
import zoneinfo

from pyramid.settings import asbool

from ..indexes import ordered_id
from .models import (  # noqa: F401
    ACKNOWLEDGEMENT, CANCELLED, DECISION, EMAIL_CHANNEL, ERASED_CONTENT, FAILED, INFORMATION, KINDS, PHONE,
    PHONE_CHANNEL, QUEUED, SENDING, SENT, SMS_CHANNEL, STATES, Message, Outbox, utcnow,
)
from .rendering import KIND_LABELS, NO_REPLY, RenderedMessage, render_message  # noqa: F401

OUTBOX = "outbox"
DEFAULT_TIMEZONE = "Europe/Paris"
#: a reminder given as a date (no time) goes out at this local hour on that day
REMINDER_HOUR = 8


def get_outbox(portal) -> Outbox:
    return portal["outbox"]


def _timezone(registry) -> zoneinfo.ZoneInfo:
    name = DEFAULT_TIMEZONE
    if registry is not None:
        name = registry.settings.get("compte_citoyen.timezone", DEFAULT_TIMEZONE) or DEFAULT_TIMEZONE
    return zoneinfo.ZoneInfo(name)


def normalise_when(when, registry=None) -> datetime.datetime | None:
    """An aware UTC datetime from what callers give: aware or naive (city time) datetime, or a date.

    A date means "that day, in the morning, city time" (the bulky-item reminder is sent the day before
    pick-up, early enough to be useful).
    """
    if when is None:
        return None
    if not isinstance(when, datetime.datetime):
        when = datetime.datetime.combine(when, datetime.time(REMINDER_HOUR))
    if when.tzinfo is None:
        when = when.replace(tzinfo=_timezone(registry))
    return when.astimezone(datetime.timezone.utc)


def queue_message(portal, *, event_key: str, kind: str, subject: str, text: str, email: str | None = None,
                  phone: str | None = None, channel: str = "email", html: str | None = None,
                  sms_text: str | None = None, household_id: str | None = None,
                  request_number: str | None = None,
                  send_after: datetime.datetime | datetime.date | None = None,
                  registry=None, body: str | None = None, sensitive: bool = False) -> Message:
    """Record a message in the outbox, in the caller's transaction.

    ``event_key`` names the event the message is for (e.g. ``account-created:jdupont``); a second message
    for the same key is not queued again, so a retried request never sends twice. ``text`` is sent as is:
    to wrap a plain body in the portal's message templates, use ``notify_household`` or ``render_message``.
    ``channel`` is ``email``, ``sms`` or ``phone`` (kept for the portal and the staff's call list, not sent).
    ``sensitive=True`` for a message that carries a secret (a single-use link): the worker erases its
    bodies once it is sent or has failed for good, and staff cannot send it again (the citizen asks anew).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    outbox = get_outbox(portal)
    existing = outbox.find_event(event_key)
    if existing is not None:
        return existing
    message = Message(id=ordered_id(5), event_key=event_key, kind=kind, channel=channel,
                      subject=subject, text=text, email=email or None, phone=phone or None, html=html,
                      sms_text=sms_text, household_id=household_id, request_number=request_number,
                      send_after=normalise_when(send_after, registry))
    message.body = body if body is not None else text
    if sensitive:
        message.sensitive = True
    outbox.add(message.id, message)
    outbox.index(message)
    return message


def choose_channel(household, kind: str) -> str:
    """The channel for this household and kind of message.

    Acknowledgements always go by e-mail (the FAQ: "par mail"); decisions and information follow the
    household's preference. A missing address falls back to the other written channel, and to a staff
    phone call when the household has neither.
    """
    from ..household.models import PHONE as PREFER_PHONE, SMS as PREFER_SMS
    email, mobile = household.email, household.mobile
    preference = getattr(household, "communication", "email")
    if kind != ACKNOWLEDGEMENT and preference == PREFER_PHONE:
        return PHONE_CHANNEL
    if kind != ACKNOWLEDGEMENT and preference == PREFER_SMS and mobile:
        return SMS_CHANNEL
    if email:
        return EMAIL_CHANNEL
    if mobile:
        return SMS_CHANNEL
    return PHONE_CHANNEL


def notify_household(request_or_none, portal, household, *, kind: str, subject: str, text: str,
                     event_key: str, request_number: str | None = None,
                     send_after: datetime.datetime | datetime.date | None = None,
                     registry=None, sensitive: bool = False) -> list[Message]:
    """Queue a message to a household by its communication preference, in the caller's transaction.

    ``subject`` and ``text`` are plain French text (``text`` may hold several lines); they are wrapped in
    the message templates (greeting, request number, link to the portal, "no reply" notice). Returns the
    messages queued (one today); calling again with the same ``event_key`` returns the first ones.
    ``sensitive``: see ``queue_message``.
    """
    registry = registry if registry is not None else getattr(request_or_none, "registry", None)
    outbox = get_outbox(portal)
    existing = outbox.find_event(event_key)
    if existing is not None:
        return [existing]
    channel = choose_channel(household, kind)
    rendered = render_message(request_or_none if request_or_none is not None else registry, kind, subject,
                              text, request_number=request_number)
    message = queue_message(
        portal, event_key=event_key, kind=kind, subject=rendered.subject, text=rendered.text,
        html=rendered.html, sms_text=rendered.sms, email=household.email, phone=household.mobile,
        channel=channel, household_id=household.id, request_number=request_number, send_after=send_after,
        registry=registry, body=text, sensitive=sensitive)
    return [message]


def messages_for_household(portal, household_id: str, limit: int = 50) -> list[Message]:
    """Every message kept for the household (sent, waiting, or for a phone call), newest first."""
    return get_outbox(portal).for_household(household_id, limit)


def messages_for_request(portal, request_number: str, limit: int = 50) -> list[Message]:
    """The messages about one request, newest first (for the request's detail pages)."""
    return get_outbox(portal).for_request(request_number, limit)


def create_outbox(portal, registry):
    """Create the notification outbox."""
    portal.ensure_folder(OUTBOX, Outbox)


def index_outbox_states(portal, registry):
    """Add the state, date and request indexes to an outbox created before them."""
    outbox = portal.ensure_folder(OUTBOX, Outbox)
    if outbox.ensure_indexes():
        for message in outbox.values():
            outbox.index(message)


def count_outbox_states(portal, registry):
    """Add the per-state counters of the back office's message filters to an existing outbox."""
    outbox = portal.ensure_folder(OUTBOX, Outbox)
    outbox.ensure_state_counts()


def use_large_outbox_buckets(portal, registry):
    """Convert the outbox's time-ordered index sets to ``TimeIndex`` (fewer leaf splits, fewer conflicts)."""
    portal.ensure_folder(OUTBOX, Outbox).use_time_indexes()


def drop_outbox_by_created(portal, registry):
    """Forget the outbox's index of every message: the list of every message merges the per-state sets."""
    portal.ensure_folder(OUTBOX, Outbox).drop_by_created()


def messages_macro(request=None):
    """The ``messages`` macro (``notification/templates/messages.pt``) for pages that list messages."""
    from pyramid.renderers import get_renderer
    return get_renderer("compte_citoyen.notification:templates/messages.pt").implementation().macros["messages"]


#: rendered messages: (language, heading level, message id, its version, scheduled) -> HTML, oldest dropped first
_MESSAGE_HTML: collections.OrderedDict = collections.OrderedDict()
MESSAGE_HTML_CACHE_SIZE = 2000


def message_html(request, message, level: int = 2) -> str:
    """One message of the ``messages`` macro as HTML (``notification/templates/message.pt``).

    A message seldom changes once queued, and "Accueil" shows the household's latest ones on every visit: the
    HTML is kept per message version (``_p_serial``, which every committed change renews), heading level and
    language, for the last ``MESSAGE_HTML_CACHE_SIZE`` messages of the process. A reminder not yet due reads
    "Scheduled for ..." until its time, so whether it is still scheduled is part of the key. A message changed
    in this transaction, or never committed, is rendered afresh.
    """
    from pyramid.renderers import render
    from ZODB.utils import z64

    serial = getattr(message, "_p_serial", z64)
    cacheable = message._p_jar is not None and serial != z64 and not message._p_changed
    key = None
    if cacheable:
        scheduled = message.state == QUEUED and bool(message.send_after) and message.send_after > utcnow()
        key = (getattr(request, "locale_name", None), level, message.id, serial, scheduled)
        html = _MESSAGE_HTML.get(key)
        if html is not None:
            _MESSAGE_HTML.move_to_end(key)
            return html
    html = render("compte_citoyen.notification:templates/message.pt",
                  {"message": message, "level": level}, request=request)
    if key is not None:
        _MESSAGE_HTML[key] = html
        if len(_MESSAGE_HTML) > MESSAGE_HTML_CACHE_SIZE:
            _MESSAGE_HTML.popitem(last=False)
    return html


def includeme(config):
    config.add_evolve_step("core:0001-outbox", create_outbox)
    config.add_evolve_step("core:0002-outbox-indexes", index_outbox_states)
    config.add_evolve_step("core:0072-outbox-state-counts", count_outbox_states)
    config.add_evolve_step("core:0076-outbox-large-index-buckets", use_large_outbox_buckets)
    config.add_evolve_step("core:0080-outbox-without-by-created", drop_outbox_by_created)
    config.add_translation_dirs("compte_citoyen.notification:locale/")
    config.include("pyramid_mailer")
    config.add_request_method(messages_macro, "messages_macro", reify=True)
    config.add_request_method(message_html, "message_html")
    settings = config.get_settings()
    if asbool(settings.get("compte_citoyen.notifications.background_worker", False)):
        from pyramid.events import NewRequest
        config.add_subscriber(_start_worker_on_first_request, NewRequest)


def _start_worker_on_first_request(event) -> None:
    """Development: the in-process worker starts with the first HTTP request the server handles, so that
    command-line tools loading the same ini (``init``, ``send-notifications``) never start a thread."""
    registry = event.request.registry
    if getattr(registry, "_notification_worker", None) is None:
        from .worker import start_background_worker
        start_background_worker(registry)
