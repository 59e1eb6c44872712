"""The etat_civil plugin: the three certificates, open without an account, and the registry's rules."""
import datetime

import colander
import pytest

from compte_citoyen.household.workdays import local_today
from compte_citoyen_theme_etat_civil import birth_page, death_page, marriage_page, requester_page

BIRTH = {"person_family_name": "Bernard", "person_first_names": "Paul", "event_date": "1990-05-04",
         "event_place": "Clairval", "father_family_name": "Bernard", "document_type": "copie_integrale",
         "copies": "1", "quality": "self"}


def fields(info) -> dict:
    """Errors by field name (colander prefixes them with the page's name)."""
    return {key.split(".")[-1]: value for key, value in info.value.asdict().items()}

def bound(registry, portal, factory):
    from compte_citoyen.procedures.demo import demo_request
    request = demo_request(portal, registry)
    return factory(request).bind(request=request, portal=portal, household=None, account=None, member=None,
                                 procedure=None, today=local_today())


def test_three_public_procedures_with_captcha(registry):
    from compte_citoyen.procedures.registry import get_registry
    procedures = get_registry(registry)
    for code in ("acte_naissance", "acte_mariage", "acte_deces"):
        procedure = procedures.get(code)
        assert not procedure.account_required and procedure.captcha and procedure.service == "etat_civil"
        assert len(procedure.steps) == 2


def test_birth_certificate_rules(registry, portal_tx):
    with portal_tx() as portal:
        schema = bound(registry, portal, birth_page)
        assert schema["event_place"].default == "Clairval"
        good = schema.deserialize(BIRTH)
        assert good["copies"] == 1 and good["event_date"] == datetime.date(1990, 5, 4)
        # another person may only have an extract without parentage
        with pytest.raises(colander.Invalid) as info:
            schema.deserialize({**BIRTH, "quality": "other"})
        assert set(fields(info)) == {"document_type"}
        assert schema.deserialize({**BIRTH, "quality": "other", "document_type": "extrait_sans_filiation"})
        # a full copy needs a parent's name
        with pytest.raises(colander.Invalid) as info:
            schema.deserialize({**BIRTH, "father_family_name": ""})
        assert "father_family_name" in fields(info)
        with pytest.raises(colander.Invalid) as info:
            schema.deserialize({**BIRTH, "copies": "12", "event_date": "2999-01-01", "document_type": "photocopie"})
        assert set(fields(info)) >= {"copies", "event_date", "document_type"}


def test_marriage_and_death_certificates(registry, portal_tx):
    with portal_tx() as portal:
        marriage = bound(registry, portal, marriage_page)
        values = {"spouse1_family_name": "A", "spouse1_first_names": "B", "spouse2_family_name": "C",
                  "spouse2_first_names": "D", "event_date": "2010-06-12", "event_place": "Clairval",
                  "document_type": "extrait_avec_filiation", "copies": "1", "quality": "self"}
        assert marriage.deserialize(values)["quality"] == "self"
        with pytest.raises(colander.Invalid):
            marriage.deserialize({**values, "quality": "other"})
        death = bound(registry, portal, death_page)
        values = {"person_family_name": "Martin", "person_first_names": "Louis", "event_date": "2020-02-02",
                  "event_place": "Clairval", "document_type": "copie_integrale", "copies": "1", "quality": "other"}
        assert death.deserialize(values)["document_type"] == "copie_integrale"  # anyone, for a death
        with pytest.raises(colander.Invalid) as info:
            death.deserialize({**values, "document_type": "extrait_avec_filiation"})
        assert "document_type" in fields(info)


def test_requester_page(registry, portal_tx):
    with portal_tx() as portal:
        schema = bound(registry, portal, requester_page)
        values = {"family_name": "Bernard", "first_names": "Paul", "email": "paul@example.org",
                  "address": "1 Calle Mayor", "postcode": "28013", "city": "Madrid", "country": "Espagne"}
        assert schema.deserialize(values)["country"] == "Espagne"  # abroad: any postcode
        with pytest.raises(colander.Invalid) as info:
            schema.deserialize({**values, "email": "paul@", "phone": "123"})
        assert set(fields(info)) == {"email", "phone"}
