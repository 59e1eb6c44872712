"""Notifications: messages recorded in an outbox with the change that causes them, delivered after commit.

Views and subscribers call ``queue_message``; nothing here talks SMTP inside a request. The worker
(``compte-citoyen INI send-notifications``) delivers what is due through the channels declared by plugins.
"""
from __future__ import annotations

import datetime
import secrets

from .models import ACKNOWLEDGEMENT, DECISION, INFORMATION, Message, Outbox  # noqa: F401

OUTBOX = "outbox"


def get_outbox(portal) -> Outbox:
    return portal["outbox"]


def queue_message(portal, *, event_key: str, kind: str, subject: str, text: str, email: str | None = None,
                  phone: str | None = None, channel: str = "email", html: str | None = None,
                  sms_text: str | None = None, household_id: str | None = None,
                  request_number: str | None = None,
                  send_after: datetime.datetime | None = None) -> Message:
    """Record a message in the outbox, in the caller's transaction.

    ``event_key`` names the event the message is for (e.g. ``account-created:jdupont``); a second message
    for the same key is not queued again, so a retried request never sends twice.
    """
    outbox = get_outbox(portal)
    existing = outbox.event_keys.get(event_key)
    if existing is not None:
        return outbox[existing]
    message = Message(id=secrets.token_hex(12), event_key=event_key, kind=kind, channel=channel,
                      subject=subject, text=text, email=email, phone=phone, html=html, sms_text=sms_text,
                      household_id=household_id, request_number=request_number, send_after=send_after)
    outbox.add(message.id, message)
    outbox.index(message)
    return message


def create_outbox(portal, registry):
    """Create the notification outbox."""
    portal.ensure_folder(OUTBOX, Outbox)


def includeme(config):
    config.add_evolve_step("core:0001-outbox", create_outbox)
    config.include("pyramid_mailer")
