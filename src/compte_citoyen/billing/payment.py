"""Card payment through eopayment: start a payment from a basket, apply the provider's answers exactly once.

The provider answers twice for one payment — the server-to-server notification and the browser's return — and
may repeat either. ``apply_response`` is idempotent: a payment's state leaves ``pending`` once, it is keyed
uniquely by (backend, order id), and every answer writes the payment object, so two concurrent answers for one
order conflict in ZODB and the retried one finds the payment already settled. Only answers the backend reports
as signed are applied; what does not add up is kept as an ``Anomaly`` for the régie's manager.
"""
from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import eopayment

from ..i18n import _
from .basket import BasketRefused, check_payable, expire_if_due
from .models import (ANOMALIES, BASKETS, INVOICES, OPEN, PAID, PAYMENT_CANCELLED, PAYMENT_DENIED,
                     PAYMENT_ERROR, PAYMENT_EXPIRED, PAYMENT_PAID, PAYMENT_PENDING, PAYMENTS, PENDING, UNPAID,
                     ALREADY_PAID, CONTRADICTION, LATE_NOTIFICATION, TEST_MODE, UNKNOWN_ORDER, UNREADABLE_AMOUNT,
                     WRONG_AMOUNT, WRONG_REGIE, Anomaly, Basket, Payment, format_amount, new_id, utcnow)
from .regie import SIMULATOR, Regie, get_regies

log = logging.getLogger(__name__)

#: eopayment result -> payment state when the payment did not go through
FAILED_STATES = {
    eopayment.DENIED: PAYMENT_DENIED,
    eopayment.CANCELLED: PAYMENT_CANCELLED,
    eopayment.EXPIRED: PAYMENT_EXPIRED,
    eopayment.ERROR: PAYMENT_ERROR,
}
#: how long after its basket's lifetime a payment without answer is considered expired
PAYMENT_GRACE = datetime.timedelta(minutes=15)


class PaymentRefused(Exception):
    """An answer that is not applied (unsigned, malformed, test mode in production)."""


class ProviderTestModeAnswer(PaymentRefused):
    """A signed answer of the provider's test mode reaching production: not applied, kept as an anomaly."""

    def __init__(self, response):
        super().__init__("test-mode answer refused in production")
        self.response = response


@dataclass
class Outcome:
    """What applying an answer did, for the views (message to the citizen) and the tests."""
    payment: Payment | None
    applied: bool = False          # this answer changed the payment's state
    anomaly: Anomaly | None = None


# --- the backend ------------------------------------------------------------------------------------------

def backend_options(regie: Regie, request) -> dict:
    """The régie's eopayment options, with the portal's return and notification URLs filled in."""
    options = dict(regie.payment_options)
    return_url = request.route_url("payment_return", regie=regie.code)
    notify_url = request.route_url("payment_notify", regie=regie.code)
    options.setdefault("normal_return_url", return_url)
    options.setdefault("automatic_return_url", notify_url)
    if regie.payment_backend == "dummy":
        options.setdefault("direct_notification_url", notify_url)
    if options.get("service_url") == SIMULATOR:
        options["service_url"] = request.route_url("payment_simulator", regie=regie.code)
    return options


def get_backend(regie: Regie, request) -> eopayment.Payment:
    # eopayment's own logger: at debug level it prints the signed data, never under the portal's debug logger
    return eopayment.Payment(regie.payment_backend, backend_options(regie, request))


def response_amount(backend: str, bank_data: dict) -> int | None:
    """The amount (cents) a provider's answer says was paid, or None when it cannot be read."""
    def first(name):
        value = bank_data.get(name)
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        return value

    try:
        if backend in ("systempayv2", "payzen"):
            value = first("vads_effective_amount") or first("vads_amount")
            return int(value) if value is not None else None
        if backend in ("sips2", "paybox", "payfip_ws", "tipi"):
            for name in ("amount", "montant", "Amount"):
                if first(name) is not None:
                    return int(first(name))
            return None
        if backend in ("dummy", "ogone", "mollie", "keyware", "saga", "worldline"):
            for name in ("amount", "AMOUNT"):
                if first(name) is not None:
                    return int(Decimal(str(first(name))) * 100)
            return None
    except (ValueError, InvalidOperation):
        return None
    return None


# --- starting a payment ------------------------------------------------------------------------------------

def start_payment(request, portal, household, basket: Basket) -> tuple[Payment, int, object]:
    """Create the pending payment of a basket and the provider request; returns (payment, kind, data).

    ``kind`` / ``data`` are eopayment's: a URL to redirect to, or a form (``FORM``) or HTML (``HTML``) the
    browser must post to the provider. The basket is locked until the provider answers or the payment expires.
    """
    now = utcnow()
    expire_if_due(portal, basket, now)
    if basket.state == PENDING:
        raise BasketRefused(_("A payment of this basket is in progress: wait for the bank's answer."))
    if basket.state != OPEN or not basket.items or basket.regie is None:
        raise BasketRefused(_("Your basket is empty."))
    regie = get_regies(request.registry).get(basket.regie)
    if regie is None:
        raise BasketRefused(_("This invoice cannot be paid online."))
    amount = check_payable(portal, regie, basket)
    lifetime = datetime.timedelta(minutes=regie.basket_rules.lifetime_minutes)
    payment = Payment(new_id(), regie.code, regie.payment_backend, household.id, basket.id, basket.items,
                      amount, now + lifetime + PAYMENT_GRACE)
    payments = portal[PAYMENTS]
    payments.add_payment(payment)
    backend = get_backend(regie, request)
    holder = household.holder
    kwargs = {"orderid": payment.id, "transaction_id": payment.id,
              "email": household.email or None}
    if regie.payment_backend in ("systempayv2", "payzen") and holder is not None:
        kwargs.update(first_name=holder.first_names[:63], last_name=holder.family_name[:63])
    transaction_id, kind, data = backend.request(Decimal(amount) / 100, **kwargs)
    payments.set_order(payment, str(transaction_id))
    basket.state = PENDING
    basket.payment_id = payment.id
    basket.updated = now
    invoices = portal[INVOICES]
    for key in basket.items:
        invoices[key].payment_id = payment.id
    return payment, kind, data


# --- applying an answer --------------------------------------------------------------------------------------

def record_anomaly(portal, regie: str, kind: str, detail: str, *, backend: str = "", order_id: str = "",
                   payment: Payment | None = None, amount: int | None = None, bank_data: dict | None = None
                   ) -> Anomaly:
    anomaly = Anomaly(new_id(), regie, kind, detail, backend=backend, order_id=order_id,
                      payment_id=payment.id if payment is not None else "", amount=amount, bank_data=bank_data)
    portal[ANOMALIES].record(anomaly)
    log.warning("payment anomaly %s for régie %s: %s", kind, regie, detail)
    return anomaly


def parse_response(regie: Regie, request, query_string: str, production: bool):
    """Let the régie's backend read and check a provider's answer; refuse unsigned or test answers."""
    backend = get_backend(regie, request)
    try:
        response = backend.response(query_string)
    except (eopayment.ResponseError, eopayment.PaymentException, ValueError, KeyError) as exc:
        raise PaymentRefused(f"unreadable answer: {exc}") from exc
    if not response.signed:
        raise PaymentRefused("answer not signed")
    if production and response.test:
        raise ProviderTestModeAnswer(response)
    return response


def record_test_answer(portal, regie: Regie, refused: ProviderTestModeAnswer, source: str) -> Anomaly:
    response = refused.response
    order_id = str(response.order_id or response.transaction_id or "")
    payment = portal[PAYMENTS].by_backend_order(regie.payment_backend, order_id)
    return record_anomaly(portal, regie.code, TEST_MODE,
                          f"{source}: signed answer of the provider's test mode, not applied in production",
                          backend=regie.payment_backend, order_id=order_id, payment=payment,
                          amount=response_amount(regie.payment_backend, dict(response.bank_data or {})),
                          bank_data=dict(response.bank_data or {}))


def apply_response(request, portal, regie: Regie, response, source: str) -> Outcome:
    """Apply a signed provider answer once (see the module docstring). ``source``: notification, return, poll."""
    registry = request.registry
    payments = portal[PAYMENTS]
    backend = regie.payment_backend
    order_id = str(response.order_id or response.transaction_id or "")
    bank_data = dict(response.bank_data or {})
    payment = payments.by_backend_order(backend, order_id)
    if payment is None and response.transaction_id and response.transaction_id != order_id:
        payment = payments.by_backend_order(backend, str(response.transaction_id))
    amount = response_amount(backend, bank_data)
    if payment is None:
        anomaly = record_anomaly(portal, regie.code, UNKNOWN_ORDER,
                                 f"{source}: no payment with order {order_id!r}", backend=backend,
                                 order_id=order_id, amount=amount, bank_data=bank_data)
        return Outcome(None, anomaly=anomaly)
    # every answer writes the payment: concurrent answers for one order conflict and are serialised
    payment.notifications += 1
    if payment.regie != regie.code:
        anomaly = record_anomaly(portal, regie.code, WRONG_REGIE,
                                 f"{source}: order {order_id} belongs to régie {payment.regie}", backend=backend,
                                 order_id=order_id, payment=payment, amount=amount, bank_data=bank_data)
        return Outcome(payment, anomaly=anomaly)
    if response.result == eopayment.PAID:
        return _apply_paid(portal, registry, regie, payment, response, amount, bank_data, source, request)
    if response.result in FAILED_STATES:
        return _apply_failed(portal, regie, payment, FAILED_STATES[response.result], response, amount,
                             bank_data, source)
    # RECEIVED / ACCEPTED / WAITING: the provider has not decided yet; the payment stays pending
    return Outcome(payment)


def _apply_paid(portal, registry, regie, payment, response, amount, bank_data, source, request) -> Outcome:
    if payment.state == PAYMENT_PAID:
        return Outcome(payment)  # the same answer again (notification and return, or a replay)
    if payment.state != PAYMENT_PENDING:
        anomaly = record_anomaly(
            portal, regie.code, LATE_NOTIFICATION,
            f"{source}: paid answer for a payment already {payment.state} (its basket was reopened or closed); "
            f"the citizen may have been charged {format_amount(amount) if amount is not None else '?'}",
            backend=payment.backend, order_id=payment.order_id, payment=payment, amount=amount,
            bank_data=bank_data)
        return Outcome(payment, anomaly=anomaly)
    if amount is None:
        anomaly = record_anomaly(portal, regie.code, UNREADABLE_AMOUNT,
                                 f"{source}: the paid amount cannot be read from the answer",
                                 backend=payment.backend, order_id=payment.order_id, payment=payment,
                                 bank_data=bank_data)
        return Outcome(payment, anomaly=anomaly)
    if amount != payment.amount:
        anomaly = record_anomaly(
            portal, regie.code, WRONG_AMOUNT,
            f"{source}: {format_amount(amount)} paid for a basket of {format_amount(payment.amount)}",
            backend=payment.backend, order_id=payment.order_id, payment=payment, amount=amount,
            bank_data=bank_data)
        payment.keep_bank_data(bank_data)
        _finish(portal, payment, PAYMENT_ERROR, response)
        return Outcome(payment, applied=True, anomaly=anomaly)
    invoices = portal[INVOICES]
    now = utcnow()
    anomaly = None
    for key in payment.invoice_keys:
        invoice = invoices.get(key)
        if invoice is None:
            continue
        if invoice.state != UNPAID:
            anomaly = record_anomaly(portal, regie.code, ALREADY_PAID,
                                     f"{source}: invoice {invoice.number} was already {invoice.state}",
                                     backend=payment.backend, order_id=payment.order_id, payment=payment,
                                     amount=amount, bank_data=bank_data)
        else:
            invoices.set_state(invoice, PAID)
            invoice.paid_at = now
            invoice.paid_payment_id = payment.id
        invoice.payment_id = None
        invoice.basket_id = None
    payment.keep_bank_data(bank_data)
    payment.paid_at = response.transaction_date or now
    payment.receipt_number = f"{regie.code.upper()}-{now:%Y}-{portal.next_number('receipt:' + regie.code):06d}"
    portal[PAYMENTS].set_state(payment, PAYMENT_PAID)
    payment.bank_status = str(response.bank_status or "")[:500]
    basket = portal[BASKETS].get(payment.basket_id)
    if basket is not None:
        portal[BASKETS].close(basket)
    _send_receipt(portal, registry, regie, payment, request)
    portal["journal"].record(f"payment:{payment.backend}", "payment-paid", f"household:{payment.household_id}",
                             f"{regie.code} {payment.receipt_number} {format_amount(payment.amount)}")
    return Outcome(payment, applied=True, anomaly=anomaly)


def _apply_failed(portal, regie, payment, state, response, amount, bank_data, source) -> Outcome:
    if payment.state == PAYMENT_PENDING:
        payment.keep_bank_data(bank_data)
        _finish(portal, payment, state, response)
        return Outcome(payment, applied=True)
    if payment.state == PAYMENT_PAID:
        anomaly = record_anomaly(portal, regie.code, CONTRADICTION,
                                 f"{source}: {state} answer for a payment already paid",
                                 backend=payment.backend, order_id=payment.order_id, payment=payment,
                                 amount=amount, bank_data=bank_data)
        return Outcome(payment, anomaly=anomaly)
    return Outcome(payment)  # a failure repeated: nothing more to do


def _finish(portal, payment: Payment, state: str, response=None) -> None:
    """End a payment that did not pay its invoices: they are released and the basket reopens."""
    portal[PAYMENTS].set_state(payment, state)
    if response is not None:
        payment.bank_status = str(response.bank_status or "")[:500]
    invoices = portal[INVOICES]
    for key in payment.invoice_keys:
        invoice = invoices.get(key)
        if invoice is not None and invoice.payment_id == payment.id:
            invoice.payment_id = None
    basket = portal[BASKETS].get(payment.basket_id)
    if basket is not None and basket.state == PENDING and basket.payment_id == payment.id:
        basket.state = OPEN
        basket.payment_id = None
        basket.updated = utcnow()
        regie_lifetime = payment.expires_at - payment.created - PAYMENT_GRACE
        basket.expires_at = utcnow() + regie_lifetime


def expire_payment(portal, payment: Payment) -> None:
    """A payment left without answer past its time: it expires and its basket reopens."""
    if payment.state == PAYMENT_PENDING:
        _finish(portal, payment, PAYMENT_EXPIRED)


def _send_receipt(portal, registry, regie, payment: Payment, request) -> None:
    """Queue the receipt (an acknowledgement) through the notification API, in this transaction."""
    from ..notification import ACKNOWLEDGEMENT, notify_household
    household = portal["households"].get(payment.household_id)
    if household is None:
        return
    invoices = portal[INVOICES]
    numbers = ", ".join(invoices[k].number for k in payment.invoice_keys if k in invoices)
    city = registry.settings.get("compte_citoyen.city_name", "")
    mapping = {"amount": format_amount(payment.amount), "regie": request.translate(regie.label),
               "numbers": numbers, "receipt": payment.receipt_number, "city": city}
    subject = request.translate(_("Payment receipt ${receipt}", mapping=mapping))
    text = request.translate(_(
        "We have received your card payment of ${amount} (${regie}).\n"
        "Invoices paid: ${numbers}\nReceipt number: ${receipt}\n\n"
        "Your paid invoices are in the \"My accounts\" tab, under \"See your statement\", with the receipt "
        "to download.", mapping=mapping))
    notify_household(request, portal, household, kind=ACKNOWLEDGEMENT, subject=subject, text=text,
                     event_key=f"payment-receipt:{payment.id}", registry=registry)


# --- re-checking pending payments (compte-citoyen INI poll-payments) -----------------------------------

def poll_pending(request, portal, now: datetime.datetime | None = None) -> list[tuple[Payment, str]]:
    """Ask the provider about each pending payment when it can tell; expire those past their time."""
    now = now or utcnow()
    registry = request.registry
    regies = get_regies(registry)
    production = registry.settings.get("compte_citoyen.production")
    done = []
    for payment in portal[PAYMENTS].in_state(PAYMENT_PENDING):
        regie = regies.get(payment.regie)
        if regie is not None:
            backend = get_backend(regie, request)
            if backend.has_payment_status and getattr(backend.backend, "payment_status", None):
                try:
                    response = backend.payment_status(payment.order_id)
                except Exception as exc:  # the provider is down: try again next time
                    log.warning("payment status of %s failed: %s", payment.id, exc)
                    response = None
                if response is not None and response.signed and not (production and response.test):
                    apply_response(request, portal, regie, response, "poll")
                    if payment.state != PAYMENT_PENDING:
                        done.append((payment, payment.state))
                        continue
        if now >= payment.expires_at:
            expire_payment(portal, payment)
            done.append((payment, payment.state))
    return done
