"""Building blocks for procedure forms (used by the theme plugins) and the form machinery's own nodes.

Schemas are flat colander mappings, one per page of the guided form. They are bound with ``request``,
``portal``, ``household``, ``account``, ``member``, ``procedure`` and ``today``; the ``prefill`` helpers turn
account and household data into deferred defaults, so a citizen never types twice what the portal knows.
"""
from __future__ import annotations

import datetime
from typing import Callable, Iterable

import colander
import deform

from ..forms import DateField, DateWidget  # the core's date field: native picker, JJ/MM/AAAA accepted too
from ..household.workdays import local_today
from ..i18n import _
from .registry import ADULTS, ANY_MEMBER, CHILDREN, NO_MEMBER

MEMBER_FIELD = "member"

PHONE_RE = r"^(?:(?:\+|00)33[\s.-]?[1-9]|0[1-9])(?:[\s.-]?\d{2}){4}$"
POSTCODE_RE = r"^\d{5}$"

postcode_validator = colander.Regex(POSTCODE_RE, msg=_("A postcode has 5 digits, for example 75001."))
phone_validator = colander.Regex(PHONE_RE, msg=_("Enter a French phone number of 10 digits, for example "
                                                 "06 12 34 56 78."))
email_validator = colander.Email(msg=_("Enter a valid e-mail address, for example nom@exemple.fr."))

REQUIRED = _("This field is required.")


# --- pre-filling ------------------------------------------------------------------------------------------

def prefill(getter: Callable[[dict], object]) -> colander.deferred:
    """A deferred default computed from the bindings (``kw``); empty when the value is unknown."""
    @colander.deferred
    def default(node, kw):
        try:
            value = getter(kw)
        except (AttributeError, KeyError, TypeError):
            value = None
        return colander.null if value in (None, "") else value
    return default


def _holder(kw):
    household = kw.get("household")
    return household.holder if household is not None else None


household_address = prefill(lambda kw: kw["household"].address)
household_postcode = prefill(lambda kw: kw["household"].postcode)
household_city = prefill(lambda kw: kw["household"].city)
holder_phone = prefill(lambda kw: _holder(kw).mobile or _holder(kw).phone)
holder_email = prefill(lambda kw: _holder(kw).email)
holder_family_name = prefill(lambda kw: _holder(kw).family_name)
holder_first_names = prefill(lambda kw: _holder(kw).first_names)


def member_value(attribute: str) -> colander.deferred:
    """Default from the household member chosen on the first page (e.g. a child's school)."""
    return prefill(lambda kw: getattr(kw["member"], attribute))


@colander.deferred
def city_name_default(node, kw):
    request = kw.get("request")
    name = request.registry.settings.get("compte_citoyen.city_name", "") if request is not None else ""
    return name.removeprefix("Ville de ").strip() or colander.null


# --- nodes ---------------------------------------------------------------------------------------------------

def text(name: str, title, *, required: bool = True, max_length: int = 200, default=colander.null,
         description=None, validator=None, autocomplete: str | None = None, input_type: str = "text",
         **kw) -> colander.SchemaNode:
    validators = [colander.Length(max=max_length, max_err=_("At most ${max} characters."))]
    if validator is not None:
        validators.append(validator)
    widget = deform.widget.TextInputWidget(autocomplete=autocomplete, input_type=input_type)
    return colander.SchemaNode(
        colander.String(), name=name, title=title, description=description, default=default,
        validator=colander.All(*validators), widget=widget, missing_msg=REQUIRED,
        **({} if required else {"missing": ""}), **kw)


def textarea(name: str, title, *, required: bool = True, max_length: int = 2000, description=None,
             default=colander.null, rows: int = 4) -> colander.SchemaNode:
    return colander.SchemaNode(
        colander.String(), name=name, title=title, description=description, default=default,
        validator=colander.Length(max=max_length, max_err=_("At most ${max} characters.")),
        widget=deform.widget.TextAreaWidget(rows=rows, maxlength=max_length), missing_msg=REQUIRED,
        **({} if required else {"missing": ""}))


def date(name: str, title, *, required: bool = True, description=None, default=colander.null,
         past: bool | None = None) -> colander.SchemaNode:
    """A date; ``past=True`` refuses future dates, ``past=False`` refuses past ones."""
    def validate(node, value):
        today = local_today()
        if past is True and value > today:
            raise colander.Invalid(node, _("This date cannot be in the future."))
        if past is False and value < today:
            raise colander.Invalid(node, _("This date cannot be in the past."))
        if value.year < 1850:
            raise colander.Invalid(node, _("Check the year of this date."))
    return colander.SchemaNode(
        DateField(), name=name, title=title,
        description=description, default=default, widget=DateWidget(),
        validator=validate, missing_msg=REQUIRED, **({} if required else {"missing": None}))


def choice(name: str, title, values: list[tuple[str, object]], *, required: bool = True, radio: bool = True,
           description=None, default=colander.null) -> colander.SchemaNode:
    codes = [code for code, _label in values]
    widget = (deform.widget.RadioChoiceWidget(values=values) if radio
              else deform.widget.SelectWidget(values=[("", _("- choose -"))] + list(values)))
    return colander.SchemaNode(
        colander.String(), name=name, title=title, description=description, default=default, widget=widget,
        validator=colander.OneOf(codes, msg_err=_("Choose one of the proposed answers.")),
        missing_msg=_("Choose an answer."), **({} if required else {"missing": ""}))


def choices(name: str, title, values: list[tuple[str, object]], *, required: bool = False,
            description=None, default=colander.null) -> colander.SchemaNode:
    """Several answers among ``values`` (check boxes)."""
    codes = [code for code, _label in values]

    def validate(node, value):
        unknown = set(value) - set(codes)
        if unknown:
            raise colander.Invalid(node, _("Choose among the proposed answers."))
        if required and not value:
            raise colander.Invalid(node, _("Choose at least one answer."))
    return colander.SchemaNode(
        colander.Set(), name=name, title=title, description=description, default=default,
        widget=deform.widget.CheckboxChoiceWidget(values=values), validator=validate,
        missing_msg=_("Choose at least one answer."), **({} if required else {"missing": set()}))


def integer(name: str, title, *, minimum: int = 0, maximum: int = 100, default=colander.null,
            description=None, required: bool = True) -> colander.SchemaNode:
    return colander.SchemaNode(
        colander.Integer(), name=name, title=title, description=description, default=default,
        validator=colander.Range(min=minimum, max=maximum,
                                 min_err=_("Enter a number from ${min} to ${max}."),
                                 max_err=_("Enter a number from ${min} to ${max}.")),
        widget=deform.widget.TextInputWidget(input_type="number", inputmode="numeric",
                                             attributes={"min": str(minimum), "max": str(maximum)}),
        missing_msg=REQUIRED, **({} if required else {"missing": None}))


def boolean(name: str, title, *, label=None, description=None, default=False) -> colander.SchemaNode:
    return colander.SchemaNode(
        colander.Boolean(), name=name, title=title, description=description, default=default,
        widget=deform.widget.CheckboxWidget(label=label), missing=False)


def address_nodes(prefix: str = "", *, prefilled: bool = True, country: bool = False) -> list[colander.SchemaNode]:
    """Street, postcode and city (pre-filled from the household), optionally a country."""
    nodes = [
        text(f"{prefix}address", _("Address (number and street)"), autocomplete="street-address",
             default=household_address if prefilled else colander.null),
        text(f"{prefix}address_extra", _("Address complement (building, floor...)"), required=False,
             autocomplete="address-line2"),
        text(f"{prefix}postcode", _("Postcode"), max_length=10, autocomplete="postal-code",
             default=household_postcode if prefilled else colander.null,
             validator=None if country else postcode_validator),
        text(f"{prefix}city", _("City"), autocomplete="address-level2",
             default=household_city if prefilled else colander.null),
    ]
    if country:
        nodes.append(text(f"{prefix}country", _("Country"), autocomplete="country-name", default="France"))
    return nodes


def mapping(name: str, nodes: Iterable[colander.SchemaNode], validator=None) -> colander.SchemaNode:
    """A page schema from a list of nodes (plugins build their pages with it)."""
    schema = colander.SchemaNode(colander.Mapping(), name=name, validator=validator)
    for node in nodes:
        schema.add(node)
    return schema


# --- the member concerned --------------------------------------------------------------------------------------

def eligible_members(household, kinds: str) -> list:
    """The household members a procedure may concern (adults first, then children)."""
    if household is None or kinds == NO_MEMBER:
        return []
    members = household.current_members()
    if kinds == ADULTS:
        return [m for m in members if m.is_adult]
    if kinds == CHILDREN:
        return [m for m in members if not m.is_adult]
    return members


def member_label(member) -> str:
    if member.birth_date:
        return f"{member.full_name} ({member.birth_date:%d/%m/%Y})"
    return member.full_name


def member_node(procedure, household) -> colander.SchemaNode:
    """The radio list of the household members concerned by ``procedure`` (children for a child's one)."""
    members = eligible_members(household, procedure.member_kinds)
    values = [(m.id, member_label(m)) for m in members]
    title = procedure.member_title or (_("Child concerned") if procedure.member_kinds == CHILDREN
                                       else _("Household member concerned"))
    return colander.SchemaNode(
        colander.String(), name=MEMBER_FIELD, title=title,
        default=values[0][0] if len(values) == 1 else colander.null,
        widget=deform.widget.RadioChoiceWidget(values=values),
        validator=colander.OneOf([v[0] for v in values], msg_err=_("Choose a member of your household.")),
        missing_msg=_("Choose the person concerned by the request."))


def member_kinds_label(kinds: str):
    return {ADULTS: _("an adult of the household"), CHILDREN: _("a child of the household"),
            ANY_MEMBER: _("a member of the household")}.get(kinds, "")


# --- describing answers (summary page, PDF, back office) ------------------------------------------------------

def describe(schema: colander.SchemaNode, appstruct: dict, translate: Callable) -> list[tuple[str, str]]:
    """``(label, value)`` lines in French for the answers of one page, in the schema's order."""
    lines = []
    for node in schema.children:
        if node.name in ("csrf_token",) or node.name not in appstruct:
            continue
        value = appstruct[node.name]
        lines.append((translate(node.title), format_value(node, value, translate)))
    return lines


def format_value(node: colander.SchemaNode, value, translate: Callable) -> str:
    if value in (None, "", colander.null) or (isinstance(value, (set, frozenset, list, tuple)) and not value):
        return translate(_("(not given)"))
    values = dict(getattr(node.widget, "values", None) or [])
    if isinstance(value, (set, frozenset, list, tuple)):
        return ", ".join(translate(values.get(v, v)) for v in sorted(value, key=lambda v: list(values).index(v)
                                                                       if v in values else 999))
    if isinstance(value, bool):
        return translate(_("Yes")) if value else translate(_("No"))
    if isinstance(value, datetime.datetime):
        return f"{value:%d/%m/%Y %H:%M}"
    if isinstance(value, datetime.date):
        return f"{value:%d/%m/%Y}"
    if values and value in values:
        return translate(values[value])
    return str(value)
