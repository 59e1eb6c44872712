"""Back office of the régies: invoices, payments, baskets in progress, anomalies, CSV import and export.

A régie manager sees only the régies listed on their staff record (``StaffMember.regies``); an administrator
sees them all. Every action that touches citizens' billing data is journaled.
"""
from __future__ import annotations

import csv
import datetime
import io

import colander
import deform
from pyramid.httpexceptions import HTTPForbidden, HTTPNotFound, HTTPSeeOther
from pyramid.response import Response
from pyramid.view import view_config

from ..backoffice.models import journal
from ..forms import FormView
from ..household.workdays import PARIS, local_today
from ..i18n import _
from ..indexes import Pager, page_number
from ..security import MANAGE_REGIE, ROLE_ADMIN
from .models import (ANOMALIES, BASKETS, INVOICES, PAID, PAYMENT_PAID, PAYMENT_PENDING, PAYMENTS, UNPAID,
                     format_amount, parse_amount)
from .regie import get_regies
from .sources import InvoiceData, InvoiceImportError, InvoiceLineData, check_records, import_records
from .views import format_date, pdf_response

LINES_IN_FORM = 5
PAGE_SIZE = 50  # rows per page of a régie's lists (invoices, payments, baskets, anomalies)
MAX_UPLOAD = 10 * 1024 * 1024
VIEWS = ("factures", "paiements", "paniers", "anomalies")
INVOICE_STATE_LABELS = {UNPAID: _("Not paid yet"), PAID: _("Paid"), "cancelled": _("Invoice cancelled")}
PAYMENT_STATE_LABELS = {PAYMENT_PENDING: _("Payment in progress"), PAYMENT_PAID: _("Paid"),
                        "denied": _("Refused by the bank"), "cancelled": _("Cancelled by the citizen"),
                        "expired": _("Expired without answer"), "error": _("Payment error")}
ANOMALY_LABELS = {
    "unknown_order": _("Unknown order"),
    "wrong_amount": _("Wrong amount"),
    "late_notification": _("Late notification"),
    "wrong_regie": _("Wrong régie"),
    "already_paid": _("Invoice already paid"),
    "test_mode": _("Test mode"),
    "unreadable_amount": _("Unreadable amount"),
    "contradiction": _("Contradictory answers"),
}


def managed_regies(request) -> list:
    """The régies the logged-in staff member may manage (all for an administrator)."""
    staff = request.identity
    if staff is None or getattr(staff, "kind", None) != "staff":
        return []
    regies = get_regies(request.registry)
    if staff.has_role(ROLE_ADMIN):
        return list(regies.values())
    return [regies[code] for code in staff.regies if code in regies]


def managed_regie(request):
    request.bo_section = "bo_invoices"  # the back office's "Invoices" tab stays current
    code = request.matchdict["regie"]
    if code not in get_regies(request.registry):
        raise HTTPNotFound()
    for regie in managed_regies(request):
        if regie.code == code:
            return regie
    raise HTTPForbidden()


def household_name(request, household_id: str) -> str:
    household = request.app_root["households"].get(household_id)
    if household is None:
        return household_id
    holder = household.holder
    return holder.full_name if holder is not None else household.family_name


@view_config(route_name="bo_invoices", renderer="templates/bo_invoices.pt", permission=MANAGE_REGIE)
def bo_invoices(request):
    """The régies this staff member manages, with what waits in each."""
    portal = request.app_root
    rows = []
    for regie in managed_regies(request):
        rows.append({
            "regie": regie,
            "label": request.translate(regie.label),
            "url": request.route_url("bo_regie", regie=regie.code),
            "unpaid": portal[INVOICES].count_for_regie(regie.code, UNPAID),
            "baskets": portal[BASKETS].count_in_progress(regie.code),
            "anomalies": portal[ANOMALIES].count_open(regie.code),
        })
    return {"page_title": request.translate(_("Invoices and payments")), "rows": rows}


def _period(request) -> tuple[datetime.date, datetime.date, list[str]]:
    """The period asked in ``du`` / ``au`` (inclusive), by default the current month."""
    errors = []
    today = local_today()
    start, end = today.replace(day=1), today

    def parse(name, default):
        value = request.GET.get(name, "").strip()
        if not value:
            return default
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            errors.append(name)
            return default
    start, end = parse("du", start), parse("au", end)
    if end < start:
        errors.append("au")
        end = start
    return start, end, errors


def _bounds(start: datetime.date, end: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    low = datetime.datetime.combine(start, datetime.time(0), PARIS).astimezone(datetime.timezone.utc)
    high = datetime.datetime.combine(end + datetime.timedelta(days=1), datetime.time(0), PARIS)
    return low, high.astimezone(datetime.timezone.utc)


def payment_row(request, payment) -> dict:
    return {
        "payment": payment,
        "created": format_date(payment.created),
        "paid_on": format_date(payment.paid_at),
        "household": household_name(request, payment.household_id),
        "amount": format_amount(payment.amount),
        "state": request.translate(PAYMENT_STATE_LABELS.get(payment.state, payment.state)),
        "invoices": ", ".join(key.split(":", 1)[1] for key in payment.invoice_keys),
    }


@view_config(route_name="bo_regie", renderer="templates/bo_regie.pt", permission=MANAGE_REGIE)
def bo_regie(request):
    """One régie: its invoices, payments of a period, baskets in progress and anomalies."""
    regie = managed_regie(request)
    portal = request.app_root
    view = request.GET.get("vue", "factures")
    if view not in VIEWS:
        view = "factures"
    result = {
        "page_title": request.translate(regie.label),
        "regie": regie,
        "view": view,
        "tabs": [(name, request.route_url("bo_regie", regie=regie.code, _query={"vue": name}), label)
                 for name, label in zip(VIEWS, (request.translate(_("Invoices")), request.translate(_("Payments")),
                                                request.translate(_("Baskets in progress")),
                                                request.translate(_("Anomalies"))))],
        "csrf_token": request.session.get_csrf_token(),
        "rows": [],
    }
    page = page_number(request)
    query = {"vue": view}
    if view == "factures":
        state = request.GET.get("etat", UNPAID)
        state = state if state in (UNPAID, PAID, "") else UNPAID
        result["state"] = state
        query["etat"] = state
        invoices = portal[INVOICES]
        pager = Pager(page, PAGE_SIZE, total=invoices.count_for_regie(regie.code, state or None)).clamp()
        for invoice in invoices.for_regie(regie.code, state or None, limit=PAGE_SIZE, offset=pager.offset):
            result["rows"].append({
                "invoice": invoice, "issued": format_date(invoice.issue_date), "due": format_date(invoice.due_date),
                "amount": format_amount(invoice.total), "household": household_name(request, invoice.household_id),
                "state": request.translate(INVOICE_STATE_LABELS.get(invoice.state, invoice.state)),
                "paid_on": format_date(invoice.paid_at),
                "pdf_url": request.route_url("bo_invoice_pdf", regie=regie.code, number=invoice.number),
            })
    elif view == "paiements":
        start, end, errors = _period(request)
        low, high = _bounds(start, end)
        query.update(du=start.isoformat(), au=end.isoformat())
        result.update(start=start.isoformat(), end=end.isoformat(), period_errors=errors,
                      export_url=request.route_url("bo_regie_payments_csv", regie=regie.code,
                                                   _query={"du": start.isoformat(), "au": end.isoformat()}))
        # nothing counts a period's payments: read one more than a page to know whether another follows
        pager = Pager(page, PAGE_SIZE)
        payments = portal[PAYMENTS].newest_for_regie(regie.code, low, high, offset=pager.offset,
                                                     limit=PAGE_SIZE + 1)
        result["rows"] = [payment_row(request, p) for p in pager.fill(payments)]
    elif view == "paniers":
        now = datetime.datetime.now(datetime.timezone.utc)
        baskets = portal[BASKETS]
        pager = Pager(page, PAGE_SIZE, total=baskets.count_in_progress(regie.code)).clamp()
        for basket in baskets.in_progress_for(regie.code, limit=PAGE_SIZE, offset=pager.offset):
            invoices = [portal[INVOICES][k] for k in basket.items if k in portal[INVOICES]]
            result["rows"].append({
                "household": household_name(request, basket.household_id),
                "count": len(invoices), "amount": format_amount(sum(i.total for i in invoices)),
                "state": request.translate(_("Payment in progress") if basket.state == "pending" else
                                           (_("Basket expired") if basket.expired(now) else _("Waiting for payment"))),
                "updated": format_date(basket.updated),
            })
    else:
        anomalies = portal[ANOMALIES]
        pager = Pager(page, PAGE_SIZE, total=anomalies.count(regie.code)).clamp()
        result["open_count"] = anomalies.count_open(regie.code)
        for anomaly in anomalies.for_regie(regie.code, limit=PAGE_SIZE, offset=pager.offset):
            result["rows"].append({
                "anomaly": anomaly, "created": format_date(anomaly.created),
                "kind": request.translate(ANOMALY_LABELS.get(anomaly.kind, anomaly.kind)),
                "amount": format_amount(anomaly.amount) if anomaly.amount is not None else "",
                "resolve_url": request.route_url("bo_regie_anomaly", regie=regie.code, anomaly_id=anomaly.id),
            })
    result["total"] = pager.total
    result["pager"] = pager.build(lambda n: request.route_url("bo_regie", regie=regie.code,
                                                              _query={**query, "page": n}))
    journal(request, "regie-viewed", f"regie:{regie.code}", view)
    return result


@view_config(route_name="bo_regie_payments_csv", permission=MANAGE_REGIE)
def bo_regie_payments_csv(request):
    """The paid payments of a period, for the accounting (CSV, ``;``-separated, UTF-8 with BOM for Excel)."""
    regie = managed_regie(request)
    start, end, errors = _period(request)
    if errors:
        request.session.flash(request.translate(_("The period is not valid: use two dates, the first one first.")))
        return HTTPSeeOther(request.route_url("bo_regie", regie=regie.code, _query={"vue": "paiements"}))
    low, high = _bounds(start, end)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["date_paiement", "recu", "commande", "montant", "montant_centimes", "factures", "foyer",
                     "prestataire", "autorisation"])
    portal = request.app_root
    for payment in portal[PAYMENTS].for_regie(regie.code, low, high):
        if payment.state != PAYMENT_PAID:
            continue
        writer.writerow([
            payment.paid_at.astimezone(PARIS).strftime("%d/%m/%Y %H:%M") if payment.paid_at else "",
            payment.receipt_number or "", payment.order_id,
            f"{payment.amount // 100},{payment.amount % 100:02d}", payment.amount,
            " ".join(key.split(":", 1)[1] for key in payment.invoice_keys),
            household_name(request, payment.household_id), payment.backend,
            payment.bank_data.get("vads_auth_number", ""),
        ])
    journal(request, "payments-exported", f"regie:{regie.code}", f"{start.isoformat()}..{end.isoformat()}")
    filename = f"paiements-{regie.code}-{start.isoformat()}-{end.isoformat()}.csv"
    return Response(body=("\ufeff" + out.getvalue()).encode("utf-8"), content_type="text/csv", charset="utf-8",
                    content_disposition=f'attachment; filename="{filename}"')


@view_config(route_name="bo_regie_anomaly", request_method="POST", permission=MANAGE_REGIE)
def bo_regie_anomaly(request):
    """Mark an anomaly reconciled, with what was done (refund, invoice settled at the counter...)."""
    regie = managed_regie(request)
    anomalies = request.app_root[ANOMALIES]
    anomaly = anomalies.get(request.matchdict["anomaly_id"])
    if anomaly is None or anomaly.regie != regie.code:
        raise HTTPNotFound()
    note = request.POST.get("resolution", "").strip()[:1000]
    if not note:
        request.session.flash(request.translate(_("Say what was done to reconcile this anomaly.")))
    elif not anomaly.resolved:
        anomalies.resolve(anomaly, request.identity.userid, note)
        journal(request, "anomaly-resolved", f"regie:{regie.code}", anomaly.id)
        request.session.flash(request.translate(_("Anomaly marked as reconciled.")))
    return HTTPSeeOther(request.route_url("bo_regie", regie=regie.code, _query={"vue": "anomalies"}))


@view_config(route_name="bo_invoice_pdf", permission=MANAGE_REGIE)
def bo_invoice_pdf(request):
    from .pdf import invoice_pdf
    regie = managed_regie(request)
    invoice = request.app_root[INVOICES].get_invoice(regie.code, request.matchdict["number"])
    if invoice is None:
        raise HTTPNotFound()
    household = request.app_root["households"][invoice.household_id]
    journal(request, "invoice-viewed", f"household:{invoice.household_id}", invoice.key)
    return pdf_response(invoice_pdf(request, invoice, household, regie), f"facture-{invoice.number}.pdf")


# --- issuing an invoice -------------------------------------------------------------------------------

def _amount_validator(node, value):
    if value:
        try:
            parse_amount(value)
        except ValueError:
            raise colander.Invalid(node, _("Enter an amount in euros, for example 12,50.")) from None


def record_from(appstruct: dict) -> InvoiceData:
    lines = []
    for i in range(1, LINES_IN_FORM + 1):
        label, amount = appstruct[f"line{i}_label"].strip(), appstruct[f"line{i}_amount"].strip()
        if label or amount:
            lines.append(InvoiceLineData(label, parse_amount(amount) if amount else 0,
                                         appstruct[f"line{i}_member"].strip()))
    return InvoiceData(number=appstruct["number"].strip(), issue_date=appstruct["issue_date"],
                       due_date=appstruct["due_date"], account=appstruct["account"].strip(),
                       label=appstruct["label"].strip(), lines=lines)


@colander.deferred
def deferred_invoice_validator(node, kw):
    request = kw["request"]

    def validate(form, value):
        record = record_from(value)
        for i, line in enumerate(record.lines, start=1):
            if not line.label or not line.amount:
                raise colander.Invalid(form, _("Each line needs a service and an amount."))
        _invoices, errors = check_records(request.app_root, request.matchdict["regie"], [record])
        if errors:
            raise colander.Invalid(form, "; ".join(request.translate(message) for _line, message in errors))
    return validate


def invoice_schema() -> colander.SchemaNode:
    from ..authentication.schemas import DateType  # colander.Date with a French message
    schema = colander.SchemaNode(colander.Mapping(), validator=deferred_invoice_validator)
    schema.add(colander.SchemaNode(colander.String(), name="number", title=_("Invoice number"),
                                   description=_("Unique in this régie: letters, digits, . _ -")))
    schema.add(colander.SchemaNode(colander.String(), name="account",
                                   title=_("Access code of the household's account")))
    schema.add(colander.SchemaNode(DateType(), name="issue_date", title=_("Issue date"),
                                   widget=deform.widget.DateInputWidget()))
    schema.add(colander.SchemaNode(DateType(), name="due_date", title=_("Payment deadline"),
                                   widget=deform.widget.DateInputWidget()))
    schema.add(colander.SchemaNode(colander.String(), name="label", title=_("Subject"), missing=""))
    for i in range(1, LINES_IN_FORM + 1):
        schema.add(colander.SchemaNode(colander.String(), name=f"line{i}_member", missing="",
                                       title=_("Line ${n}: household member (first names; empty for the household)",
                                               mapping={"n": i})))
        schema.add(colander.SchemaNode(colander.String(), name=f"line{i}_label", missing="",
                                       title=_("Line ${n}: service", mapping={"n": i})))
        schema.add(colander.SchemaNode(colander.String(), name=f"line{i}_amount", missing="",
                                       title=_("Line ${n}: amount in euros", mapping={"n": i}),
                                       validator=_amount_validator))
    return schema


@view_config(route_name="bo_regie_invoice_new", renderer="templates/bo_invoice_new.pt", permission=MANAGE_REGIE)
class InvoiceNewView(FormView):
    """Issue an invoice for a household, with the same checks as an import."""

    schema_factory = staticmethod(invoice_schema)
    buttons = (deform.Button("save", _("Issue the invoice")),)
    formid = "invoice-new"

    def __call__(self):
        self.regie = managed_regie(self.request)
        return super().__call__()

    def page_values(self) -> dict:
        return {"page_title": self.request.translate(_("New invoice")), "regie": self.regie,
                "back_url": self.request.route_url("bo_regie", regie=self.regie.code)}

    def save_success(self, appstruct):
        record = record_from(appstruct)
        try:
            (invoice,) = import_records(self.request.app_root, self.regie.code, [record], "backoffice")
        except InvoiceImportError as exc:  # a concurrent change since validation
            self.request.session.flash("; ".join(self.request.translate(m) for _l, m in exc.errors))
            return HTTPSeeOther(self.request.path_url)
        journal(self.request, "invoice-created", f"household:{invoice.household_id}", invoice.key)
        self.request.session.flash(self.request.translate(_("Invoice ${number} issued.",
                                                            mapping={"number": invoice.number})))
        return HTTPSeeOther(self.request.route_url("bo_regie", regie=self.regie.code))


@view_config(route_name="bo_regie_import", renderer="templates/bo_import.pt", permission=MANAGE_REGIE)
def bo_regie_import(request):
    """Import a CSV file of invoices (all or nothing; every bad row listed with its line number)."""
    from .csvimport import import_csv
    regie = managed_regie(request)
    result = {"page_title": request.translate(_("Import invoices")), "regie": regie, "errors": [],
              "csrf_token": request.session.get_csrf_token(), "file_error": False,
              "back_url": request.route_url("bo_regie", regie=regie.code)}
    if request.method != "POST":
        return result
    upload = request.POST.get("fichier")
    if upload is None or not hasattr(upload, "file"):
        result["file_error"] = True
        return result
    data = upload.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        result["errors"] = [(None, request.translate(_("The file is too large (10 MB at most).")))]
        return result
    try:
        invoices = import_csv(request.app_root, regie.code, data, upload.filename or "")
    except InvoiceImportError as exc:
        result["errors"] = [(line, request.translate(message)) for line, message in exc.errors]
        return result
    journal(request, "invoices-imported", f"regie:{regie.code}", f"{len(invoices)} from {upload.filename}")
    request.session.flash(request.translate(_("${count} invoice(s) imported.", mapping={"count": len(invoices)})))
    return HTTPSeeOther(request.route_url("bo_regie", regie=regie.code))
