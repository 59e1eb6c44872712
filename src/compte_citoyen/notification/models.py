"""Outbox: every message is recorded in the same transaction as the change that causes it.

A message's state moves ``queued`` -> ``sending`` -> ``sent`` (or back to ``queued`` with a later
``next_attempt`` after a temporary failure, or to ``failed`` with a reason). ``phone`` means the household
prefers a phone call: nothing is sent, the message is kept for the portal and the staff's call list.

A ``sensitive`` message carries a secret (a single-use password reset link): the worker replaces its bodies
with ``ERASED_CONTENT`` once it is sent or has failed for good, so the outbox (and every ZODB backup made
afterwards) no longer holds the secret; subject, recipient, state, dates and history stay for the back office.
"""
from __future__ import annotations

import datetime
import heapq

from BTrees.OOBTree import OOBTree
from persistent import Persistent

from ..indexes import (Batch, change_count, convert_time_index, convert_time_indexes, OLD_LEAF_SIZE, owner_set,
                       read_count, request_in_key, EventKeyTree, IdTree, NumberTree, parted, ShardedSet, sharded,
                       widen, WideOOBTree)
from ..resources import Folder
from ..security import utcnow

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
CANCELLED = "cancelled"
PHONE = "phone"
STATES = (QUEUED, SENDING, SENT, FAILED, PHONE, CANCELLED)

# message kinds (the FAQ's three)
ACKNOWLEDGEMENT = "acknowledgement"
DECISION = "decision"
INFORMATION = "information"
KINDS = (ACKNOWLEDGEMENT, DECISION, INFORMATION)

# channels
EMAIL_CHANNEL = "email"
SMS_CHANNEL = "sms"
PHONE_CHANNEL = "phone"

#: what the bodies of a sensitive message become after delivery (stored data, shown to staff as is)
ERASED_CONTENT = "[contenu effacé après envoi]"



def order_key(when: datetime.datetime, message_id: str) -> tuple:
    """Index key that sorts newest first when iterated forward (cursor pagination without a scan)."""
    return (-when.timestamp(), message_id)


class Message(Persistent):
    """One message to one recipient on one channel; its delivery state is kept with it."""

    household_id: str | None = None
    request_number: str | None = None
    html: str | None = None
    sms_text: str | None = None
    phone: str | None = None
    email: str | None = None
    fallback_of: str | None = None      # id of the SMS message this e-mail replaces
    fallback_id: str | None = None      # id of the e-mail queued when this SMS failed for good
    next_attempt: datetime.datetime | None = None
    sending_since: datetime.datetime | None = None
    failure_reason = ""
    last_error = ""
    attempts = 0
    sent_at = None
    body = ""                           # the caller's text without the template around it
    sensitive = False                   # holds a secret: bodies erased once sent or failed for good
    erased_at: datetime.datetime | None = None

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
        self.created = created or utcnow()
        self.send_after = send_after or self.created
        self.state = PHONE if channel == PHONE_CHANNEL else QUEUED
        self.attempts = 0
        self.last_error = ""
        self.sent_at = None
        # ISO time -> short event ("attempt 1: refused"...), kept in this record and changed through ``log`` (a
        # PersistentMapping in messages queued before)
        self.history = {}

    @property
    def due_at(self) -> datetime.datetime:
        """When the worker may try this message: its scheduled date, or the next retry after a failure."""
        return self.next_attempt or self.send_after

    @property
    def shown_date(self) -> datetime.datetime:
        """The date the citizen sees: when it was sent, else when it is (or was) scheduled."""
        return self.sent_at or self.send_after or self.created

    def erase_content(self, when: datetime.datetime) -> None:
        """Replace the bodies (text, HTML, SMS, the caller's text) by ``ERASED_CONTENT``; keep the rest."""
        self.text = ERASED_CONTENT
        self.body = ERASED_CONTENT
        if self.html is not None:
            self.html = ERASED_CONTENT
        if self.sms_text is not None:
            self.sms_text = ERASED_CONTENT
        if self.erased_at is None:
            self.erased_at = when
            self.log(when, "content erased (sensitive message)")

    def log(self, when: datetime.datetime, event: str) -> None:
        key = when.isoformat()
        while key in self.history:
            key += "+"
        self.history[key] = event
        self._p_changed = True


class Outbox(Folder):
    """Messages by id, with indexes: due queue, per household, per request, per state, and event keys.

    ``due`` holds ``(due_at, id)`` of queued messages in delivery order; ``by_state`` holds ``order_key``
    tuples (newest first) so the back office pages through them without reading every message;
    ``state_counts`` holds a counter per state (``SharedCounts``, in the portal's counts), changed with the state
    (``count`` walks no index).
    ``due`` and the sets of ``by_state`` are ``ShardedSet``: every message queued lands at their end (or start),
    so each process adds to its own set (evolve step ``core:0081-writer-shards`` for older outboxes).
    """

    by_state = None      # state -> TimeIndex(order_key); class default for outboxes created before it
    # TimeIndex(order_key) of every message in the first releases: no longer written, the list of every message
    # merges the per-state sets (evolve step core:0080-outbox-without-by-created forgets it)
    by_created = None
    by_request = None    # request number -> OOTreeSet((created, id)), see owner_set
    state_counts = None  # state -> Length (evolve step core:0072-outbox-state-counts for older outboxes)

    def __init__(self):
        super().__init__()
        self.data = IdTree()            # a part per writer shard (message ids begin with it: ``ordered_id``)
        self.due = ShardedSet()         # (due_at, id) of messages still queued
        self.by_household = OOBTree()   # household_id -> OOTreeSet((created, id)), see owner_set
        self.event_keys = EventKeyTree()  # event_key -> message id (a part per block of request numbers)
        self.ensure_indexes()

    def ensure_indexes(self) -> bool:
        """Create the indexes added after the first release; True when they were missing."""
        if self.by_state is not None:
            return False
        self.by_state = OOBTree()
        self.by_request = NumberTree()  # a part per block of request numbers
        self.state_counts = OOBTree()  # counted as the messages are indexed again
        return True

    def ensure_state_counts(self) -> bool:
        """Count the messages of each state for an outbox created before the counters; True if built."""
        if self.state_counts is not None:
            return False
        self.state_counts = OOBTree()
        for state, bucket in (self.by_state or {}).items():
            change_count(self.state_counts, state, len(bucket))
        return True

    def use_time_indexes(self) -> None:
        """Convert the hot time-ordered sets of an older outbox to ``TimeIndex`` (large leaves: a submission's
        messages seldom split the leaf concurrent submissions write to), keeping every key. Per-household and
        per-request sets are small and not shared by concurrent requests: kept."""
        batch = Batch(self, size=1)  # ticked once per chunk of copied keys
        self.due = convert_time_index(self.due, batch)
        if self.by_state is not None:
            convert_time_indexes(self.by_state, batch, min_keys=OLD_LEAF_SIZE)

    def drop_by_created(self) -> bool:
        """Forget the index of every message of the first releases (``page`` merges the states); True if any."""
        if "by_created" in self.__dict__:
            del self.by_created
            return True
        return False

    def use_wide_trees(self, batch=None) -> None:
        """Large-leaf trees for the keys every submission adds (evolve step ``core:0077-wide-trees``)."""
        self.event_keys = widen(self.event_keys, batch)
        self.by_request = widen(self.by_request, batch)

    def _count(self, state: str, delta: int) -> None:
        if self.state_counts is not None:
            change_count(self.state_counts, state, delta)

    @staticmethod
    def _bucket(tree, key, factory):
        bucket = tree.get(key)
        if bucket is None:
            bucket = tree[key] = factory()
        return bucket

    def use_parted_trees(self) -> None:
        """The messages and the index by request of an older outbox kept inside parted trees (no copy)."""
        self.data = parted(self.data, IdTree)
        self.by_request = parted(self.by_request, NumberTree)
        self.event_keys = parted(self.event_keys, EventKeyTree)

    def use_writer_shards(self) -> None:
        """Make ``due`` and the sets of ``by_state`` ``ShardedSet`` (their keys stay where they are)."""
        self.due = sharded(self.due)
        for state in list(self.by_state.keys()) if self.by_state is not None else []:
            if not isinstance(self.by_state[state], ShardedSet):
                self.by_state[state] = sharded(self.by_state[state])

    def index(self, message: Message) -> None:
        if message.state == QUEUED:
            self.due.add((message.due_at, message.id))
        if message.household_id:
            owner_set(self.by_household, message.household_id).add((message.created, message.id))
        if message.request_number:
            owner_set(self.by_request, message.request_number).add((message.created, message.id))
        if self._bucket(self.by_state, message.state, ShardedSet).add(order_key(message.created, message.id)):
            self._count(message.state, 1)
        if not self._found_by_request(message):
            self.event_keys[message.event_key] = message.id

    def _found_by_request(self, message: Message) -> bool:
        """Whether ``find_event`` finds ``message`` among its request's messages: its event key names the request
        it is about (``request-received:2026-000123``). Such a key is not written to ``event_keys``: a leaf of
        keys less to rewrite for each message about a request. Every message about a request is queued in a
        transaction that changes the request itself (filed, decided, asked for documents, or the message it
        replaces), so two transactions queueing the same key conflict there and the second one finds the first's
        message when it is replayed."""
        return (bool(message.request_number) and self.by_request is not None
                and request_in_key(message.event_key) == message.request_number)

    def find_event(self, event_key: str) -> Message | None:
        """The message queued for ``event_key``, if any: among the messages of the request the key names (a few),
        then in ``event_keys`` (the other keys, and those of the messages queued before)."""
        number = request_in_key(event_key)
        if number is not None and self.by_request is not None:
            for _created, message_id in self.by_request.get(number) or ():
                message = self.data.get(message_id)
                if message is not None and message.event_key == event_key:
                    return message
        found = self.event_keys.get(event_key)
        return self.data.get(found) if found is not None else None

    def unqueue(self, message: Message) -> None:
        self.due.discard((message.due_at, message.id))

    def set_state(self, message: Message, state: str) -> None:
        """Change a message's state and keep ``due`` and ``by_state`` in step."""
        key = order_key(message.created, message.id)
        old = self.by_state.get(message.state)
        if old is not None and key in old:
            old.remove(key)
            self._count(message.state, -1)
        if message.state == QUEUED:
            self.unqueue(message)
        message.state = state
        if self._bucket(self.by_state, state, ShardedSet).add(key):
            self._count(state, 1)
        if state == QUEUED:
            self.due.add((message.due_at, message.id))

    def requeue(self, message: Message, when: datetime.datetime) -> None:
        """Put a message back in the queue for ``when`` (a retry, or staff asking to send it again)."""
        if message.state == QUEUED:
            self.unqueue(message)
        message.next_attempt = when
        if message.state == QUEUED:
            self.due.add((message.due_at, message.id))
        else:
            self.set_state(message, QUEUED)

    def due_ids(self, now: datetime.datetime, limit: int | None = None) -> list[str]:
        """Ids of queued messages whose time has come, oldest first."""
        out = []
        for due_at, message_id in self.due.keys():
            if due_at > now or (limit is not None and len(out) >= limit):
                break
            out.append(message_id)
        return out

    def _newest(self, tree, key, limit: int) -> list[Message]:
        bucket = tree.get(key) if tree is not None else None
        if not bucket:
            return []
        keys = bucket.keys()
        count = len(keys)
        return [self.data[keys[i][1]] for i in range(count - 1, max(count - limit, 0) - 1, -1)]

    def for_household(self, household_id: str, limit: int = 50) -> list[Message]:
        """The household's messages, newest first (reads only its own index)."""
        return self._newest(self.by_household, household_id, limit)

    def for_request(self, request_number: str, limit: int = 50) -> list[Message]:
        """The messages about one request, newest first."""
        return self._newest(self.by_request, request_number, limit)

    def page(self, state: str | None = None, after: tuple | None = None,
             limit: int = 50) -> tuple[list[Message], tuple | None]:
        """One page of messages, newest first, optionally of one state; returns (messages, next cursor).

        Every message is in the set of its state: the list of every message merges those few sets lazily (one
        index less to write for each message, and not one leaf shared by every message of the city)."""
        if not self.by_state:
            return [], None
        trees = [self.by_state.get(state)] if state else list(self.by_state.values())
        ranges = [tree.keys(min=after, excludemin=True) if after is not None else tree.keys()
                  for tree in trees if tree]
        if not ranges:
            return [], None
        keys = ranges[0] if len(ranges) == 1 else heapq.merge(*ranges)
        out, last, more = [], None, False
        for key in keys:
            if len(out) >= limit:
                more = True
                break
            out.append(self.data[key[1]])
            last = key
        return out, (last if more else None)

    def count(self, state: str) -> int:
        """Messages in ``state``, from its counter."""
        if self.state_counts is None:  # an outbox not evolved yet
            bucket = self.by_state.get(state) if self.by_state else None
            return len(bucket) if bucket else 0
        return read_count(self.state_counts, state)
