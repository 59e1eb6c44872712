"""Invoice and receipt PDFs (reportlab), with a document title and language so readers announce them."""
from __future__ import annotations

import io

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from xml.sax.saxutils import escape

from ..i18n import _
from .models import format_amount


def _fmt_date(value) -> str:
    from .views import format_date
    return format_date(value)


def _document(buffer, title: str, city: str) -> SimpleDocTemplate:
    return SimpleDocTemplate(buffer, pagesize=A4, title=title, author=city, subject=title, creator=city,
                             lang="fr-FR", leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm,
                             bottomMargin=18 * mm)


def _table(rows: list[list[str]], widths) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7")),
        ("LINEBELOW", (0, 0), (-1, -1), 0.5, colors.HexColor("#999999")),
        ("ALIGN", (-1, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]))
    return table


def _head(request, story, styles, title: str, household, regie) -> None:
    city = request.registry.settings.get("compte_citoyen.city_name", "")
    t = request.translate
    story.append(Paragraph(escape(city), styles["Heading3"]))
    if regie is not None:
        story.append(Paragraph(escape(t(regie.label)), styles["Normal"]))
    story.append(Paragraph(escape(title), styles["Title"]))
    holder = household.holder
    name = holder.full_name if holder is not None else household.family_name
    story.append(Paragraph(escape(name), styles["Normal"]))
    address = ", ".join(x for x in (household.address, f"{household.postcode} {household.city}".strip()) if x)
    if address:
        story.append(Paragraph(escape(address), styles["Normal"]))
    story.append(Spacer(1, 6 * mm))


def invoice_pdf(request, invoice, household, regie) -> bytes:
    """The invoice as the citizen keeps it: issue and due dates, one line per member, total."""
    t = request.translate
    city = request.registry.settings.get("compte_citoyen.city_name", "")
    title = t(_("Invoice ${number}", mapping={"number": invoice.number}))
    buffer = io.BytesIO()
    doc = _document(buffer, title, city)
    styles = getSampleStyleSheet()
    story: list = []
    _head(request, story, styles, title, household, regie)
    if invoice.label:
        story.append(Paragraph(escape(invoice.label), styles["Normal"]))
    story.append(Paragraph(escape(t(_("Issued on ${date}", mapping={"date": _fmt_date(invoice.issue_date)}))),
                           styles["Normal"]))
    story.append(Paragraph(escape(t(_("To pay before ${date}", mapping={"date": _fmt_date(invoice.due_date)}))),
                           styles["Normal"]))
    story.append(Spacer(1, 4 * mm))
    rows = [[t(_("Household member")), t(_("Service")), t(_("Amount"))]]
    for line in invoice.lines:
        rows.append([line.member_name or t(_("Household")), Paragraph(escape(line.label), styles["Normal"]),
                     format_amount(line.amount)])
    rows.append(["", t(_("Total")), format_amount(invoice.total)])
    story.append(_table(rows, [50 * mm, 90 * mm, 34 * mm]))
    story.append(Spacer(1, 6 * mm))
    state = t(_("Paid on ${date}", mapping={"date": _fmt_date(invoice.paid_at)})) if invoice.is_paid \
        else t(_("Not paid yet: you can pay it by card in the \"My accounts\" tab."))
    story.append(Paragraph(escape(state), styles["Normal"]))
    doc.build(story)
    return buffer.getvalue()


def receipt_pdf(request, payment, invoices, household, regie) -> bytes:
    """The receipt of a card payment: what was paid, when, its number and the bank's authorisation."""
    t = request.translate
    city = request.registry.settings.get("compte_citoyen.city_name", "")
    title = t(_("Payment receipt ${receipt}", mapping={"receipt": payment.receipt_number}))
    buffer = io.BytesIO()
    doc = _document(buffer, title, city)
    styles = getSampleStyleSheet()
    story: list = []
    _head(request, story, styles, title, household, regie)
    story.append(Paragraph(escape(t(_("Paid by card on ${date}", mapping={"date": _fmt_date(payment.paid_at)}))),
                           styles["Normal"]))
    authorisation = payment.bank_data.get("vads_auth_number") or payment.bank_data.get("__bank_id") or ""
    if authorisation:
        story.append(Paragraph(escape(t(_("Bank authorisation: ${number}", mapping={"number": authorisation}))),
                               styles["Normal"]))
    story.append(Spacer(1, 4 * mm))
    rows = [[t(_("Invoice")), t(_("Issued on")), t(_("Amount"))]]
    for invoice in invoices:
        rows.append([invoice.number, _fmt_date(invoice.issue_date), format_amount(invoice.total)])
    rows.append(["", t(_("Total paid")), format_amount(payment.amount)])
    story.append(_table(rows, [70 * mm, 60 * mm, 44 * mm]))
    doc.build(story)
    return buffer.getvalue()
