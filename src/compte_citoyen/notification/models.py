"""Outbox: every message is recorded in the same transaction as the change that causes it."""
from __future__ import annotations

import datetime

from BTrees.OOBTree import OOBTree, OOTreeSet
from persistent import Persistent
from persistent.mapping import PersistentMapping

from ..resources import Folder

QUEUED = "queued"
SENT = "sent"
FAILED = "failed"
CANCELLED = "cancelled"

# message kinds (the FAQ's three)
ACKNOWLEDGEMENT = "acknowledgement"
DECISION = "decision"
INFORMATION = "information"


class Message(Persistent):
    """One message to one recipient on one channel; its delivery state is kept with it."""

    household_id: str | None = None
    request_number: str | None = None
    html: str | None = None
    sms_text: str | None = None
    phone: str | None = None
    fallback_of: str | None = None

    def __init__(self, *, id: str, event_key: str, kind: str, channel: str, subject: str, text: str,
                 email: str | None = None, phone: str | None = None, html: str | None = None,
                 sms_text: str | None = None, household_id: str | None = None,
                 request_number: str | None = None, send_after: datetime.datetime | None = None,
                 created: datetime.datetime | None = None):
        self.id = id
        self.event_key = event_key
        self.kind = kind
        self.channel = channel
        self.subject = subject
        self.text = text
        self.html = html
        self.sms_text = sms_text
        self.email = email
        self.phone = phone
        self.household_id = household_id
        self.request_number = request_number
        self.created = created or datetime.datetime.now(datetime.timezone.utc)
        self.send_after = send_after or self.created
        self.state = QUEUED
        self.attempts = 0
        self.last_error = ""
        self.sent_at = None
        self.history = PersistentMapping()


class Outbox(Folder):
    """Messages by id, with indexes: due queue, per household, and processed event keys (idempotence)."""

    def __init__(self):
        super().__init__()
        self.due = OOTreeSet()          # (send_after, id) of messages still queued
        self.by_household = OOBTree()   # household_id -> OOTreeSet((created, id))
        self.event_keys = OOBTree()     # event_key -> message id

    def index(self, message: Message) -> None:
        if message.state == QUEUED:
            self.due.add((message.send_after, message.id))
        if message.household_id:
            bucket = self.by_household.get(message.household_id)
            if bucket is None:
                bucket = self.by_household[message.household_id] = OOTreeSet()
            bucket.add((message.created, message.id))
        self.event_keys[message.event_key] = message.id

    def unqueue(self, message: Message) -> None:
        self.due.discard((message.send_after, message.id))

    def for_household(self, household_id: str, limit: int = 50) -> list[Message]:
        bucket = self.by_household.get(household_id)
        if not bucket:
            return []
        out = []
        for _created, mid in reversed(list(bucket.keys())[-limit:]):
            out.append(self.data[mid])
        return out
