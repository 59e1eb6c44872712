"""Forms: deform rendered with our accessible templates and translated per request; a FormView base.

``FormView`` binds the schema to the request, adds the CSRF token node, and dispatches on the pressed button:
a button named ``save`` calls ``save_success(appstruct)`` when the data validate, or re-renders the form with
the errors tied to their fields and what was typed kept.

Dates (the one date field of the core): ``DateField`` (colander type) with ``DateWidget`` (the native date
input of ``templates/deform/dateinput.pt``) read ``AAAA-MM-JJ`` (what a date picker sends) and ``JJ/MM/AAAA``
(what people type where there is no picker), with French messages; ``parse_date`` is the same reading for
plain forms and query strings; ``birth_date_validator(adult=...)`` checks a birth date.
"""
from __future__ import annotations

import datetime
import re

import colander
import deform
from pkg_resources import resource_filename
from pyramid.i18n import get_localizer
from pyramid.threadlocal import get_current_request

from .household.workdays import local_today
from .i18n import _


def translator(term):
    request = get_current_request()
    if request is None:
        return term
    return get_localizer(request).translate(term)


def configure_deform() -> None:
    search_path = (
        resource_filename("compte_citoyen", "templates/deform"),
        resource_filename("deform", "templates"),
    )
    deform.Form.set_zpt_renderer(search_path, translator=translator)


@colander.deferred
def deferred_csrf_default(node, kw):
    return kw["request"].session.get_csrf_token()


def csrf_node() -> colander.SchemaNode:
    return colander.SchemaNode(colander.String(), name="csrf_token", default=deferred_csrf_default,
                               widget=deform.widget.HiddenWidget(), missing=colander.drop)


_DEFERRED_NAMES: dict = {}


def _class_deferred(cls) -> frozenset:
    """The attribute names of ``cls`` (and its bases) whose class value is a ``colander.deferred``."""
    names = _DEFERRED_NAMES.get(cls)
    if names is None:
        names = _DEFERRED_NAMES[cls] = frozenset(
            name for name in dir(cls) if isinstance(getattr(cls, name, None), colander.deferred))
    return names


def bind_fresh(node: colander.SchemaNode, **kw) -> colander.SchemaNode:
    """Bind ``node``, a schema built for this request alone, in place; return it.

    Same result as ``node.bind(**kw)``, which first clones the whole schema (to keep a shared schema unbound)
    and then, on every node, reads every attribute name ``dir()`` lists (about a hundred) to find the deferred
    values. A schema built for one request needs no clone, and a deferred value can only be in the node's own
    attributes or in those its class defines as deferred: the forms of a procedure are bound on every page and
    several times when a request is sent, where this took a tenth of the time of sending it.
    """
    _bind_in_place(node, kw)
    return node


def _bind_in_place(node: colander.SchemaNode, kw: dict) -> None:
    node.bindings = kw
    for child in list(node.children):
        _bind_in_place(child, kw)
    names = _class_deferred(type(node)).union(
        name for name, value in vars(node).items() if isinstance(value, colander.deferred))
    for name in sorted(names):  # the order of colander's (``dir`` is sorted)
        value = getattr(node, name)
        if not isinstance(value, colander.deferred):
            continue
        value = value(node, kw)
        if isinstance(value, colander.SchemaNode):
            if not value.name:
                value.name = name
            if value.raw_title is colander._marker:
                value.title = name.replace("_", " ").title()
            colander._add_node_child(node, value)
        else:
            setattr(node, name, value)
    if getattr(node, "after_bind", None):
        node.after_bind(node, kw)


class FormView:
    """Render a deform form and dispatch on the pressed button (Substance D's pattern)."""

    schema_factory = None
    buttons: tuple = ()
    form_options: dict = {}
    formid = "form"

    def __init__(self, context, request):
        self.context = context
        self.request = request

    def make_schema(self) -> colander.SchemaNode:
        schema = self.schema_factory()
        schema.add(csrf_node())
        return schema.bind(request=self.request, context=self.context)

    def make_form(self, schema) -> deform.Form:
        buttons = [b if isinstance(b, deform.Button) else deform.Button(b) for b in self.buttons]
        return deform.Form(schema, buttons=buttons, formid=self.formid, **self.form_options)

    def appstruct(self) -> dict | None:
        """Initial values for the form (e.g. pre-filled from the account)."""
        return None

    def before(self, form) -> None:
        pass

    def page_values(self) -> dict:
        """What the page template needs besides the form (its title, the member shown...), whether the form is
        shown first or again with its errors."""
        return {}

    def show(self, form, appstruct=None) -> dict:
        rendered = form.render(appstruct if appstruct is not None else (self.appstruct() or {}))
        return {"form": rendered}

    def failure(self, exc: deform.ValidationFailure) -> dict:
        return {"form": exc.render(), "form_error": True}

    def __call__(self):
        result = self.dispatch()
        if isinstance(result, dict):
            for key, value in self.page_values().items():
                result.setdefault(key, value)
        return result

    def dispatch(self):
        schema = self.make_schema()
        form = self.make_form(schema)
        self.before(form)
        if self.request.method == "POST":
            for button in form.buttons:
                if button.name in self.request.POST:
                    handler = getattr(self, f"{button.name}_success")
                    if getattr(button, "validate", True) is False:
                        return handler(None)
                    try:
                        controls = self.request.POST.items()
                        appstruct = form.validate(controls)
                    except deform.ValidationFailure as exc:
                        return self.failure(exc)
                    return handler(appstruct)
        return self.show(form)


def includeme(config):
    configure_deform()


# --- dates --------------------------------------------------------------------------------------------

FRENCH_DATE_RE = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})")
ISO_DATE_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
EARLIEST_BIRTH_DATE = datetime.date(1900, 1, 1)
ADULT_AGE = 18


class ImpossibleDate(ValueError):
    """A date written the right way that is not in the calendar (31/02/2015)."""


def parse_date(text: str | None) -> datetime.date:
    """``JJ/MM/AAAA`` (also with ``.`` or ``-``) or ``AAAA-MM-JJ``, spaces around ignored.

    Raises ``ImpossibleDate`` for a well-written date that does not exist, ``ValueError`` for anything else.
    """
    value = (text or "").strip()
    match = FRENCH_DATE_RE.fullmatch(value)
    if match:
        day, month, year = (int(x) for x in match.groups())
    else:
        match = ISO_DATE_RE.fullmatch(value)
        if not match:
            raise ValueError(f"not a date: {value!r}")
        year, month, day = (int(x) for x in match.groups())
    try:
        return datetime.date(year, month, day)
    except ValueError as exc:
        raise ImpossibleDate(str(exc)) from None


class DateField(colander.Date):
    """A date read by ``parse_date``, with French messages; ``invalid_msg`` replaces the "unreadable" one."""

    err_template = _("Enter a valid date (day, month, year).")
    impossible_msg = _("This date does not exist. Check the day and the month.")

    def __init__(self, invalid_msg=None):
        super().__init__()
        if invalid_msg is not None:
            self.err_template = invalid_msg

    def deserialize(self, node, cstruct):
        if cstruct is colander.null or cstruct is None or cstruct == "":
            return colander.null
        if isinstance(cstruct, datetime.datetime):
            return cstruct.date()
        if isinstance(cstruct, datetime.date):
            return cstruct
        try:
            return parse_date(str(cstruct))
        except ImpossibleDate:
            raise colander.Invalid(node, self.impossible_msg) from None
        except ValueError:
            raise colander.Invalid(node, self.err_template) from None


class DateWidget(deform.widget.DateInputWidget):
    """The native date field of templates/deform/dateinput.pt. Reads the posted value as deform's mapping
    ``{"date": ...}`` or as a plain string, whichever the template sends; ``DateField`` reads the text."""

    def deserialize(self, field, pstruct):
        if isinstance(pstruct, dict):
            pstruct = pstruct.get("date_submit") or pstruct.get("date") or ""
        if pstruct in ("", colander.null, None) or not isinstance(pstruct, str):
            return colander.null
        return pstruct.strip() or colander.null


def birthday_reached(born: datetime.date, years: int, today: datetime.date) -> bool:
    """Whether someone born on ``born`` is ``years`` old on ``today`` (born 29 February: on 1 March)."""
    try:
        anniversary = born.replace(year=born.year + years)
    except ValueError:  # 29 February, not a leap year
        anniversary = datetime.date(born.year + years, 3, 1)
    return anniversary <= today


def birth_date_validator(adult: bool = False):
    """A colander validator for a birth date: not in the future, not before 1900; with ``adult``, the
    person must be 18 or more (the account holder)."""
    def validate(node, value):
        today = local_today()
        if value > today:
            raise colander.Invalid(node, _("The birth date cannot be in the future."))
        if value < EARLIEST_BIRTH_DATE:
            raise colander.Invalid(node, _("Check the birth date: it must be after 1 January 1900."))
        if adult and not birthday_reached(value, ADULT_AGE, today):
            raise colander.Invalid(node, _("The account holder must be an adult (18 years or more)."))
    return validate
