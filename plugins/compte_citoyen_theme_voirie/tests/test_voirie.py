"""The voirie plugin: the pick-up calendar, the form pages, the reminder scheduled on submission."""
import datetime
import zoneinfo

import colander
import pytest

from compte_citoyen.household.workdays import local_today
from compte_citoyen.testing import create_citizen, file_request
from compte_citoyen_theme_voirie import address_page, items_page, pickup_dates

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def fields(info) -> dict:
    """Errors by field name (colander prefixes them with the page's name)."""
    return {key.split(".")[-1]: value for key, value in info.value.asdict().items()}

def bound(registry, portal, factory, household=None):
    from compte_citoyen.procedures.demo import demo_request
    request = demo_request(portal, registry)
    return factory(request).bind(request=request, portal=portal, household=household, account=None, member=None,
                                 procedure=None, today=local_today())


def test_pickup_dates_follow_the_calendar_and_skip_holidays():
    settings = {"compte_citoyen_theme_voirie.pickup_weekdays": "4", "compte_citoyen_theme_voirie.pickup_dates": "3",
                "compte_citoyen_theme_voirie.min_days_ahead": "2"}
    dates = pickup_dates(settings, datetime.date(2026, 12, 20))
    # Fridays; 25 December and 1 January are public holidays
    assert dates == [datetime.date(2027, 1, 8), datetime.date(2027, 1, 15), datetime.date(2027, 1, 22)]
    default = pickup_dates({}, datetime.date(2026, 3, 2))  # Tuesdays and Thursdays, 2 days' notice
    assert default[0] == datetime.date(2026, 3, 5) and all(d.weekday() in (1, 3) for d in default)
    assert len(default) == 6


def test_theme_registered(registry):
    from compte_citoyen.procedures.registry import get_registry
    procedure = get_registry(registry).get("encombrants")
    assert procedure.plugin == "voirie" and procedure.account_required and procedure.service == "voirie"
    assert [s.step for s in procedure.workflow] == [1, 2, 3, 3, 4]


def test_address_page_prefilled_and_checked(registry, portal_tx):
    with portal_tx() as portal:
        _account, household = create_citizen(portal)
        schema = bound(registry, portal, address_page, household)
        date = schema["pickup_date"].widget.values[0][0]
        assert schema["address"].default == "12 rue des Lilas" and schema["phone"].default == "0612345678"
        good = schema.deserialize({"address": "12 rue des Lilas", "postcode": "75001", "city": "Clairval",
                                   "pickup_date": date, "phone": "06 12 34 56 78"})
        assert good["pickup_date"] == date
        with pytest.raises(colander.Invalid) as info:
            schema.deserialize({"address": "", "postcode": "ABCDE", "city": "Clairval", "pickup_date": "2000-01-01",
                                "phone": "12"})
        errors = fields(info)
        assert set(errors) >= {"address", "postcode", "pickup_date", "phone"}


def test_items_page(registry, portal_tx):
    with portal_tx() as portal:
        schema = bound(registry, portal, items_page)
        good = schema.deserialize({"categories": ["furniture", "metal"], "items": "1 armoire", "volume": "2"})
        assert good["volume"] == 2 and good["categories"] == {"furniture", "metal"}
        with pytest.raises(colander.Invalid) as info:
            schema.deserialize({"categories": ["piano"], "items": "", "volume": "9"})
        assert set(fields(info)) == {"categories", "items", "volume"}


def test_reminder_for_the_day_before(registry, portal_tx):
    with portal_tx() as portal:
        _account, household = create_citizen(portal, communication="sms")
        submission = file_request(registry, portal, "encombrants", household=household)
        day = submission.data["pickup_date"]
        reminder = portal["outbox"][submission.data["reminder_id"]]
        assert reminder.kind == "information" and reminder.channel == "sms"  # the household's preference
        assert f"sortir vos encombrants dans la rue le {day:%d/%m/%Y}" in reminder.text
        assert reminder.send_after.astimezone(PARIS).date() == day - datetime.timedelta(days=1)
