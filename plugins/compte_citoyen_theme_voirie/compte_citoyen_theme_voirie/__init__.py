"""Voirie et environnement: bulky-item pick-up ("Enlèvement des encombrants") with its reminder.

Entry point ``voirie`` (group ``compte_citoyen``). Settings, under ``compte_citoyen_theme_voirie.``:

- ``pickup_weekdays``: the weekdays of the pick-up rounds, ``0`` = Monday ... ``6`` = Sunday (default ``1 3``:
  Tuesdays and Thursdays);
- ``pickup_dates``: how many next dates are offered (default 6);
- ``min_days_ahead``: days between the request and the first date offered (default 2).

French public holidays are skipped. On submission, an information message "sortir vos encombrants dans la rue
le JJ/MM/AAAA" is scheduled for the day before the pick-up (cancelled if the request is refused).
"""
from __future__ import annotations

import datetime
import functools

import colander
from pyramid.settings import aslist

from compte_citoyen.household.workdays import is_public_holiday, local_today
from compte_citoyen.i18n import _
from compte_citoyen.plugins import hookimpl
from compte_citoyen.procedures import schemas as s
from compte_citoyen.procedures.registry import (
    ACCEPTED, NO_MEMBER, REFUSED, STEP_DECIDED, STEP_DONE, STEP_IN_PROGRESS, STEP_RECEIVED, Document,
    Procedure, Status, Theme,
)

PREFIX = "compte_citoyen_theme_voirie."
SERVICE = "voirie"
DEFAULTS = {"pickup_weekdays": "1 3", "pickup_dates": "6", "min_days_ahead": "2"}
MAX_VOLUME = 5  # cubic metres per pick-up

ITEMS = [
    ("furniture", _("Furniture (wardrobe, table, chairs...)")),
    ("bedding", _("Bedding (mattress, bed base)")),
    ("appliances", _("Large appliances (fridge, washing machine...)")),
    ("metal", _("Scrap metal (bicycle, radiator...)")),
    ("wood", _("Wood (planks, pallets)")),
    ("other", _("Other bulky items")),
]

WORKFLOW = (
    Status("received", _("Received"), STEP_RECEIVED),
    Status("in_progress", _("Being processed"), STEP_IN_PROGRESS),
    Status("accepted", _("Pick-up confirmed"), STEP_DECIDED, decision=ACCEPTED),
    Status("refused", _("Request refused"), STEP_DECIDED, decision=REFUSED),
    Status("done", _("Items collected"), STEP_DONE),
)


def setting(settings, name: str) -> str:
    return str(settings.get(PREFIX + name, DEFAULTS[name]))


def pickup_dates(settings, today: datetime.date | None = None) -> list[datetime.date]:
    """The next pick-up dates of the service's calendar (configured weekdays, no public holiday)."""
    today = today or local_today()
    weekdays = {int(x) % 7 for x in aslist(setting(settings, "pickup_weekdays"))} or {1, 3}
    count = max(1, int(setting(settings, "pickup_dates")))
    day = today + datetime.timedelta(days=max(1, int(setting(settings, "min_days_ahead"))))
    dates = []
    while len(dates) < count:
        if day.weekday() in weekdays and not is_public_holiday(day):
            dates.append(day)
        day += datetime.timedelta(days=1)
    return dates


@functools.lru_cache(maxsize=512)
def french_date(day: datetime.date) -> str:
    """The day as « Jeudi 3 décembre 2026 » (kept per day: every page of the form and the request sent offer the
    same dates)."""
    from babel.dates import format_date
    text = format_date(day, format="EEEE d MMMM y", locale="fr_FR")
    return text[:1].upper() + text[1:]


@colander.deferred
def _date_widget(node, kw):
    import deform
    request = kw["request"]
    dates = pickup_dates(request.registry.settings, kw.get("today"))
    return deform.widget.RadioChoiceWidget(values=[(d.isoformat(), french_date(d)) for d in dates])


@colander.deferred
def _date_validator(node, kw):
    request = kw["request"]
    offered = [d.isoformat() for d in pickup_dates(request.registry.settings, kw.get("today"))]
    return colander.OneOf(offered, msg_err=_("This date is no longer offered: choose one of the dates of the list."))


def address_page(request=None) -> colander.SchemaNode:
    nodes = s.address_nodes()
    nodes.append(colander.SchemaNode(
        colander.String(), name="pickup_date", title=_("Pick-up date"), widget=_date_widget,
        validator=_date_validator, description=_("The dates of the next rounds in your area."),
        missing_msg=_("Choose a pick-up date.")))
    nodes.append(s.text("phone", _("Phone number to reach you on the day"), default=s.holder_phone,
                        validator=s.phone_validator, autocomplete="tel", input_type="tel", max_length=20))
    return s.mapping("address", nodes)


def items_page(request=None) -> colander.SchemaNode:
    return s.mapping("items", [
        s.choices("categories", _("Kinds of items"), ITEMS, required=True),
        s.textarea("items", _("List of the items"), max_length=1000, rows=5,
                   description=_("One item per line, for example: 1 sofa, 2 chairs, 1 mattress.")),
        s.integer("volume", _("Estimated volume (in cubic metres)"), minimum=1, maximum=MAX_VOLUME, default=1,
                  description=_("At most ${max} m³ per pick-up.", mapping={"max": MAX_VOLUME})),
        s.textarea("access", _("Access information (digicode, courtyard...)"), required=False, max_length=500,
                   rows=2),
    ])


def reminder_text(request, day: datetime.date) -> str:
    return request.translate(_("Reminder: please put your bulky items out in the street on ${date}, the evening "
                               "before or before 6 a.m. on the day of the pick-up, without blocking the "
                               "pavement.", mapping={"date": f"{day:%d/%m/%Y}"}))


def on_submitted(request, submission) -> None:
    """Schedule the reminder for the day before the pick-up (the message queue sends it on that day)."""
    from compte_citoyen.notification import INFORMATION
    from compte_citoyen.procedures.workflow import send_to_requester
    day = datetime.date.fromisoformat(submission.answer("pickup_date"))
    submission.data["pickup_date"] = day
    messages = send_to_requester(
        request, request.app_root, submission, kind=INFORMATION,
        subject=request.translate(_("Bulky items: pick-up on ${date}", mapping={"date": f"{day:%d/%m/%Y}"})),
        text=reminder_text(request, day), event_key=f"encombrants-reminder:{submission.number}",
        send_after=day - datetime.timedelta(days=1))
    if messages:
        submission.data["reminder_id"] = messages[0].id


def on_status(request, submission, old: str, new: str) -> None:
    """A refused pick-up does not need its reminder any more."""
    if new != "refused":
        return
    from compte_citoyen.procedures.workflow import cancel_message
    outbox = request.app_root["outbox"]
    message = outbox.get(submission.data.get("reminder_id") or "")
    if message is not None:
        cancel_message(request.app_root, message)


@hookimpl
def compte_citoyen_configure(config):
    settings = config.get_settings()
    for name, value in DEFAULTS.items():
        settings.setdefault(PREFIX + name, value)
    config.add_translation_dirs("compte_citoyen_theme_voirie:locale/")


@hookimpl
def compte_citoyen_register_themes(settings):
    bulky = Procedure(
        code="encombrants",
        title=_("Bulky-item pick-up"),
        description=_("The city collects your bulky items in front of your home on a date of its rounds."),
        steps=[(_("Address and date"), address_page), (_("Items to collect"), items_page)],
        documents=[Document("photo", _("Photo of the items"), required=False,
                            description=_("Helps the team plan the truck."))],
        account_required=True,
        captcha=False,
        service=SERVICE,
        member_kinds=NO_MEMBER,
        workflow=WORKFLOW,
        on_submitted=on_submitted,
        on_status=on_status,
    )
    return [Theme("voirie", _("Roads and environment"), [bulky],
                  description=_("Bulky items, cleanliness of the streets."))]

