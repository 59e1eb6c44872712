"""The scolaire plugin: school enrolment and canteen / after-school care for a child of the household."""
import datetime

import colander
import pytest

from compte_citoyen.household.workdays import local_today
from compte_citoyen.testing import create_child, create_citizen
from compte_citoyen_theme_scolaire import (
    care_child_page, care_services_page, enrolment_child_page, enrolment_school_page, school_years,
)


def fields(info) -> dict:
    """Errors by field name (colander prefixes them with the page's name)."""
    return {key.split(".")[-1]: value for key, value in info.value.asdict().items()}

def bound(registry, portal, factory, member=None):
    from compte_citoyen.procedures.demo import demo_request
    request = demo_request(portal, registry)
    return factory(request).bind(request=request, portal=portal, household=None, account=None, member=member,
                                 procedure=None, today=datetime.date(2026, 11, 26))


def test_school_years():
    assert school_years(datetime.date(2026, 11, 26)) == [("2026-2027", "2026-2027"), ("2027-2028", "2027-2028")]
    assert school_years(datetime.date(2027, 5, 2))[0][0] == "2026-2027"


def test_procedures_concern_children(registry):
    from compte_citoyen.procedures.registry import CHILDREN, get_registry
    procedures = get_registry(registry)
    for code in ("inscription_scolaire", "periscolaire"):
        assert procedures.get(code).member_kinds == CHILDREN and procedures.get(code).service == "scolaire"
    assert [d.required for d in procedures.get("inscription_scolaire").documents] == [True, True, True, False]


def test_enrolment_pages(registry, portal_tx):
    with portal_tx() as portal:
        child_page = bound(registry, portal, enrolment_child_page)
        assert child_page.deserialize({"school_year": "2026-2027", "level": "CP"})["level"] == "CP"
        with pytest.raises(colander.Invalid) as info:
            child_page.deserialize({"school_year": "1999-2000", "level": "6e"})
        assert set(fields(info)) == {"school_year", "level"}
        school_page = bound(registry, portal, enrolment_school_page)
        good = school_page.deserialize({"school": "École Jules Ferry", "derogation": "false"})
        assert good["derogation"] is False
        with pytest.raises(colander.Invalid) as info:
            school_page.deserialize({"school": "École Jules Ferry", "derogation": "true", "derogation_reason": ""})
        assert "derogation_reason" in fields(info)
        with pytest.raises(colander.Invalid) as info:
            school_page.deserialize({"school": "Une école privée"})
        assert "school" in fields(info)


def test_care_pages_prefilled_from_the_child(registry, portal_tx):
    with portal_tx() as portal:
        _account, household = create_citizen(portal)
        child = create_child(household, school="École Louise Michel")
        assert bound(registry, portal, care_child_page)["school_year"].default == "2026-2027"
        page = bound(registry, portal, care_services_page, member=child)
        assert page["school"].default == "École Louise Michel"
        start = (local_today() + datetime.timedelta(days=3)).isoformat()
        good = page.deserialize({"school": "École Louise Michel", "canteen": ["monday", "friday"],
                                 "start_date": start})
        assert good["canteen"] == {"monday", "friday"}
        with pytest.raises(colander.Invalid) as info:
            page.deserialize({"school": "École Louise Michel", "start_date": start})
        assert fields(info) == {"services": "Choose at least one service: canteen, morning or evening care, or "
                                            "Wednesday leisure centre."}
        with pytest.raises(colander.Invalid) as info:
            page.deserialize({"school": "École Louise Michel", "canteen": ["sunday"], "start_date": "2001-01-01"})
        assert set(fields(info)) == {"canteen", "start_date"}
