"""The basket rules, applied on the server inside the request's transaction.

One basket per household; it belongs to the régie of its first invoice. Every change reassigns the basket's
``items`` and the invoice's holder, so two concurrent requests on one basket conflict in ZODB and the retried
one sees the other's result: a refusal can never be bypassed by double-clicking or racing two tabs.
"""
from __future__ import annotations

import datetime

from ..i18n import _
from .models import (BASKETS, INVOICES, OPEN, PAYMENT_PENDING, PAYMENTS, PENDING, UNPAID, Basket, Invoice,
                     format_amount, utcnow)
from .regie import Regie, get_regies

#: The FAQ's message, for both refusals (same invoice twice, invoice of another régie).
REFUSAL = _("Impossible to add this item, you must first pay those waiting in your basket")


class BasketRefused(Exception):
    """A change of the basket the rules refuse; ``message`` is a translation string for the citizen.

    ``faq`` is true for the two refusals the FAQ describes (shown in the dialog with its "Ok" button).
    """

    def __init__(self, message, faq: bool = False):
        super().__init__(str(message))
        self.message = message
        self.faq = faq


def expire_if_due(portal, basket: Basket, now: datetime.datetime | None = None) -> bool:
    """Release the invoices of a basket whose lifetime is over, or whose payment timed out. True if changed."""
    now = now or utcnow()
    if basket.state == PENDING and basket.payment_id:
        from .payment import expire_payment
        payment = portal[PAYMENTS].get(basket.payment_id)
        if payment is not None and payment.state == PAYMENT_PENDING and now >= payment.expires_at:
            expire_payment(portal, payment)
            return True
        return False
    if basket.expired(now):
        empty(portal, basket)
        return True
    return False


def empty(portal, basket: Basket) -> None:
    invoices = portal[INVOICES]
    for key in basket.items:
        invoice = invoices.get(key)
        if invoice is not None and invoice.basket_id == basket.id:
            invoice.basket_id = None
    old = basket.regie
    basket.items = ()
    basket.regie = None
    basket.expires_at = None
    basket.updated = utcnow()
    portal[BASKETS].track(basket, old)


def current_basket(portal, household_id: str, create: bool = False) -> Basket | None:
    baskets = portal[BASKETS]
    basket = baskets.current_or_new(household_id) if create else baskets.current(household_id)
    return basket


def basket_invoices(portal, basket: Basket | None) -> list[Invoice]:
    if basket is None:
        return []
    invoices = portal[INVOICES]
    return [invoices[key] for key in basket.items if key in invoices]


def basket_total(portal, basket: Basket | None) -> int:
    return sum(invoice.total for invoice in basket_invoices(portal, basket))


def add_invoice(portal, registry, household_id: str, invoice: Invoice,
                now: datetime.datetime | None = None) -> Basket:
    """Put an unpaid invoice of the household in its basket, or raise ``BasketRefused``."""
    now = now or utcnow()
    if invoice.household_id != household_id:
        raise LookupError(invoice.key)
    regies = get_regies(registry)
    regie = regies.get(invoice.regie)
    if regie is None:
        raise BasketRefused(_("This invoice cannot be paid online."))
    basket = current_basket(portal, household_id, create=True)
    expire_if_due(portal, basket, now)
    if invoice.state != UNPAID:
        raise BasketRefused(_("This invoice is already paid."))
    if invoice.key in basket.items or basket.state == PENDING:
        raise BasketRefused(REFUSAL, faq=True)
    if invoice.basket_id or invoice.payment_id:
        # held by another basket or by a payment in progress: it cannot be added elsewhere
        raise BasketRefused(REFUSAL, faq=True)
    if basket.items and basket.regie != invoice.regie:
        raise BasketRefused(REFUSAL, faq=True)
    rules = regie.basket_rules
    if len(basket.items) >= rules.max_invoices:
        raise BasketRefused(_("A payment holds at most ${count} invoices: pay your basket first.",
                              mapping={"count": rules.max_invoices}))
    total = basket_total(portal, basket) + invoice.total
    if total > rules.max_amount:
        raise BasketRefused(_("A payment cannot exceed ${amount}: pay your basket first.",
                              mapping={"amount": format_amount(rules.max_amount)}))
    old = basket.regie
    if not basket.items:
        basket.expires_at = now + datetime.timedelta(minutes=rules.lifetime_minutes)
    basket.items = basket.items + (invoice.key,)
    basket.regie = invoice.regie
    basket.state = OPEN
    basket.updated = now
    invoice.basket_id = basket.id
    portal[BASKETS].track(basket, old)
    return basket


def remove_invoice(portal, household_id: str, key: str, now: datetime.datetime | None = None) -> Basket | None:
    """Take an invoice out of the household's open basket (refused while a payment is in progress)."""
    now = now or utcnow()
    basket = current_basket(portal, household_id)
    if basket is None:
        return None
    expire_if_due(portal, basket, now)
    if basket.state == PENDING:
        raise BasketRefused(_("A payment of this basket is in progress: wait for the bank's answer."))
    if key not in basket.items:
        return basket
    old = basket.regie
    basket.items = tuple(k for k in basket.items if k != key)
    invoice = portal[INVOICES].get(key)
    if invoice is not None and invoice.basket_id == basket.id:
        invoice.basket_id = None
    if not basket.items:
        basket.regie = None
        basket.expires_at = None
    basket.updated = now
    portal[BASKETS].track(basket, old)
    return basket


def extend(portal, registry, household_id: str, now: datetime.datetime | None = None) -> Basket | None:
    """"Prolonger": the basket lives its full lifetime again from now."""
    now = now or utcnow()
    basket = current_basket(portal, household_id)
    if basket is None:
        return None
    expire_if_due(portal, basket, now)
    if basket.state != OPEN or not basket.items:
        return basket
    regie = get_regies(registry)[basket.regie]
    basket.expires_at = now + datetime.timedelta(minutes=regie.basket_rules.lifetime_minutes)
    basket.updated = now
    return basket


def check_payable(portal, regie: Regie, basket: Basket) -> int:
    """The amount to pay, computed here from the invoices (never from the browser); refuses what the régie's
    rules do not allow."""
    invoices = basket_invoices(portal, basket)
    if not invoices:
        raise BasketRefused(_("Your basket is empty."))
    for invoice in invoices:
        if invoice.state != UNPAID or invoice.household_id != basket.household_id or invoice.regie != regie.code:
            raise BasketRefused(_("An invoice of your basket can no longer be paid: remove it first."))
    rules = regie.basket_rules
    total = sum(invoice.total for invoice in invoices)
    if len(invoices) > rules.max_invoices:
        raise BasketRefused(_("A payment holds at most ${count} invoices.", mapping={"count": rules.max_invoices}))
    if total < rules.min_amount:
        raise BasketRefused(_("The minimum amount of a card payment is ${amount}.",
                              mapping={"amount": format_amount(rules.min_amount)}))
    if total > rules.max_amount:
        raise BasketRefused(_("A payment cannot exceed ${amount}.",
                              mapping={"amount": format_amount(rules.max_amount)}))
    return total
