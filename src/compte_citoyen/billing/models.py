"""Persistent billing objects: invoices, baskets, payments and anomalies, each folder with its BTree indexes.

Amounts are integer cents everywhere (never floats). Every folder keeps the indexes its pages need, so no page
scans a whole collection: invoices per régie and number, per household, per state and per issue date; baskets
per household; payments per (backend, order id) — unique — per state, per régie and date and per household;
anomalies per régie and date.

The back-office lists (a régie's invoices, payments, baskets in progress, anomalies) read newest-first
indexes (``recent``: ascending order is newest first, see ``compte_citoyen.indexes``) page by page, and
their counts come from ``BTrees.Length`` counters per (régie, state) changed in the same transaction as the
state: no page reads every invoice of a régie. The evolve step ``core:0071-billing-indexes`` builds them for
databases created before them (``build_billing_indexes``).
"""
from __future__ import annotations

import datetime
import re
import secrets
from dataclasses import dataclass

from BTrees.OOBTree import OOBTree, OOTreeSet
from persistent import Persistent
from persistent.mapping import PersistentMapping

from ..indexes import (Batch, TimeIndex, change_count, convert_time_index, invert_text, newest_first, page_of,
                       read_count, revert_text, track_entry)
from ..resources import Folder
from ..security import utcnow

# invoice states
UNPAID = "unpaid"
PAID = "paid"
CANCELLED = "cancelled"

# basket states
OPEN = "open"
PENDING = "pending"        # a payment is in progress: the basket cannot change
CLOSED = "closed"          # paid: a new basket is opened for the next invoices

# payment states
PAYMENT_PENDING = "pending"
PAYMENT_PAID = "paid"
PAYMENT_DENIED = "denied"
PAYMENT_CANCELLED = "cancelled"
PAYMENT_EXPIRED = "expired"
PAYMENT_ERROR = "error"
PAYMENT_FINAL = (PAYMENT_PAID, PAYMENT_DENIED, PAYMENT_CANCELLED, PAYMENT_EXPIRED, PAYMENT_ERROR)

# anomaly kinds
UNKNOWN_ORDER = "unknown_order"
WRONG_AMOUNT = "wrong_amount"
LATE_NOTIFICATION = "late_notification"
WRONG_REGIE = "wrong_regie"
ALREADY_PAID = "already_paid"
TEST_MODE = "test_mode"
UNREADABLE_AMOUNT = "unreadable_amount"
CONTRADICTION = "contradiction"

NUMBER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
MAX_BANK_DATA = 60  # fields kept from a provider's answer (audit), each value cut to 500 characters



def new_id() -> str:
    """Random identifiers (shown in URLs and sent to the bank as order ids): alphanumeric, not guessable."""
    return secrets.token_hex(10)


def invoice_key(regie: str, number: str) -> str:
    return f"{regie}:{number}"


def upper_bound(prefix: str) -> tuple:
    """A tuple key greater than every ``(prefix, ...)`` key and smaller than the next prefix's."""
    return (prefix + "\x00",)


ALL = ""  # the scope of the newest-first indexes and counters that holds every state


def scope_range(regie: str, scope: str) -> dict:
    """``keys()`` bounds of the ``(regie, scope, ...)`` entries of a newest-first index."""
    return {"min": (regie, scope), "max": (regie, scope + "\x00")}


def format_amount(cents: int) -> str:
    """French display of an amount in cents: ``1 234,50 €`` (narrow no-break space between thousands)."""
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    euros = f"{cents // 100:,}".replace(",", "\u202f")
    return f"{sign}{euros},{cents % 100:02d}\u00a0€"


def parse_amount(text: str) -> int:
    """``12,50`` / ``12.5`` / ``-3`` -> cents, without ever going through a float. ValueError if malformed."""
    value = (text or "").strip().replace("\u00a0", "").replace(" ", "").replace("€", "")
    match = re.fullmatch(r"(-?)(\d{1,7})(?:[.,](\d{1,2}))?", value)
    if not match:
        raise ValueError(text)
    sign, euros, decimals = match.groups()
    cents = int(euros) * 100 + int((decimals or "0").ljust(2, "0"))
    return -cents if sign else cents


def months_before(day: datetime.date, months: int) -> datetime.date:
    """The same day ``months`` months earlier (clamped to the month's last day)."""
    month_index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(month_index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return datetime.date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class InvoiceLine:
    """One line of an invoice, for one household member (or the whole household when ``member_id`` is empty)."""
    label: str
    amount: int          # cents
    member_id: str = ""
    member_name: str = ""


class Invoice(Persistent):
    """An invoice of a régie for a household. ``basket_id`` / ``payment_id`` say who holds it right now."""

    __parent__ = None
    __name__ = None
    state = UNPAID
    paid_at = None
    paid_payment_id = None   # the payment that settled it
    basket_id = None         # the open basket holding it
    payment_id = None        # the pending payment holding it
    source = ""              # "backoffice", "csv:<file>", "source:<name>", "demo"

    def __init__(self, regie: str, number: str, household_id: str, issue_date: datetime.date,
                 due_date: datetime.date, lines: list[InvoiceLine], label: str = "", source: str = ""):
        if not NUMBER_RE.match(number or ""):
            raise ValueError(f"invalid invoice number {number!r}")
        self.regie = regie
        self.number = number
        self.household_id = household_id
        self.issue_date = issue_date
        self.due_date = due_date
        self.lines = tuple(lines)
        self.label = label
        self.source = source
        self.total = sum(line.amount for line in self.lines)
        self.created = utcnow()

    @property
    def key(self) -> str:
        return invoice_key(self.regie, self.number)

    @property
    def is_paid(self) -> bool:
        return self.state == PAID


class InvoiceFolder(Folder):
    """Invoices keyed ``regie:number`` (so a number is unique per régie), with their indexes.

    ``recent`` holds ``(regie, scope, -issue ordinal, inverted key)`` where scope is ``ALL`` or the invoice's
    state: its ascending order is the back office's order (newest issue date first, then number descending).
    ``counts`` holds a ``Length`` per ``(regie, scope)``.
    """

    recent = None   # OOTreeSet, created by __init__ or the evolve step core:0071-billing-indexes
    counts = None   # OOBTree (regie, scope) -> Length

    def __init__(self):
        super().__init__()
        self.by_household = OOBTree()   # household id -> OOTreeSet((issue_date, key))
        self.by_state = OOBTree()       # state -> OOTreeSet((regie, issue_date, key))
        self.by_regie_date = OOTreeSet()  # (regie, issue_date, key)
        self.by_date = OOTreeSet()      # (issue_date, key)
        self.source_marks = OOBTree()   # invoice source name -> datetime of its last import
        self.recent = OOTreeSet()
        self.counts = OOBTree()

    def get_invoice(self, regie: str, number: str) -> Invoice | None:
        return self.get(invoice_key(regie, number))

    @staticmethod
    def _recent_key(regie: str, scope: str, issue_date: datetime.date, key: str) -> tuple:
        return (regie, scope, -issue_date.toordinal(), invert_text(key))

    def _track(self, regie: str, scope: str, issue_date: datetime.date, key: str, delta: int) -> None:
        """Add (``delta`` 1) or remove (-1) one invoice from the newest-first index and its counter."""
        if self.recent is None:
            return  # not evolved yet: core:0071-billing-indexes builds both from the other indexes
        track_entry(self.recent, self.counts, self._recent_key(regie, scope, issue_date, key), (regie, scope), delta)

    def add_invoice(self, invoice: Invoice) -> Invoice:
        self.add(invoice.key, invoice)
        bucket = self.by_household.get(invoice.household_id)
        if bucket is None:
            bucket = self.by_household[invoice.household_id] = OOTreeSet()
        bucket.add((invoice.issue_date, invoice.key))
        self._state_bucket(invoice.state).add((invoice.regie, invoice.issue_date, invoice.key))
        self.by_regie_date.add((invoice.regie, invoice.issue_date, invoice.key))
        self.by_date.add((invoice.issue_date, invoice.key))
        self._track(invoice.regie, ALL, invoice.issue_date, invoice.key, 1)
        self._track(invoice.regie, invoice.state, invoice.issue_date, invoice.key, 1)
        return invoice

    def _state_bucket(self, state: str) -> OOTreeSet:
        bucket = self.by_state.get(state)
        if bucket is None:
            bucket = self.by_state[state] = OOTreeSet()
        return bucket

    def set_state(self, invoice: Invoice, state: str) -> None:
        """Change an invoice's state with its indexes and counters, in the caller's transaction."""
        old = invoice.state
        self._state_bucket(old).discard((invoice.regie, invoice.issue_date, invoice.key))
        invoice.state = state
        self._state_bucket(state).add((invoice.regie, invoice.issue_date, invoice.key))
        if old != state:
            self._track(invoice.regie, old, invoice.issue_date, invoice.key, -1)
            self._track(invoice.regie, state, invoice.issue_date, invoice.key, 1)

    def for_household(self, household_id: str, since: datetime.date | None = None) -> list[Invoice]:
        """The household's invoices issued since ``since`` (inclusive), newest first (reads its index only)."""
        bucket = self.by_household.get(household_id)
        if not bucket:
            return []
        keys = bucket.keys(min=(since,)) if since is not None else bucket.keys()
        return [self.data[key] for _date, key in reversed(list(keys))]

    def for_regie(self, regie: str, state: str | None = None, limit: int = 200, offset: int = 0) -> list[Invoice]:
        """A régie's invoices, newest first, optionally in one state: ``limit`` of them from ``offset``.

        Reads ``offset + limit`` index keys and loads only the invoices returned.
        """
        if self.recent is None:  # a database not evolved yet
            tree = self.by_state.get(state) if state else self.by_regie_date
            keys = reversed(list(tree.keys(min=(regie,), max=upper_bound(regie)))) if tree else []
            return [self.data[key] for _r, _d, key in page_of(keys, offset, limit)]
        entries = page_of(self.recent.keys(**scope_range(regie, state or ALL)), offset, limit)
        return [self.data[revert_text(inverted)] for _r, _s, _d, inverted in entries]

    def count_for_regie(self, regie: str, state: str | None = None) -> int:
        """How many invoices the régie has (in ``state``), from its counter."""
        if self.counts is None:  # a database not evolved yet
            tree = self.by_state.get(state) if state else self.by_regie_date
            return len(tree.keys(min=(regie,), max=upper_bound(regie))) if tree else 0
        return read_count(self.counts, (regie, state or ALL))

    def build_indexes(self) -> None:
        """Build ``recent`` and ``counts`` from the state index (keys only, no invoice is loaded)."""
        self.recent = OOTreeSet()
        self.counts = OOBTree()
        batch = Batch(self)
        for state, bucket in self.by_state.items():
            for regie, issue_date, key in bucket.keys():
                self._track(regie, ALL, issue_date, key, 1)
                self._track(regie, state, issue_date, key, 1)
                batch.tick()


class Basket(Persistent):
    """The household's basket: invoices of one régie waiting to be paid together.

    ``items`` is a tuple reassigned on every change, so two concurrent changes always conflict in ZODB and one
    of them is retried against the other's result (the server-side refusals are atomic).
    """

    __parent__ = None
    __name__ = None
    state = OPEN
    regie = None
    expires_at = None
    payment_id = None
    closed_at = None

    def __init__(self, id: str, household_id: str):
        self.id = id
        self.household_id = household_id
        self.items: tuple[str, ...] = ()
        self.created = utcnow()
        self.updated = self.created

    def expired(self, now: datetime.datetime) -> bool:
        return self.state == OPEN and bool(self.items) and self.expires_at is not None and now >= self.expires_at

    def remaining(self, now: datetime.datetime) -> datetime.timedelta:
        if self.expires_at is None:
            return datetime.timedelta(0)
        return max(self.expires_at - now, datetime.timedelta(0))


#: a key below every (régie, basket id), kept in ``BasketFolder.in_progress`` for good. BTrees merge two
#: concurrent changes of a leaf, except when one of them deletes the leaf's first key or leaves it empty: in a
#: small set of baskets filled and emptied all day, the first basket taken out, or the last one, conflicted with
#: every concurrent change (replayed, and on a busy portal failed after every attempt). With this floor, the first
#: key is never deleted and the set is never empty. No régie has an empty code: the lists by régie never see it.
IN_PROGRESS_FLOOR = ("", "")


class BasketFolder(Folder):
    """Baskets by id; the current basket of each household; baskets in progress per régie (back office)."""

    in_progress_counts = None  # OOBTree regie -> Length of its baskets in progress (core:0071-billing-indexes)

    def __init__(self):
        super().__init__()
        self.by_household = OOBTree()   # household id -> current basket id (one basket per household)
        # (regie, basket id) of baskets holding invoices: a small set that every change of a basket writes, with
        # large leaves: with 30 keys a leaf, concurrent requests split and merged its leaves as baskets filled and
        # emptied, which BTrees cannot resolve (per-process sets were worse: they often became empty)
        self.in_progress = TimeIndex()
        self.in_progress_counts = OOBTree()

    def use_writer_shards(self) -> None:
        """``in_progress`` of an older folder with large leaves (evolve step ``core:0081-writer-shards``)."""
        self.in_progress = convert_time_index(self.in_progress)

    def current(self, household_id: str) -> Basket | None:
        basket_id = self.by_household.get(household_id)
        return self.data.get(basket_id) if basket_id else None

    def current_or_new(self, household_id: str) -> Basket:
        basket = self.current(household_id)
        if basket is None:
            basket = Basket(new_id(), household_id)
            self.add(basket.id, basket)
            self.by_household[household_id] = basket.id
        return basket

    def track(self, basket: Basket, old_regie: str | None) -> None:
        """Keep ``in_progress`` and its counters in step after a change of the basket's items or state."""
        counts = self.in_progress_counts
        in_progress = self.in_progress
        if old_regie and (old_regie, basket.id) in in_progress:
            self._keep_floor()
            in_progress.remove((old_regie, basket.id))
            if counts is not None:
                change_count(counts, old_regie, -1)
        if basket.items and basket.state != CLOSED and basket.regie:
            self._keep_floor()
            if in_progress.add((basket.regie, basket.id)) and counts is not None:
                change_count(counts, basket.regie, 1)

    def _keep_floor(self) -> None:
        """``IN_PROGRESS_FLOOR`` in ``in_progress`` (added by the first change of a set without it)."""
        in_progress = self.in_progress
        if not in_progress or in_progress.minKey() != IN_PROGRESS_FLOOR:
            in_progress.add(IN_PROGRESS_FLOOR)

    def close(self, basket: Basket) -> None:
        old = basket.regie
        basket.state = CLOSED
        basket.closed_at = utcnow()
        self.track(basket, old)
        if self.by_household.get(basket.household_id) == basket.id:
            del self.by_household[basket.household_id]

    def in_progress_for(self, regie: str, limit: int | None = None, offset: int = 0) -> list[Basket]:
        """The régie's baskets holding invoices (by basket id): ``limit`` of them from ``offset``."""
        keys = self.in_progress.keys(min=(regie,), max=upper_bound(regie))
        return [self.data[bid] for _r, bid in page_of(keys, offset, limit)]

    def count_in_progress(self, regie: str) -> int:
        if self.in_progress_counts is None:  # a database not evolved yet
            return sum(1 for _key in self.in_progress.keys(min=(regie,), max=upper_bound(regie)))
        return read_count(self.in_progress_counts, regie)

    def build_indexes(self) -> None:
        """Count the baskets in progress per régie (index keys only)."""
        self.in_progress_counts = OOBTree()
        for regie, _basket_id in self.in_progress.keys():
            if regie:  # not IN_PROGRESS_FLOOR
                change_count(self.in_progress_counts, regie, 1)


class Payment(Persistent):
    """One attempt to pay a basket through a provider. Applied once: its state only leaves ``pending`` once."""

    __parent__ = None
    __name__ = None
    state = PAYMENT_PENDING
    order_id = ""
    paid_at = None
    finished_at = None
    bank_status = ""
    transaction_date = None
    notifications = 0
    receipt_number = None

    def __init__(self, id: str, regie: str, backend: str, household_id: str, basket_id: str,
                 invoice_keys: tuple[str, ...], amount: int, expires_at: datetime.datetime):
        self.id = id
        self.regie = regie
        self.backend = backend
        self.household_id = household_id
        self.basket_id = basket_id
        self.invoice_keys = tuple(invoice_keys)
        self.amount = int(amount)
        self.created = utcnow()
        self.expires_at = expires_at
        self.bank_data = PersistentMapping()

    def keep_bank_data(self, data: dict) -> None:
        """Keep the provider's answer for audit (bounded; card numbers arrive already masked)."""
        self.bank_data = PersistentMapping(clean_bank_data(data))


def clean_bank_data(data: dict) -> dict:
    out = {}
    for key in sorted(data or {})[:MAX_BANK_DATA]:
        value = data[key]
        if isinstance(value, (list, tuple)):
            value = value[0] if value else ""
        out[str(key)[:100]] = str(value)[:500]
    return out


class PaymentFolder(Folder):
    """Payments by id, with the unique (backend, order id) index and the indexes of the back office.

    ``recent`` holds ``(regie, -created microseconds, id)``: a régie's payments newest first.
    """

    recent = None  # OOTreeSet, created by __init__ or the evolve step core:0071-billing-indexes

    def __init__(self):
        super().__init__()
        self.by_order = OOBTree()       # (backend, order id) -> payment id; unique
        self.by_state = OOBTree()       # state -> OOTreeSet((created, id))
        self.by_regie_date = OOTreeSet()  # (regie, created, id)
        self.by_household = OOBTree()   # household id -> OOTreeSet((created, id))
        self.recent = OOTreeSet()

    def add_payment(self, payment: Payment) -> Payment:
        self.add(payment.id, payment)
        self._state_bucket(payment.state).add((payment.created, payment.id))
        self.by_regie_date.add((payment.regie, payment.created, payment.id))
        if self.recent is not None:
            self.recent.add((payment.regie, newest_first(payment.created), payment.id))
        bucket = self.by_household.get(payment.household_id)
        if bucket is None:
            bucket = self.by_household[payment.household_id] = OOTreeSet()
        bucket.add((payment.created, payment.id))
        return payment

    def set_order(self, payment: Payment, order_id: str) -> None:
        key = (payment.backend, order_id)
        if key in self.by_order and self.by_order[key] != payment.id:
            raise KeyError(f"order {order_id!r} already exists for backend {payment.backend!r}")
        payment.order_id = order_id
        self.by_order[key] = payment.id

    def by_backend_order(self, backend: str, order_id: str) -> Payment | None:
        payment_id = self.by_order.get((backend, order_id))
        return self.data.get(payment_id) if payment_id else None

    def _state_bucket(self, state: str) -> OOTreeSet:
        bucket = self.by_state.get(state)
        if bucket is None:
            bucket = self.by_state[state] = OOTreeSet()
        return bucket

    def set_state(self, payment: Payment, state: str) -> None:
        self._state_bucket(payment.state).discard((payment.created, payment.id))
        payment.state = state
        self._state_bucket(state).add((payment.created, payment.id))
        if state != PAYMENT_PENDING:
            payment.finished_at = utcnow()

    def in_state(self, state: str) -> list[Payment]:
        bucket = self.by_state.get(state)
        return [self.data[pid] for _c, pid in bucket.keys()] if bucket else []

    def for_regie(self, regie: str, start: datetime.datetime | None = None,
                  end: datetime.datetime | None = None, limit: int | None = None) -> list[Payment]:
        """A régie's payments created in [start, end), oldest first (the ``limit`` newest of them if given).

        Without ``limit`` it returns the whole period (the accounting export); with it, it reads only those.
        """
        if limit:
            return list(reversed(self.newest_for_regie(regie, start, end, limit=limit)))
        low = (regie, start) if start is not None else (regie,)
        high = (regie, end) if end is not None else upper_bound(regie)
        out = []
        for _regie, created, pid in self.by_regie_date.keys(min=low, max=high):
            if end is not None and created >= end:
                continue
            out.append(self.data[pid])
        return out

    def newest_for_regie(self, regie: str, start: datetime.datetime | None = None,
                         end: datetime.datetime | None = None, offset: int = 0,
                         limit: int | None = 50) -> list[Payment]:
        """A régie's payments created in [start, end), newest first: ``limit`` of them from ``offset``.

        Reads ``offset + limit`` keys of the newest-first index and loads only the payments returned.
        """
        if self.recent is None:  # a database not evolved yet
            every = self.for_regie(regie, start, end)
            every.reverse()
            return page_of(iter(every), offset, limit)
        low = (regie, newest_first(end) + 1) if end is not None else (regie,)
        high = (regie, newest_first(start), "\uffff") if start is not None else (regie, 1)
        entries = page_of(self.recent.keys(min=low, max=high), offset, limit)
        return [self.data[pid] for _regie, _stamp, pid in entries]

    def build_indexes(self) -> None:
        """Build ``recent`` from the (régie, date) index (keys only, no payment is loaded)."""
        self.recent = OOTreeSet()
        batch = Batch(self)
        for regie, created, pid in self.by_regie_date.keys():
            self.recent.add((regie, newest_first(created), pid))
            batch.tick()


class Anomaly(Persistent):
    """Something in a provider's answer that does not add up, kept for the régie's manager to reconcile."""

    __parent__ = None
    __name__ = None
    resolved_at = None
    resolved_by = ""
    resolution = ""

    def __init__(self, id: str, regie: str, kind: str, detail: str, backend: str = "", order_id: str = "",
                 payment_id: str = "", amount: int | None = None, bank_data: dict | None = None):
        self.id = id
        self.regie = regie
        self.kind = kind
        self.detail = detail
        self.backend = backend
        self.order_id = order_id
        self.payment_id = payment_id
        self.amount = amount
        self.bank_data = PersistentMapping(clean_bank_data(bank_data or {}))
        self.created = utcnow()

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None


OPEN_SCOPE = "open"


class AnomalyFolder(Folder):
    """Anomalies by id; per régie, every one and those still open, newest first, with their counters.

    ``recent`` holds ``(regie, scope, -created microseconds, id)`` with scope ``ALL`` or ``"open"``;
    ``counts`` a ``Length`` per ``(regie, scope)``.
    """

    recent = None   # OOTreeSet, created by __init__ or the evolve step core:0071-billing-indexes
    counts = None   # OOBTree (regie, scope) -> Length

    def __init__(self):
        super().__init__()
        self.by_regie = OOTreeSet()      # (regie, created, id)
        self.open_by_regie = OOTreeSet()  # (regie, created, id) not resolved yet
        self.recent = OOTreeSet()
        self.counts = OOBTree()

    def _track(self, regie: str, scope: str, created: datetime.datetime, anomaly_id: str, delta: int) -> None:
        if self.recent is None:
            return  # not evolved yet: core:0071-billing-indexes builds both
        track_entry(self.recent, self.counts, (regie, scope, newest_first(created), anomaly_id), (regie, scope), delta)

    def record(self, anomaly: Anomaly) -> Anomaly:
        self.add(anomaly.id, anomaly)
        self.by_regie.add((anomaly.regie, anomaly.created, anomaly.id))
        self.open_by_regie.add((anomaly.regie, anomaly.created, anomaly.id))
        self._track(anomaly.regie, ALL, anomaly.created, anomaly.id, 1)
        self._track(anomaly.regie, OPEN_SCOPE, anomaly.created, anomaly.id, 1)
        return anomaly

    def resolve(self, anomaly: Anomaly, who: str, resolution: str) -> None:
        was_open = not anomaly.resolved
        anomaly.resolved_at = utcnow()
        anomaly.resolved_by = who
        anomaly.resolution = resolution
        self.open_by_regie.discard((anomaly.regie, anomaly.created, anomaly.id))
        if was_open:
            self._track(anomaly.regie, OPEN_SCOPE, anomaly.created, anomaly.id, -1)

    def for_regie(self, regie: str, open_only: bool = False, limit: int = 200, offset: int = 0) -> list[Anomaly]:
        """A régie's anomalies (or only the open ones), newest first: ``limit`` from ``offset``."""
        if self.recent is None:  # a database not evolved yet
            tree = self.open_by_regie if open_only else self.by_regie
            keys = reversed(list(tree.keys(min=(regie,), max=upper_bound(regie))))
            return [self.data[aid] for _r, _c, aid in page_of(keys, offset, limit)]
        entries = page_of(self.recent.keys(**scope_range(regie, OPEN_SCOPE if open_only else ALL)), offset, limit)
        return [self.data[aid] for _r, _s, _c, aid in entries]

    def count(self, regie: str, open_only: bool = False) -> int:
        if self.counts is None:  # a database not evolved yet
            tree = self.open_by_regie if open_only else self.by_regie
            return len(tree.keys(min=(regie,), max=upper_bound(regie)))
        return read_count(self.counts, (regie, OPEN_SCOPE if open_only else ALL))

    def count_open(self, regie: str) -> int:
        return self.count(regie, open_only=True)

    def build_indexes(self) -> None:
        """Build ``recent`` and ``counts`` from the régie indexes (keys only)."""
        self.recent = OOTreeSet()
        self.counts = OOBTree()
        for scope, tree in ((ALL, self.by_regie), (OPEN_SCOPE, self.open_by_regie)):
            for regie, created, anomaly_id in tree.keys():
                self._track(regie, scope, created, anomaly_id, 1)


INVOICES = "invoices"
BASKETS = "baskets"
PAYMENTS = "payments"
ANOMALIES = "anomalies"


def create_billing_folders(portal, registry) -> None:
    """Create the invoices, baskets, payments and anomalies folders."""
    portal.ensure_folder(INVOICES, InvoiceFolder)
    portal.ensure_folder(BASKETS, BasketFolder)
    portal.ensure_folder(PAYMENTS, PaymentFolder)
    portal.ensure_folder(ANOMALIES, AnomalyFolder)


def build_billing_indexes(portal, registry) -> None:
    """Build the newest-first indexes and the counters of the billing folders of an existing database."""
    create_billing_folders(portal, registry)
    for name in (INVOICES, BASKETS, PAYMENTS, ANOMALIES):
        portal[name].build_indexes()
