"""The core's one date field (``compte_citoyen.forms``): accounts, household members and procedures."""
from __future__ import annotations

import datetime

import colander
import pytest

from compte_citoyen import forms, testing
from compte_citoyen.authentication import schemas as auth_schemas
from compte_citoyen.household import schemas as household_schemas
from compte_citoyen.household.workdays import local_today
from compte_citoyen.procedures import schemas as procedure_schemas

TODAY = local_today()


def node_with(typ=None, validator=None):
    return colander.SchemaNode(typ or forms.DateField(), name="d", validator=validator)


# --- parsing -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("2015-12-25", datetime.date(2015, 12, 25)),
    ("2015-2-3", datetime.date(2015, 2, 3)),
    ("25/12/2015", datetime.date(2015, 12, 25)),
    (" 3/2/2015 ", datetime.date(2015, 2, 3)),
    ("03.02.2015", datetime.date(2015, 2, 3)),
    ("03-02-2015", datetime.date(2015, 2, 3)),
])
def test_parse_date_reads_iso_and_french(text, expected):
    assert forms.parse_date(text) == expected


@pytest.mark.parametrize("text", ["", "demain", "25/12/15", "2015/12/25", "12-25", "2015-12-25T10:00", "1/2/3/2015"])
def test_parse_date_refuses_what_is_not_a_date(text):
    with pytest.raises(ValueError) as info:
        forms.parse_date(text)
    assert not isinstance(info.value, forms.ImpossibleDate)


@pytest.mark.parametrize("text", ["31/02/2015", "2015-13-01", "00/01/2015", "29/02/2023"])
def test_parse_date_tells_an_impossible_date(text):
    with pytest.raises(forms.ImpossibleDate):
        forms.parse_date(text)


def test_date_field_messages_and_empty_value():
    node = node_with()
    assert node.deserialize("25/12/2015") == datetime.date(2015, 12, 25)
    assert node.serialize(datetime.date(2015, 12, 25)) == "2015-12-25"
    assert forms.DateField().deserialize(node, "") is colander.null
    with pytest.raises(colander.Invalid) as info:
        node.deserialize("demain")
    assert info.value.msg == "Enter a valid date (day, month, year)."
    with pytest.raises(colander.Invalid) as info:
        node.deserialize("31/02/2015")
    assert info.value.msg == "This date does not exist. Check the day and the month."
    custom = node_with(forms.DateField("Type it like 25/12/2015."))
    with pytest.raises(colander.Invalid) as info:
        custom.deserialize("demain")
    assert info.value.msg == "Type it like 25/12/2015."


def test_birth_date_validator_with_and_without_adult_check():
    child = TODAY.replace(year=TODAY.year - 10) if not (TODAY.month == 2 and TODAY.day == 29) \
        else datetime.date(TODAY.year - 10, 2, 28)
    for adult in (False, True):
        validate = forms.birth_date_validator(adult=adult)
        with pytest.raises(colander.Invalid, match="future"):
            validate(node_with(), TODAY + datetime.timedelta(days=1))
        with pytest.raises(colander.Invalid, match="1900"):
            validate(node_with(), datetime.date(1899, 12, 31))
        validate(node_with(), datetime.date(1980, 2, 3))
    forms.birth_date_validator()(node_with(), child)
    with pytest.raises(colander.Invalid, match="adult"):
        forms.birth_date_validator(adult=True)(node_with(), child)


def test_born_on_29_february_comes_of_age_on_1_march():
    born = datetime.date(2004, 2, 29)
    assert not forms.birthday_reached(born, 18, datetime.date(2022, 2, 28))
    assert forms.birthday_reached(born, 18, datetime.date(2022, 3, 1))
    assert forms.birthday_reached(datetime.date(2004, 5, 4), 18, datetime.date(2022, 5, 4))
    assert not forms.birthday_reached(datetime.date(2004, 5, 4), 18, datetime.date(2022, 5, 3))


def test_every_area_uses_the_one_date_field():
    assert auth_schemas.DateWidget is forms.DateWidget and auth_schemas.DateType is forms.DateField
    assert household_schemas.DateWidget is forms.DateWidget and household_schemas.DateField is forms.DateField
    assert procedure_schemas.DateWidget is forms.DateWidget and procedure_schemas.DateField is forms.DateField
    assert not hasattr(household_schemas, "FrenchDate") and not hasattr(household_schemas, "_birth_date_validator")
    assert auth_schemas.birth_date_validator is forms.birth_date_validator
    for schema in (auth_schemas.registration_schema(), household_schemas.member_schema("adult", holder=True),
                   household_schemas.member_schema("child")):
        node = schema["birth_date"]
        assert type(node.typ) is forms.DateField and type(node.widget) is forms.DateWidget


# --- through the forms -----------------------------------------------------------------------------------

def _post_member(testapp, url, fields):
    """Fill the member form as a browser would (the date is the ``date`` input of the birth_date mapping)."""
    page = testapp.get(url)
    form = next(f for f in page.forms.values() if "first_names" in f.fields)
    for name, value in fields.items():
        if name != "save":
            form["date" if name == "birth_date" else name] = value
    return form.submit("save")


@pytest.fixture
def household_ids(portal_tx, testapp):
    with portal_tx() as portal:
        _account, household = testing.create_citizen(portal, validated=True)
        child = testing.create_child(household)
        ids = {"household": household.id, "holder": household.holder_id, "child": child.id}
    assert testing.login_citizen(testapp).status_int == 302
    return ids


HOLDER_FORM = {"civility": "Mme", "family_name": "Dupont", "first_names": "Jeanne", "sex": "F",
               "email": "jeanne.dupont@example.org", "phone": "", "mobile": "", "save": "save"}


def test_household_holder_must_stay_an_adult_and_dates_typed_the_french_way(testapp, household_ids, portal_tx):
    url = f"/mon-compte/membres/{household_ids['holder']}/modifier"
    young = (TODAY - datetime.timedelta(days=365 * 10)).strftime("%d/%m/%Y")
    response = _post_member(testapp, url, dict(HOLDER_FORM, birth_date=young))
    assert response.status_int == 200 and "Le titulaire du compte doit être majeur" in response.text
    response = _post_member(testapp, url, dict(HOLDER_FORM, birth_date="1899-12-31"))
    assert "postérieure au 1er janvier 1900" in response.text
    with portal_tx() as portal:
        assert portal["households"][household_ids["household"]].holder.birth_date != datetime.date(1899, 12, 31)
    assert _post_member(testapp, url, dict(HOLDER_FORM, birth_date="12/04/1985")).status_int == 302
    with portal_tx() as portal:
        assert portal["households"][household_ids["household"]].holder.birth_date == datetime.date(1985, 4, 12)


def test_household_child_has_no_adult_check(testapp, household_ids, portal_tx):
    url = f"/mon-compte/membres/{household_ids['child']}/modifier"
    page = testapp.get(url)
    assert page.status_int == 200
    fields = {"family_name": "Dupont", "first_names": "Léa", "birth_date": "04/05/2019", "sex": "F",
              "relation": "child", "school": "", "school_class": "", "health_notes": "", "save": "save"}
    assert _post_member(testapp, url, fields).status_int == 302
    with portal_tx() as portal:
        household = portal["households"][household_ids["household"]]
        assert household.members[household_ids["child"]].birth_date == datetime.date(2019, 5, 4)


@pytest.mark.parametrize("typed,message", [
    ("31/02/1980", "Cette date n’existe pas. Vérifiez le jour et le mois."),
    ("un jour", "Saisissez une date valide (jour, mois, année)."),
    ("1899-12-31", "Vérifiez la date de naissance : elle doit être postérieure au 1er janvier 1900."),
])
def test_registration_date_errors_in_french(testapp, typed, message):
    terms = testapp.get("/creer-votre-compte")
    form = terms.forms["accept-terms-form"]
    form["accept"] = "yes"
    page = form.submit().follow()
    form = page.forms["register"]
    form["date"] = typed
    response = form.submit("save")
    assert response.status_int == 200 and message in response.text
    assert 'aria-invalid="true"' in response.text


def test_procedures_backoffice_filter_reads_a_french_date(testapp, portal_tx):
    with portal_tx() as portal:
        staff = testing.create_staff(portal, "agent.martin", roles=("agent",), services=("voirie",))
        secret = staff.totp_secret
    testing.login_staff(testapp, "agent.martin", totp_secret=secret)
    typed = TODAY.strftime("%d/%m/%Y")
    response = testapp.get("/backoffice/demandes", {"du": typed})
    assert response.status_int == 200 and "Saisissez une date valide" not in response.text
    response = testapp.get("/backoffice/demandes", {"du": "31/02/2025"})
    assert "Saisissez une date valide" in response.text and 'aria-invalid="true"' in response.text
