"""Invoices arriving from outside the back office: CSV files and invoice-source plugins, with one set of checks.

An invoice source (hook ``compte_citoyen_register_invoice_sources``) returns ``InvoiceSource`` objects whose
``fetch(registry, since)`` yields ``InvoiceData`` records; a CSV file is read into the same records. Every
record is checked before anything is stored, and every error carries its line (or record) number: either the
whole batch is imported or nothing is.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Callable, Iterable

from pyramid.exceptions import ConfigurationError

from ..i18n import _
from .models import INVOICES, NUMBER_RE, Invoice, InvoiceLine, utcnow


@dataclass
class InvoiceLineData:
    """A line: what was provided, its amount in cents, and for whom (member id or first names; may be empty)."""
    label: str
    amount: int
    member: str = ""


@dataclass
class InvoiceData:
    """An invoice as a source delivers it. ``account`` is the household's code d'accès (or give
    ``household_id``). ``line`` is where the record comes from, for error messages."""
    number: str
    issue_date: datetime.date
    due_date: datetime.date
    lines: list[InvoiceLineData] = field(default_factory=list)
    account: str = ""
    household_id: str = ""
    label: str = ""
    line: int | None = None


@dataclass
class InvoiceSource:
    """A system delivering invoices for one régie."""
    name: str
    regie: str
    fetch: Callable[..., Iterable[InvoiceData]]
    description: str = ""
    plugin: str = ""


class InvoiceImportError(Exception):
    """The batch is refused; ``errors`` is a list of (line number or None, translation string)."""

    def __init__(self, errors: list[tuple[int | None, object]]):
        super().__init__(f"{len(errors)} error(s)")
        self.errors = errors


def get_sources(registry) -> dict[str, InvoiceSource]:
    sources = getattr(registry, "compte_citoyen_invoice_sources", None)
    if sources is None:
        pm = registry.compte_citoyen_plugins
        sources = {}
        for impl in pm.hook.compte_citoyen_register_invoice_sources.get_hookimpls():  # ini order
            for source in impl.function(settings=registry.settings) or []:
                if source.name in sources:
                    raise ConfigurationError(f"invoice source {source.name!r} is declared twice")
                source.plugin = pm.get_name(impl.plugin)
                sources[source.name] = source
        registry.compte_citoyen_invoice_sources = sources
    return sources


def _find_household(portal, record: InvoiceData):
    if record.household_id:
        return portal["households"].get(record.household_id)
    account = portal["accounts"].get_by_code(record.account) if record.account else None
    if account is None:
        return None
    return portal["households"].get(account.household_id)


def _find_member(household, wanted: str):
    wanted_key = " ".join((wanted or "").split()).casefold()
    for member in household.current_members():
        if wanted_key in (member.id.casefold(), member.first_names.casefold(), member.full_name.casefold(),
                          f"{member.family_name} {member.first_names}".casefold()):
            return member
    return None


def check_records(portal, regie: str, records: Iterable[InvoiceData]) -> tuple[list[Invoice], list]:
    """Build the invoices of a batch without storing them; return (invoices, errors)."""
    invoices_folder = portal[INVOICES]
    errors: list[tuple[int | None, object]] = []
    built: dict[str, Invoice] = {}
    for index, record in enumerate(records, start=1):
        where = record.line if record.line is not None else index
        before = len(errors)
        if not NUMBER_RE.match(record.number or ""):
            errors.append((where, _("invalid invoice number \"${number}\" (letters, digits, . _ - ; 32 at most)",
                                    mapping={"number": record.number or ""})))
        elif invoices_folder.get_invoice(regie, record.number) is not None:
            errors.append((where, _("invoice ${number} already exists in this régie",
                                    mapping={"number": record.number})))
        elif record.number in built:
            errors.append((where, _("invoice number ${number} appears twice", mapping={"number": record.number})))
        household = _find_household(portal, record)
        if household is None:
            errors.append((where, _("no account with the access code \"${code}\"",
                                    mapping={"code": record.account or record.household_id})))
        if not isinstance(record.issue_date, datetime.date) or not isinstance(record.due_date, datetime.date):
            errors.append((where, _("issue and due dates are required")))
        elif record.due_date < record.issue_date:
            errors.append((where, _("the due date is before the issue date")))
        if not record.lines:
            errors.append((where, _("an invoice needs at least one line")))
        lines = []
        for line in record.lines:
            if not (line.label or "").strip():
                errors.append((where, _("a line has no label")))
            if not isinstance(line.amount, int) or isinstance(line.amount, bool):
                errors.append((where, _("amounts are whole numbers of cents")))
                continue
            member_id = member_name = ""
            if line.member and household is not None:
                member = _find_member(household, line.member)
                if member is None:
                    errors.append((where, _("no member \"${member}\" in this household",
                                            mapping={"member": line.member})))
                else:
                    member_id, member_name = member.id, member.full_name
            lines.append(InvoiceLine(line.label.strip(), line.amount, member_id, member_name))
        if len(errors) == before and sum(line.amount for line in lines) <= 0:
            errors.append((where, _("the invoice total must be positive")))
        if len(errors) == before:
            built[record.number] = Invoice(regie, record.number, household.id, record.issue_date,
                                           record.due_date, lines, label=(record.label or "").strip())
    return list(built.values()), errors


def import_records(portal, regie: str, records: Iterable[InvoiceData], source: str) -> list[Invoice]:
    """Check the whole batch, then store it; raise ``InvoiceImportError`` (storing nothing) on any error."""
    invoices, errors = check_records(portal, regie, list(records))
    if errors:
        raise InvoiceImportError(errors)
    folder = portal[INVOICES]
    for invoice in invoices:
        invoice.source = source
        folder.add_invoice(invoice)
    return invoices


def import_from_source(portal, registry, name: str) -> list[Invoice]:
    """Fetch what a source delivered since its last import and import it with the same checks."""
    source = get_sources(registry).get(name)
    if source is None:
        raise KeyError(name)
    folder = portal[INVOICES]
    since = folder.source_marks.get(name)
    started = utcnow()
    invoices = import_records(portal, source.regie, source.fetch(registry, since), f"source:{name}")
    folder.source_marks[name] = started
    return invoices
