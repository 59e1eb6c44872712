"""Invoices from a régie's CSV file (``compte-citoyen INI import-invoices --regie CODE FILE`` or the back office).

One row per invoice line; rows sharing a number make one invoice and must agree on its account and dates.
Columns (header row required, separator ``;`` or ``,``, UTF-8): ``numero``, ``compte`` (code d'accès),
``date_emission``, ``date_echeance`` (JJ/MM/AAAA or AAAA-MM-JJ), ``membre`` (first names or member id; empty
for the whole household), ``libelle``, ``montant`` (euros: ``12,50``), and optionally ``objet`` (the
invoice's subject). Every bad row is reported with its line number and nothing is imported.
"""
from __future__ import annotations

import csv
import datetime
import io

from ..i18n import _
from .models import parse_amount
from .sources import InvoiceData, InvoiceImportError, InvoiceLineData, check_records, import_records

REQUIRED = ("numero", "compte", "date_emission", "date_echeance", "libelle", "montant")
OPTIONAL = ("membre", "objet")


def parse_date(text: str) -> datetime.date:
    text = (text or "").strip()
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(text)


def read_csv(data: bytes) -> tuple[list[InvoiceData], list]:
    """Parse a CSV file into invoice records; return (records, errors of the rows that could not be read)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvoiceImportError([(None, _("the file is not UTF-8 text (save it as \"CSV UTF-8\")"))]) from None
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") >= first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise InvoiceImportError([(1, _("missing column(s): ${columns}", mapping={"columns": ", ".join(missing)}))])
    reader.fieldnames = header
    errors: list = []
    records: dict[str, InvoiceData] = {}
    for row in reader:
        line = reader.line_num
        if not any((value or "").strip() for key, value in row.items() if key):
            continue  # a blank line
        if None in row:
            errors.append((line, _("too many fields on this line")))
            continue
        values = {key: (row.get(key) or "").strip() for key in REQUIRED + OPTIONAL}
        row_errors = []
        for name in REQUIRED:
            if not values[name]:
                row_errors.append(_("the column \"${column}\" is empty", mapping={"column": name}))
        issue = due = None
        amount = None
        if values["date_emission"]:
            try:
                issue = parse_date(values["date_emission"])
            except ValueError:
                row_errors.append(_("invalid date \"${value}\" (JJ/MM/AAAA)",
                                    mapping={"value": values["date_emission"]}))
        if values["date_echeance"]:
            try:
                due = parse_date(values["date_echeance"])
            except ValueError:
                row_errors.append(_("invalid date \"${value}\" (JJ/MM/AAAA)",
                                    mapping={"value": values["date_echeance"]}))
        if values["montant"]:
            try:
                amount = parse_amount(values["montant"])
            except ValueError:
                row_errors.append(_("invalid amount \"${value}\" (for example 12,50)",
                                    mapping={"value": values["montant"]}))
        if row_errors:
            errors.extend((line, message) for message in row_errors)
            continue
        number = values["numero"]
        record = records.get(number)
        if record is None:
            records[number] = InvoiceData(number=number, issue_date=issue, due_date=due, account=values["compte"],
                                          label=values["objet"], line=line,
                                          lines=[InvoiceLineData(values["libelle"], amount, values["membre"])])
            continue
        if (record.account.casefold(), record.issue_date, record.due_date) != (values["compte"].casefold(), issue, due):
            errors.append((line, _("invoice ${number}: account or dates differ from line ${first}",
                                   mapping={"number": number, "first": record.line})))
            continue
        record.lines.append(InvoiceLineData(values["libelle"], amount, values["membre"]))
    if not records and not errors:
        errors.append((None, _("the file holds no invoice")))
    return list(records.values()), errors


def import_csv(portal, regie: str, data: bytes, filename: str = "") -> list:
    """Read and import a régie's CSV file, all or nothing: every bad row (unreadable, or refused by the
    checks every import shares) is reported with its line number."""
    records, errors = read_csv(data)
    if errors:
        _invoices, check_errors = check_records(portal, regie, records)
        raise InvoiceImportError(sorted(errors + check_errors, key=lambda e: (e[0] or 0)))
    return import_records(portal, regie, records, f"csv:{filename}" if filename else "csv")
