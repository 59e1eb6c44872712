"""The PDF detail of a request (reportlab): what was asked, the documents, the history of steps and messages.

The document carries its title, author, subject and language (``fr-FR``) in its metadata, so a screen reader
announces it properly; the text is real text (no images of text), in reading order.
"""
from __future__ import annotations

import io
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ..i18n import _
from .models import DOC_FILE, DOC_PAPER
from .registry import STEP_COUNT
from .workflow import local_date, status_of

PDF_LANG = "fr-FR"


def _styles():
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("title", parent=base["Title"], alignment=TA_LEFT, fontSize=18, leading=22),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontSize=13, leading=16, spaceBefore=10),
        "body": ParagraphStyle("body", parent=base["BodyText"], fontSize=10, leading=13),
        "small": ParagraphStyle("small", parent=base["BodyText"], fontSize=8.5, leading=11,
                                textColor=colors.HexColor("#444444")),
    }


def _p(text, style) -> Paragraph:
    return Paragraph(escape(str(text or "")).replace("\n", "<br/>"), style)


def _table(rows, styles, widths=(60 * mm, 110 * mm)) -> Table:
    data = [[_p(label, styles["body"]), _p(value, styles["body"])] for label, value in rows]
    table = Table(data, colWidths=widths, hAlign="LEFT")
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#999999")),
        ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#eef2fb")),
    ]))
    return table


def submission_pdf(request, submission, messages=()) -> bytes:
    """Render the detail of ``submission`` as a PDF document (bytes)."""
    t = request.translate
    styles = _styles()
    settings = request.registry.settings
    city = settings.get("compte_citoyen.city_name", "")
    title = t(_("Request ${number}: ${procedure}", mapping={"number": submission.number,
                                                           "procedure": submission.procedure_title}))
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=title, author=f"{city} \u2014 Mon Compte Citoyen",
                            subject=t(_("Detail of a request filed on the citizen portal")),
                            creator="Mon Compte Citoyen", lang=PDF_LANG)
    status = status_of(request, submission)
    story = [
        _p(city, styles["small"]),
        _p(title, styles["title"]),
        _table([
            (t(_("Number")), submission.number),
            (t(_("Procedure")), submission.procedure_title),
            (t(_("Date")), f"{local_date(submission.created):%d/%m/%Y}"),
            (t(_("Household member")), submission.member_name or "\u2014"),
            (t(_("Progress")), t(_("step ${step} of ${count}: ${title}",
                                   mapping={"step": submission.step, "count": STEP_COUNT,
                                            "title": submission.step_title}))),
            (t(_("Status")), t(status.title)),
        ], styles),
    ]
    if submission.decision:
        decision = t(_("Request accepted")) if submission.decision == "accepted" else t(_("Request refused"))
        story.append(Spacer(1, 4 * mm))
        story.append(_table([(t(_("Decision")), f"{decision}. {submission.decision_motive}".strip())], styles))
    for section, lines in submission.summary:
        story.append(_p(section, styles["h2"]))
        if lines:
            story.append(_table(lines, styles))
    if submission.documents:
        story.append(_p(t(_("Supporting documents")), styles["h2"]))
        rows = []
        for state in submission.documents.values():
            if state.mode == DOC_FILE:
                value = t(_("File given: ${name}", mapping={"name": state.attachment.filename}))
            elif state.mode == DOC_PAPER:
                value = (t(_("Received at the counter on ${date}",
                             mapping={"date": f"{local_date(state.received_at):%d/%m/%Y}"}))
                         if state.received_at else t(_("Expected at the counter")))
            else:
                value = t(_("Not given (optional)")) if not state.required else t(_("Not given"))
            rows.append((state.title, value))
        story.append(_table(rows, styles))
    story.append(_p(t(_("History")), styles["h2"]))
    story.append(_table([(f"{local_date(e.when):%d/%m/%Y}", e.text) for e in submission.history], styles,
                        widths=(30 * mm, 140 * mm)))
    if messages:
        story.append(_p(t(_("Messages")), styles["h2"]))
        story.append(_table([(f"{local_date(m.shown_date):%d/%m/%Y}", m.subject) for m in messages], styles,
                            widths=(30 * mm, 140 * mm)))
    story.append(Spacer(1, 6 * mm))
    story.append(_p(t(_("Messages from the portal never need a reply.")), styles["small"]))
    doc.build(story)
    return buffer.getvalue()
