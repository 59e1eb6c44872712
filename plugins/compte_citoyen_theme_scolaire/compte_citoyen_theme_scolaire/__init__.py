"""Scolaire et périscolaire: school enrolment, and canteen / after-school care registration for a child.

Entry point ``scolaire`` (group ``compte_citoyen``). Both procedures concern a child of the household: the form
offers the household's children and pre-fills the child's current school. Settings, under
``compte_citoyen_theme_scolaire.``: ``schools`` (one public school of the city per line).
"""
from __future__ import annotations

import datetime
import functools

import colander
from pyramid.settings import aslist

from compte_citoyen.household.workdays import local_today
from compte_citoyen.i18n import _
from compte_citoyen.plugins import hookimpl
from compte_citoyen.procedures import schemas as s
from compte_citoyen.procedures.registry import CHILDREN, Document, Procedure, Theme

PREFIX = "compte_citoyen_theme_scolaire."
SERVICE = "scolaire"
DEFAULT_SCHOOLS = "École Jules Ferry\nÉcole Louise Michel\nÉcole Jean Jaurès"

LEVELS = [
    ("PS", _("Nursery school, first year (PS)")),
    ("MS", _("Nursery school, second year (MS)")),
    ("GS", _("Nursery school, last year (GS)")),
    ("CP", "CP"), ("CE1", "CE1"), ("CE2", "CE2"), ("CM1", "CM1"), ("CM2", "CM2"),
]
DAYS = [("monday", _("Monday")), ("tuesday", _("Tuesday")), ("thursday", _("Thursday")), ("friday", _("Friday"))]


def schools(settings) -> list[str]:
    return list(_schools(settings.get(PREFIX + "schools", DEFAULT_SCHOOLS)))


@functools.lru_cache(maxsize=16)
def _schools(value: str) -> tuple[str, ...]:
    """The schools of the setting's text (parsed once: every form of the theme reads them, several times)."""
    return tuple(line.strip() for line in aslist(value, flatten=False) if line.strip())


def school_years(today: datetime.date | None = None) -> list[tuple[str, str]]:
    """The school year in progress (until the summer) and the next one."""
    today = today or local_today()
    first = today.year if today.month >= 9 else today.year - 1
    return [(f"{y}-{y + 1}", f"{y}-{y + 1}") for y in (first, first + 1)]


@colander.deferred
def _year_widget(node, kw):
    import deform
    return deform.widget.RadioChoiceWidget(values=school_years(kw.get("today")))


@colander.deferred
def _year_validator(node, kw):
    return colander.OneOf([code for code, _label in school_years(kw.get("today"))],
                          msg_err=_("Choose one of the school years offered."))


@colander.deferred
def _year_default(node, kw):
    """From September to March families mostly enrol for the year in progress, later for the next one."""
    today = kw.get("today") or local_today()
    years = school_years(today)
    return years[0][0] if today.month >= 9 or today.month <= 3 else years[1][0]


@colander.deferred
def _school_widget(node, kw):
    import deform
    names = schools(kw["request"].registry.settings)
    return deform.widget.SelectWidget(values=[("", _("- choose -"))] + [(n, n) for n in names])


@colander.deferred
def _school_validator(node, kw):
    return colander.OneOf(schools(kw["request"].registry.settings), msg_err=_("Choose a school of the list."))


@colander.deferred
def _school_default(node, kw):
    member = kw.get("member")
    names = schools(kw["request"].registry.settings)
    return member.school if member is not None and getattr(member, "school", "") in names else colander.null


def _year_node() -> colander.SchemaNode:
    return colander.SchemaNode(colander.String(), name="school_year", title=_("School year"), widget=_year_widget,
                               validator=_year_validator, default=_year_default,
                               missing_msg=_("Choose the school year."))


def _school_node(title) -> colander.SchemaNode:
    return colander.SchemaNode(colander.String(), name="school", title=title, widget=_school_widget,
                               validator=_school_validator, default=_school_default,
                               missing_msg=_("Choose a school."))


# --- school enrolment -----------------------------------------------------------------------------------------

def enrolment_child_page(request=None) -> colander.SchemaNode:
    return s.mapping("child", [
        _year_node(),
        s.choice("level", _("Class level at the start of the school year"), LEVELS, radio=False),
    ])


def _derogation(node, value):
    if value.get("derogation") and not (value.get("derogation_reason") or "").strip():
        exc = colander.Invalid(node)
        exc["derogation_reason"] = _("Give the reason of the request for an exemption.")
        raise exc


def enrolment_school_page(request=None) -> colander.SchemaNode:
    return s.mapping("school", [
        _school_node(_("School wished")),
        s.text("previous_school", _("Current school (if any)"), required=False, default=s.member_value("school")),
        s.boolean("derogation", _("Exemption from the school map"),
                  label=_("I ask for a school outside our sector (derogation)")),
        s.textarea("derogation_reason", _("Reason of the exemption request"), required=False, rows=3),
        s.textarea("health", _("Health information useful to the school (allergies, PAI...)"), required=False,
                   rows=3),
    ], validator=_derogation)


# --- canteen and after-school care -------------------------------------------------------------------------------

def care_child_page(request=None) -> colander.SchemaNode:
    return s.mapping("child", [_year_node()])


def _at_least_one_service(node, value):
    if not (value.get("canteen") or value.get("morning") or value.get("evening") or value.get("wednesday")):
        raise colander.Invalid(node, _("Choose at least one service: canteen, morning or evening care, or "
                                       "Wednesday leisure centre."))


def care_services_page(request=None) -> colander.SchemaNode:
    return s.mapping("services", [
        _school_node(_("School attended")),
        s.choices("canteen", _("School canteen: days"), DAYS),
        s.choices("morning", _("Morning care (7:30 - 8:30): days"), DAYS),
        s.choices("evening", _("Evening care (16:30 - 18:30): days"), DAYS),
        s.boolean("wednesday", _("Wednesday leisure centre"), label=_("Register for Wednesdays")),
        s.date("start_date", _("Start date"), past=False),
        s.boolean("pai", _("Individual care plan (PAI)"), label=_("My child has a PAI (food allergy...)")),
        s.textarea("diet", _("Diet or allergies to know about"), required=False, rows=3),
    ], validator=_at_least_one_service)


@hookimpl
def compte_citoyen_configure(config):
    config.get_settings().setdefault(PREFIX + "schools", DEFAULT_SCHOOLS)
    config.add_translation_dirs("compte_citoyen_theme_scolaire:locale/")


@hookimpl
def compte_citoyen_register_themes(settings):
    enrolment = Procedure(
        code="inscription_scolaire",
        title=_("School enrolment"),
        description=_("Enrol your child in a public nursery or primary school of the city."),
        steps=[(_("Child and school year"), enrolment_child_page), (_("School"), enrolment_school_page)],
        documents=[
            Document("address_proof", _("Proof of address of less than 3 months")),
            Document("family_book", _("Family record book (pages of the parents and the child)")),
            Document("vaccinations", _("Vaccination record (pages of the vaccinations)")),
            Document("custody", _("Custody ruling (separated parents)"), required=False),
        ],
        service=SERVICE,
        member_kinds=CHILDREN,
        member_title=_("Child to enrol"),
    )
    care = Procedure(
        code="periscolaire",
        title=_("Canteen and after-school care registration"),
        description=_("Register your child for the school canteen, the morning and evening care and the "
                      "Wednesday leisure centre."),
        steps=[(_("Child and school year"), care_child_page), (_("School and services wished"), care_services_page)],
        documents=[
            Document("insurance", _("School insurance certificate")),
            Document("pai", _("Individual care plan (PAI)"), required=False),
        ],
        service=SERVICE,
        member_kinds=CHILDREN,
        member_title=_("Child concerned"),
    )
    return [Theme("scolaire", _("School and after-school"), [enrolment, care],
                  description=_("Enrolment at school, canteen, care before and after school."))]
