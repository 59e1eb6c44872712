"""Citizen billing pages: "Mes comptes", the basket, the payment round trip, invoice and receipt PDFs."""
from __future__ import annotations

import datetime
import logging

import eopayment
from pyramid.httpexceptions import HTTPBadRequest, HTTPNotFound, HTTPSeeOther
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from ..household.workdays import PARIS, local_today
from ..i18n import _
from . import basket as baskets
from .models import (INVOICES, PAID, PAYMENT_CANCELLED, PAYMENT_DENIED, PAYMENT_ERROR, PAYMENT_EXPIRED,
                     PAYMENT_PAID, PAYMENTS, PENDING, UNPAID, format_amount, months_before, utcnow)
from .payment import (PaymentRefused, ProviderTestModeAnswer, apply_response, parse_response, record_test_answer,
                      start_payment)
from .regie import get_regies

log = logging.getLogger(__name__)

#: "Les factures émises durant les 3 derniers mois" (FAQ)
WINDOW_MONTHS = 3
REFUSAL_FLAG = "billing.basket_refusal"


def format_date(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        value = value.astimezone(PARIS).date()
    return value.strftime("%d/%m/%Y")


def format_time(value: datetime.datetime) -> str:
    return value.astimezone(PARIS).strftime("%H h %M")


def citizen(request):
    """The logged-in citizen's (account, household); staff and other principals get a 404 here."""
    account = request.identity
    if account is None or getattr(account, "kind", None) != "citizen":
        raise HTTPNotFound()
    household = request.app_root["households"].get(account.household_id)
    if household is None:
        raise HTTPNotFound()
    return account, household


def validated_citizen(request):
    """Invoices exist for the citizen only once the account is validated: before, they are not found."""
    account, household = citizen(request)
    if not account.validated:
        raise HTTPNotFound()
    return account, household


def own_invoice(request, household, regie: str, number: str):
    invoice = request.app_root[INVOICES].get_invoice(regie, number)
    if invoice is None or invoice.household_id != household.id:
        raise HTTPNotFound()
    return invoice


def regie_label(request, code: str) -> str:
    regie = get_regies(request.registry).get(code)
    return request.translate(regie.label) if regie is not None else code


def invoice_row(request, invoice) -> dict:
    return {
        "invoice": invoice,
        "number": invoice.number,
        "regie": invoice.regie,
        "regie_label": regie_label(request, invoice.regie),
        "issued": format_date(invoice.issue_date),
        "due": format_date(invoice.due_date),
        "amount": format_amount(invoice.total),
        "paid_on": format_date(invoice.paid_at),
        "pdf_url": request.route_url("invoice_pdf", regie=invoice.regie, number=invoice.number),
        "receipt_url": (request.route_url("receipt_pdf", payment_id=invoice.paid_payment_id)
                        if invoice.paid_payment_id else None),
        "members": ", ".join(sorted({line.member_name for line in invoice.lines if line.member_name})),
        "label": invoice.label,
        "in_basket": bool(invoice.basket_id),
        "in_payment": bool(invoice.payment_id),
    }


def basket_summary(request, household) -> dict:
    portal = request.app_root
    basket = baskets.current_basket(portal, household.id)
    now = utcnow()
    items = [] if basket is None or basket.expired(now) else baskets.basket_invoices(portal, basket)
    return {"count": len(items), "total": format_amount(sum(i.total for i in items)),
            "url": request.route_url("basket")}


@view_config(route_name="my_accounts", renderer="templates/my_accounts.pt", request_method="GET")
def my_accounts(request):
    """"Mes comptes": the invoices of the last 3 months, paid ("Consulter votre relevé") and to pay."""
    account, household = citizen(request)
    refusal = bool(request.session.pop(REFUSAL_FLAG, False))
    statement, to_pay = [], []
    since = months_before(local_today(), WINDOW_MONTHS)
    if account.validated:
        for invoice in request.app_root[INVOICES].for_household(household.id, since=since):
            if invoice.state == PAID:
                statement.append(invoice_row(request, invoice))
            elif invoice.state == UNPAID:
                to_pay.append(invoice_row(request, invoice))
    return {
        "page_title": request.translate(_("My accounts")),
        "validated": account.validated,
        "statement": statement,
        "to_pay": to_pay,
        "since": format_date(since),
        "refusal": refusal,
        "refusal_message": request.translate(baskets.REFUSAL),
        "basket": basket_summary(request, household),
        "csrf_token": request.session.get_csrf_token(),
    }


@view_config(route_name="basket_add", request_method="POST")
def basket_add(request):
    """"Ajouter au panier". The two refusals of the FAQ come back to "Mes comptes" with the dialog."""
    _account, household = validated_citizen(request)
    invoice = own_invoice(request, household, request.POST.get("regie", ""), request.POST.get("number", ""))
    try:
        baskets.add_invoice(request.app_root, request.registry, household.id, invoice)
    except baskets.BasketRefused as refused:
        if refused.faq:
            request.session[REFUSAL_FLAG] = True
            return HTTPSeeOther(request.route_url("my_accounts", _anchor="panier-refus"))
        request.session.flash(request.translate(refused.message))
        return HTTPSeeOther(request.route_url("my_accounts"))
    request.session.flash(request.translate(_("Invoice ${number} added to your basket.",
                                              mapping={"number": invoice.number})))
    return HTTPSeeOther(request.route_url("my_accounts", _anchor="factures-a-payer"))


@view_config(route_name="basket", renderer="templates/basket.pt", request_method="GET")
def basket_view(request):
    _account, household = validated_citizen(request)
    request.nav_section = "my_accounts"
    portal = request.app_root
    basket = baskets.current_basket(portal, household.id)
    now = utcnow()
    expired = basket is not None and basket.expired(now)
    items = [] if basket is None or expired else baskets.basket_invoices(portal, basket)
    pending = basket is not None and basket.state == PENDING
    remaining = None
    if basket is not None and items and not pending and basket.expires_at is not None:
        minutes = int(basket.remaining(now).total_seconds() // 60)
        remaining = {"until": format_time(basket.expires_at), "minutes": minutes}
    regie = get_regies(request.registry).get(basket.regie) if items else None
    return {
        "page_title": request.translate(_("Your basket")),
        "items": [invoice_row(request, invoice) for invoice in items],
        "total": format_amount(sum(invoice.total for invoice in items)),
        "regie_label": request.translate(regie.label) if regie is not None else "",
        "pending": pending,
        "expired": expired,
        "remaining": remaining,
        "csrf_token": request.session.get_csrf_token(),
    }


@view_config(route_name="basket_remove", request_method="POST")
def basket_remove(request):
    _account, household = validated_citizen(request)
    invoice = own_invoice(request, household, request.POST.get("regie", ""), request.POST.get("number", ""))
    try:
        baskets.remove_invoice(request.app_root, household.id, invoice.key)
    except baskets.BasketRefused as refused:
        request.session.flash(request.translate(refused.message))
    else:
        request.session.flash(request.translate(_("Invoice ${number} removed from your basket.",
                                                  mapping={"number": invoice.number})))
    return HTTPSeeOther(request.route_url("basket"))


@view_config(route_name="basket_extend", request_method="POST")
def basket_extend(request):
    """"Prolonger": the basket is kept for its whole lifetime again."""
    _account, household = validated_citizen(request)
    basket = baskets.extend(request.app_root, request.registry, household.id)
    if basket is not None and basket.items and basket.expires_at is not None:
        request.session.flash(request.translate(_("Your basket is kept until ${time}.",
                                                  mapping={"time": format_time(basket.expires_at)})))
    return HTTPSeeOther(request.route_url("basket"))


@view_config(route_name="basket_pay", request_method="POST", renderer="templates/payment_redirect.pt")
def basket_pay(request):
    """Start the card payment: the amount is computed here from the basket, never taken from the browser."""
    _account, household = validated_citizen(request)
    portal = request.app_root
    basket = baskets.current_basket(portal, household.id)
    if basket is None:
        return HTTPSeeOther(request.route_url("basket"))
    try:
        payment, kind, data = start_payment(request, portal, household, basket)
    except baskets.BasketRefused as refused:
        request.session.flash(request.translate(refused.message))
        return HTTPSeeOther(request.route_url("basket"))
    if kind == eopayment.URL:
        return HTTPSeeOther(data)
    request.nav_section = "my_accounts"
    result = {"page_title": request.translate(_("Card payment")), "amount": format_amount(payment.amount),
              "regie_label": regie_label(request, payment.regie), "form": None, "html": None}
    if kind == eopayment.FORM:
        result["form"] = {"url": data.url, "method": data.method,
                          "fields": [(f["name"], f["value"]) for f in data.fields]}
    else:
        result["html"] = data
    return result


def _answer_text(request) -> str:
    if request.method == "POST" and request.body:
        return request.body.decode("utf-8", "replace")
    return request.query_string


def _regie_of(request):
    regie = get_regies(request.registry).get(request.matchdict["regie"])
    if regie is None:
        raise HTTPNotFound()
    return regie


@view_config(route_name="payment_notify", permission=NO_PERMISSION_REQUIRED, require_csrf=False)
def payment_notify(request):
    """The provider's server-to-server notification. Public and CSRF-exempt on purpose: the bank posts it
    without a session; only answers the backend reports as signed are applied."""
    regie = _regie_of(request)
    production = request.registry.settings.get("compte_citoyen.production")
    try:
        response = parse_response(regie, request, _answer_text(request), production)
    except ProviderTestModeAnswer as refused:
        record_test_answer(request.app_root, regie, refused, "notification")
        return Response("refused", content_type="text/plain")  # 200: the anomaly is kept
    except PaymentRefused as refused:
        log.warning("payment notification refused for régie %s from %s: %s", regie.code, request.client_addr,
                    refused)
        return Response("refused", status=400, content_type="text/plain")
    apply_response(request, request.app_root, regie, response, "notification")
    # 200 even for an anomaly: it is recorded (a 4xx would abort the transaction that keeps it)
    return Response(response.return_content or "OK", content_type="text/plain")


RESULT_MESSAGES = {
    PAYMENT_PAID: _("Your payment of ${amount} is accepted. Receipt number ${receipt}: your invoices are in "
                    "\"See your statement\"."),
    PAYMENT_DENIED: _("Your payment was refused by the bank. Your invoices are still in your basket."),
    PAYMENT_CANCELLED: _("You cancelled the payment. Your invoices are still in your basket."),
    PAYMENT_EXPIRED: _("The payment expired. Your invoices are still in your basket."),
    PAYMENT_ERROR: _("The payment could not be completed; the city's services have been told. "
                     "Your invoices were not marked as paid."),
}


@view_config(route_name="payment_return", permission=NO_PERMISSION_REQUIRED, require_csrf=False)
def payment_return(request):
    """The citizen's browser back from the provider (its session may have expired meanwhile)."""
    regie = _regie_of(request)
    production = request.registry.settings.get("compte_citoyen.production")
    text = _answer_text(request)
    if not text:
        raise HTTPBadRequest()
    try:
        response = parse_response(regie, request, text, production)
    except PaymentRefused as refused:
        log.warning("payment return refused for régie %s: %s", regie.code, refused)
        request.session.flash(request.translate(_(
            "The bank's answer could not be checked. If you paid, the payment will be recorded as soon as "
            "the bank confirms it.")))
        return HTTPSeeOther(request.route_url("my_accounts"))
    outcome = apply_response(request, request.app_root, regie, response, "return")
    payment = outcome.payment
    identity = request.identity
    owner = (payment is not None and identity is not None and getattr(identity, "kind", None) == "citizen"
             and identity.household_id == payment.household_id)
    if payment is None or not owner:
        request.session.flash(request.translate(_("The bank's answer is recorded. Log in to see your accounts.")))
        return HTTPSeeOther(request.route_url("login"))
    message = RESULT_MESSAGES.get(payment.state)
    if message is None:
        message = _("Your payment is being processed by the bank; it will appear here once confirmed.")
    request.session.flash(request.translate(message, mapping={"amount": format_amount(payment.amount),
                                                              "receipt": payment.receipt_number or ""}))
    if payment.state == PAYMENT_PAID:
        return HTTPSeeOther(request.route_url("my_accounts", _anchor="releve"))
    return HTTPSeeOther(request.route_url("basket") if payment.state != PAYMENT_ERROR
                        else request.route_url("my_accounts"))


# --- PDFs ----------------------------------------------------------------------------------------------

def pdf_response(body: bytes, filename: str) -> Response:
    return Response(body=body, content_type="application/pdf",
                    content_disposition=f'inline; filename="{filename}"')


@view_config(route_name="invoice_pdf", request_method="GET")
def invoice_pdf(request):
    from .pdf import invoice_pdf as render
    _account, household = validated_citizen(request)
    invoice = own_invoice(request, household, request.matchdict["regie"], request.matchdict["number"])
    regie = get_regies(request.registry).get(invoice.regie)
    return pdf_response(render(request, invoice, household, regie), f"facture-{invoice.number}.pdf")


@view_config(route_name="receipt_pdf", request_method="GET")
def receipt_pdf(request):
    from .pdf import receipt_pdf as render
    _account, household = validated_citizen(request)
    payment = request.app_root[PAYMENTS].get(request.matchdict["payment_id"])
    if payment is None or payment.household_id != household.id or payment.state != PAYMENT_PAID:
        raise HTTPNotFound()
    regie = get_regies(request.registry).get(payment.regie)
    invoices = request.app_root[INVOICES]
    paid = [invoices[key] for key in payment.invoice_keys if key in invoices]
    return pdf_response(render(request, payment, paid, household, regie), f"recu-{payment.receipt_number}.pdf")

