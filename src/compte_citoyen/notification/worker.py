"""The outbox worker: delivers queued messages after the transactions that recorded them have committed.

At most once, and never silently lost
-------------------------------------
Each message goes through three steps, each in its own short transaction or outside any:

1. **claim** (transaction): ``queued`` -> ``sending``, ``attempts`` + 1, taken out of ``outbox.due``; commit.
   Two workers claiming the same message both write it, so ZODB raises ``ConflictError`` for the second
   one at commit: it aborts and skips the message. Only the worker whose claim committed sends.
2. **send** (no transaction): the channel delivers a plain snapshot of the message.
3. **record** (transaction, retried on conflict): ``sent``; or, after a temporary failure, back to ``queued``
   with ``next_attempt`` = now + exponential backoff (re-inserted in ``outbox.due``); or ``failed`` with its
   reason after a permanent failure or too many attempts. An SMS that fails for good queues an e-mail
   fallback (its own event key, so that too is queued once).

A ``sensitive`` message (it carries a secret such as a single-use link) has its bodies erased in the
transaction that records it ``sent`` or ``failed`` for good (an SMS's e-mail fallback is queued first, with
the content, and is sensitive too); a retry keeps them, since they are still needed.

Marking ``sending`` *before* the send is the choice that makes a duplicate impossible: if the process dies
between 2 and 3, the message stays ``sending``; after ``compte_citoyen.notifications.sending_timeout`` it is
moved to ``failed`` with the reason "interrupted while sending, delivery uncertain" instead of being sent
again. Staff see it in the back office (``bo_messages``) and can send it again on purpose. Marking ``sent``
only after the send means an outage or crash before the send can never pretend a message went out.
"""
from __future__ import annotations

import atexit
import datetime
import logging
import threading
import types
from collections import Counter

import transaction
from pyramid.settings import asbool
from ZODB.POSException import ConflictError

from ..database import ROOT_KEY, get_database
from .channels import DeliveryError
from .models import EMAIL_CHANNEL, FAILED, QUEUED, SENDING, SENT, SMS_CHANNEL, utcnow

log = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_RETRY_DELAY = 60            # seconds before the first retry; doubles at each attempt
MAX_RETRY_DELAY = 6 * 3600
DEFAULT_SENDING_TIMEOUT = 900
DEFAULT_BATCH = 50
DEFAULT_INTERVAL = 5

SNAPSHOT_FIELDS = ("id", "event_key", "kind", "channel", "subject", "text", "html", "sms_text", "email", "phone",
                   "household_id", "request_number", "attempts", "fallback_of")

INTERRUPTED = ("interrupted while sending: delivery uncertain, not retried automatically so that it is never "
               "sent twice")


def _int(settings, key: str, default: int) -> int:
    try:
        return int(settings.get(key, default))
    except (TypeError, ValueError):
        return default


def get_channels(registry) -> dict:
    """Channel name -> channel, from every active plugin (the core's e-mail channel included)."""
    channels = getattr(registry, "_notification_channels", None)
    if channels is None:
        channels = {}
        pm = registry.compte_citoyen_plugins
        for result in reversed(pm.hook.compte_citoyen_register_channels(settings=registry.settings)):
            for channel in result or []:
                channels[channel.name] = channel
        registry._notification_channels = channels
    return channels


def channel_for(registry, channel_name: str):
    """The channel that delivers messages of ``channel_name`` (SMS: the one named by ``compte_citoyen.sms_channel``)."""
    if channel_name == SMS_CHANNEL:
        channel_name = registry.settings.get("compte_citoyen.sms_channel") or SMS_CHANNEL
    return get_channels(registry).get(channel_name)


def retry_delay(registry, attempts: int) -> datetime.timedelta:
    """Exponential backoff: base, 2 x base, 4 x base... capped at six hours."""
    base = _int(registry.settings, "compte_citoyen.notifications.retry_delay", DEFAULT_RETRY_DELAY)
    return datetime.timedelta(seconds=min(base * (2 ** max(attempts - 1, 0)), MAX_RETRY_DELAY))


def _snapshot(message) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: getattr(message, name, None) for name in SNAPSHOT_FIELDS})


def _outbox(conn):
    portal = conn.root().get(ROOT_KEY)
    return portal, (portal.get("outbox") if portal is not None else None)


def _claim(tm, conn, message_id: str, now: datetime.datetime):
    """Step 1: take the message for this worker; None when it is not due or another worker took it."""
    tm.begin()
    try:
        _portal, outbox = _outbox(conn)
        message = outbox.get(message_id) if outbox is not None else None
        if message is None or message.state != QUEUED or message.due_at > now:
            tm.abort()
            return None
        outbox.set_state(message, SENDING)
        message.attempts += 1
        message.sending_since = now
        message.log(now, f"attempt {message.attempts}: sending")
        snapshot = _snapshot(message)
        tm.commit()
        return snapshot
    except ConflictError:
        tm.abort()
        log.info("message %s was claimed by another worker", message_id)
        return None
    except BaseException:
        tm.abort()
        raise


def _queue_fallback(portal, message, now):
    """Queue the e-mail that replaces an SMS failed for good; None when the household has no e-mail."""
    from . import queue_message
    email = message.email
    if not email and message.household_id:
        household = portal["households"].get(message.household_id) if "households" in portal else None
        email = household.email if household is not None else None
    if not email:
        return None
    fallback = queue_message(portal, event_key=f"{message.event_key}:email-fallback", kind=message.kind,
                             subject=message.subject, text=message.text, html=message.html, email=email,
                             channel=EMAIL_CHANNEL, household_id=message.household_id,
                             request_number=message.request_number, send_after=now, body=message.body,
                             sensitive=message.sensitive)
    fallback.fallback_of = message.id
    message.fallback_id = fallback.id
    return fallback


def _record(tm, conn, registry, message_id: str, error: DeliveryError | None, now: datetime.datetime,
            stats: Counter) -> None:
    """Step 3: write the outcome; retried on conflict (the message is ours while it is ``sending``)."""
    max_attempts = _int(registry.settings, "compte_citoyen.notifications.max_attempts", DEFAULT_MAX_ATTEMPTS)
    for attempt in range(5):
        tm.begin()
        try:
            portal, outbox = _outbox(conn)
            message = outbox[message_id]
            message.sending_since = None
            if error is None:
                outbox.set_state(message, SENT)
                message.sent_at = now
                message.last_error = ""
                message.log(now, f"attempt {message.attempts}: sent")
                outcome = "sent"
                if message.sensitive:
                    message.erase_content(now)
            elif error.permanent or message.attempts >= max_attempts:
                reason = error.reason if error.permanent else (
                    f"gave up after {message.attempts} attempts: {error.reason}")
                outbox.set_state(message, FAILED)
                message.failure_reason = reason
                message.last_error = error.reason
                message.log(now, f"attempt {message.attempts}: failed: {error.reason}")
                outcome = "failed"
                if message.channel == SMS_CHANNEL and _queue_fallback(portal, message, now) is not None:
                    message.log(now, "e-mail fallback queued")
                    outcome = "failed_with_fallback"
                if message.sensitive:
                    message.erase_content(now)  # after the fallback took its copy
            else:
                message.last_error = error.reason
                when = now + retry_delay(registry, message.attempts)
                outbox.requeue(message, when)
                message.log(now, f"attempt {message.attempts}: will retry at {when.isoformat()}: {error.reason}")
                outcome = "retry"
            tm.commit()
            stats[outcome] += 1
            return
        except ConflictError:
            tm.abort()
            log.info("conflict while recording message %s, retrying", message_id)
        except BaseException:
            tm.abort()
            raise
    log.error("could not record the outcome of message %s (it stays 'sending')", message_id)
    stats["unrecorded"] += 1


def _recover_interrupted(tm, conn, registry, now: datetime.datetime, stats: Counter) -> None:
    """Messages left ``sending`` by a worker that died mid-send: failed, never resent automatically."""
    timeout = _int(registry.settings, "compte_citoyen.notifications.sending_timeout", DEFAULT_SENDING_TIMEOUT)
    limit = now - datetime.timedelta(seconds=timeout)
    tm.begin()
    try:
        _portal, outbox = _outbox(conn)
        bucket = outbox.by_state.get(SENDING) if outbox is not None and outbox.by_state else None
        changed = 0
        for _key, message_id in list(bucket.keys()) if bucket else []:
            message = outbox[message_id]
            if message.sending_since is not None and message.sending_since < limit:
                outbox.set_state(message, FAILED)
                message.failure_reason = INTERRUPTED
                message.sending_since = None
                message.log(now, INTERRUPTED)
                if message.sensitive:
                    message.erase_content(now)
                changed += 1
        tm.commit()
        stats["interrupted"] += changed
    except ConflictError:
        tm.abort()
    except BaseException:
        tm.abort()
        raise


def deliver_due(registry, now: datetime.datetime | None = None, batch_size: int = DEFAULT_BATCH) -> dict:
    """Deliver every queued message that is due at ``now`` (default: the current time); return counts.

    Works in batches, each with its own ZODB connection and transaction manager. Each message is tried at
    most once per call, so a zero retry delay cannot loop. Keys of the result: ``sent``, ``retry``,
    ``failed``, ``failed_with_fallback``, ``skipped`` (claimed elsewhere), ``interrupted``, ``unrecorded``.
    """
    now = now or utcnow()
    stats: Counter = Counter()
    db = get_database(registry)
    seen: set[str] = set()
    first = True
    while True:
        tm = transaction.TransactionManager(explicit=True)
        conn = db.open(transaction_manager=tm)
        try:
            if first:
                _recover_interrupted(tm, conn, registry, now, stats)
                first = False
            with tm:
                _portal, outbox = _outbox(conn)
                if outbox is None:
                    return dict(stats)
                ids = [mid for mid in outbox.due_ids(now, batch_size + len(seen)) if mid not in seen][:batch_size]
            if not ids:
                return dict(stats)
            for message_id in ids:
                seen.add(message_id)
                snapshot = _claim(tm, conn, message_id, now)
                if snapshot is None:
                    stats["skipped"] += 1
                    continue
                error = _send(registry, snapshot)
                _record(tm, conn, registry, message_id, error, now, stats)
        finally:
            conn.close()


def _send(registry, snapshot) -> DeliveryError | None:
    """Step 2: deliver through the channel; any failure becomes a DeliveryError (a bug is retried, not lost)."""
    channel = channel_for(registry, snapshot.channel)
    if channel is None:
        return DeliveryError(f"no active channel for {snapshot.channel!r}", permanent=True)
    try:
        channel.send(snapshot, registry)
    except DeliveryError as exc:
        log.warning("message %s via %s: %s", snapshot.id, snapshot.channel, exc)
        return exc
    except Exception as exc:  # a channel's bug must not stop the other messages
        log.exception("message %s via %s failed unexpectedly", snapshot.id, snapshot.channel)
        return DeliveryError(f"{type(exc).__name__}: {exc}")
    log.info("message %s sent via %s", snapshot.id, snapshot.channel)
    return None


def run_loop(registry, interval: float = DEFAULT_INTERVAL, stop: threading.Event | None = None,
             iterations: int | None = None) -> None:
    """Deliver what is due, then wait ``interval`` seconds, until ``stop`` is set (or ``iterations`` runs)."""
    stop = stop or threading.Event()
    done = 0
    while not stop.is_set():
        try:
            stats = deliver_due(registry)
            if any(stats.values()):
                log.info("notifications: %s", ", ".join(f"{k}={v}" for k, v in sorted(stats.items())))
        except Exception:  # the database may be briefly unavailable: keep the loop alive
            log.exception("notification worker iteration failed")
        done += 1
        if iterations is not None and done >= iterations:
            return
        stop.wait(interval)


class BackgroundWorker:
    """A daemon thread running ``run_loop`` in the application process (development: ``make run``)."""

    def __init__(self, registry, interval: float):
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=run_loop, args=(registry, interval, self.stop_event),
                                       name="compte-citoyen-notifications", daemon=True)

    def start(self) -> "BackgroundWorker":
        self.thread.start()
        return self

    def stop(self, timeout: float = 10) -> None:
        self.stop_event.set()
        self.thread.join(timeout)


def start_background_worker(registry, interval: float | None = None) -> BackgroundWorker:
    """Start (once per registry) the in-process worker; only called when
    ``compte_citoyen.notifications.background_worker = true``."""
    worker = getattr(registry, "_notification_worker", None)
    if worker is not None:
        return worker
    if interval is None:
        interval = float(registry.settings.get("compte_citoyen.notifications.interval", DEFAULT_INTERVAL))
    worker = registry._notification_worker = BackgroundWorker(registry, interval).start()
    # on shutdown (Ctrl-C on ``make run``), let the message being sent finish rather than leave it "sending"
    atexit.register(worker.stop, 10)
    log.info("notification worker thread started (every %ss)", interval)
    return worker


def background_worker_enabled(settings) -> bool:
    return asbool(settings.get("compte_citoyen.notifications.background_worker", False))


