"""Household postal address ("Modifier l'adresse du foyer"): pre-filled form, French postcode, validation gate,
CSRF, acknowledgement, journal, my data, and only ever the logged-in citizen's household."""
import json
import re

import pytest

from compte_citoyen import testing

URL = "/mon-compte/adresse"
GATE = "Votre compte n’est pas encore validé par la Mairie"
NEW = {"address": "5 avenue  des Tilleuls", "postcode": "37 000", "city": "Tours"}


def _token(response):
    return re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)


def _make(portal_tx, validated, code="jdupont", **person):
    with portal_tx() as portal:
        _account, household = testing.create_citizen(portal, code=code, validated=validated, **person)
        return household.id


@pytest.fixture
def pending(portal_tx, testapp):
    household_id = _make(portal_tx, False)
    assert testing.login_citizen(testapp).status_int == 302
    return household_id


@pytest.fixture
def validated(portal_tx, testapp):
    household_id = _make(portal_tx, True)
    assert testing.login_citizen(testapp).status_int == 302
    return household_id


@pytest.fixture
def other(portal_tx):
    return _make(portal_tx, True, code="voisin", family_name="Martin", first_names="Paul",
                 email="paul.martin@example.org")


def _address(portal, household_id):
    household = portal["households"][household_id]
    return household.address, household.postcode, household.city


def _acknowledgements(portal, household_id):
    from compte_citoyen.notification import messages_for_household
    return [m for m in messages_for_household(portal, household_id, 100) if m.kind == "acknowledgement"]


def _post(testapp, fields, status=None, token=None):
    token = token or _token(testapp.get("/mon-compte"))
    return testapp.post(URL, dict(fields, csrf_token=token, save="save"), status=status)


def test_my_account_links_to_the_address_form(testapp, validated):
    page = testapp.get("/mon-compte")
    link = page.html.find("a", href=re.compile(r"/mon-compte/adresse$"))
    assert link is not None and link.get_text(strip=True) == "Modifier l'adresse du foyer"
    assert "12 rue des Lilas, 75001 Clairval" in page.text


def test_form_is_prefilled_with_french_labels(testapp, validated):
    page = testapp.get(URL)
    assert page.text.count("<h1") == 1 and "Adresse du foyer" in page.html.find("h1").text
    labels = {label["for"]: " ".join(label.get_text(" ", strip=True).split()) for label in page.html.find_all("label")}
    for name, label, value in (("address", "Adresse (numéro et rue)", "12 rue des Lilas"),
                               ("postcode", "Code postal", "75001"), ("city", "Commune", "Clairval")):
        field = page.html.find("input", {"name": name})
        assert field["value"] == value
        assert labels[field["id"]].startswith(label), labels
    assert page.html.find("input", {"name": "postcode"})["autocomplete"] == "postal-code"
    assert page.html.find("input", {"name": "csrf_token"}) is not None


def test_save_the_new_address(testapp, validated, portal_tx):
    response = _post(testapp, NEW, status=302)
    assert response.location.endswith("/mon-compte")
    page = response.follow()
    assert "L’adresse de votre foyer a été enregistrée." in page.text
    assert "5 avenue des Tilleuls, 37000 Tours" in page.text
    with portal_tx() as portal:
        # spaces tidied: the postcode typed "37 000" is stored as 37000
        assert _address(portal, validated) == ("5 avenue des Tilleuls", "37000", "Tours")
        entries = portal["journal"].for_target(f"household:{validated}")
        assert any(e.action == "address-changed" and e.detail == "address postcode city" for e in entries)
    # "Accueil" shows it, and the procedures' pre-fill reads it from the household
    assert "5 avenue des Tilleuls, 37000 Tours" in testapp.get("/accueil").text


def test_an_acknowledgement_is_queued_by_email(testapp, validated, portal_tx):
    with portal_tx() as portal:
        before = {m.event_key for m in _acknowledgements(portal, validated)}
    _post(testapp, NEW, status=302)
    _post(testapp, dict(NEW, address="7 avenue des Tilleuls"), status=302)
    with portal_tx() as portal:
        new = [m for m in _acknowledgements(portal, validated) if m.event_key not in before]
        assert len(new) == 2 and len({m.event_key for m in new}) == 2  # one per change, unique event keys
        assert all(m.email == "jeanne.dupont@example.org" for m in new)
        assert any("7 avenue des Tilleuls, 37000 Tours" in m.text for m in new)
        assert all(m.subject.endswith("Votre compte a été modifié") for m in new)


def test_an_unchanged_address_queues_nothing(testapp, validated, portal_tx):
    with portal_tx() as portal:
        count = len(_acknowledgements(portal, validated))
    response = _post(testapp, {"address": "12 rue des Lilas", "postcode": "75001", "city": "Clairval"}, status=302)
    assert "L’adresse de votre foyer n’a pas changé." in response.follow().text
    with portal_tx() as portal:
        assert len(_acknowledgements(portal, validated)) == count


@pytest.mark.parametrize("postcode", ["7500", "750011", "75OO1", "ABCDE"])
def test_bad_postcode_is_refused_and_the_rest_kept(testapp, validated, portal_tx, postcode):
    response = _post(testapp, dict(NEW, postcode=postcode))
    assert response.status_int == 200
    assert "Un code postal français comporte 5 chiffres, par exemple 75001." in response.text
    field = response.html.find("input", {"name": "postcode"})
    assert field["aria-invalid"] == "true" and "error-" + field["id"] in field["aria-describedby"]
    assert field["value"] == postcode
    # what was typed is kept exactly as typed
    assert response.html.find("input", {"name": "address"})["value"] == NEW["address"]
    assert response.html.find("input", {"name": "city"})["value"] == "Tours"
    assert response.html.find("input", {"name": "address"}).get("aria-invalid") is None
    with portal_tx() as portal:
        assert _address(portal, validated) == ("12 rue des Lilas", "75001", "Clairval")


def test_empty_fields_are_refused_with_french_messages(testapp, validated, portal_tx):
    response = _post(testapp, {"address": "  ", "postcode": "", "city": ""})
    assert response.status_int == 200
    for message in ("Saisissez le numéro et la rue.", "Saisissez le code postal.", "Saisissez la commune."):
        assert message in response.text
    with portal_tx() as portal:
        assert _address(portal, validated) == ("12 rue des Lilas", "75001", "Clairval")


def test_refused_before_validation(testapp, pending, portal_tx):
    page = testapp.get(URL)
    assert GATE in page.text and "2 jours ouvrés" in page.text
    assert "<form" not in page.text.split('id="contenu"')[1]
    with portal_tx() as portal:
        outbox = len(portal["outbox"])
    response = _post(testapp, NEW, status=403)
    assert GATE in response.text
    with portal_tx() as portal:
        assert _address(portal, pending) == ("12 rue des Lilas", "75001", "Clairval")
        assert len(portal["outbox"]) == outbox
        assert not any(e.action == "address-changed" for e in portal["journal"].for_target(f"household:{pending}"))


def test_csrf_token_is_required(testapp, validated, portal_tx):
    testapp.post(URL, dict(NEW, save="save"), status=400)
    testapp.post(URL, dict(NEW, save="save", csrf_token="forged"), status=400)
    with portal_tx() as portal:
        assert _address(portal, validated) == ("12 rue des Lilas", "75001", "Clairval")
        assert not _acknowledgements(portal, validated)


def test_only_the_logged_in_citizens_household_changes(testapp, validated, other, portal_tx):
    # a crafted household id (in the form or the query string) is ignored: the route acts on the session's household
    token = _token(testapp.get("/mon-compte"))
    testapp.post(f"{URL}?household_id={other}", dict(NEW, csrf_token=token, save="save", household_id=other),
                 status=302)
    with portal_tx() as portal:
        assert _address(portal, other) == ("12 rue des Lilas", "75001", "Clairval")
        assert not _acknowledgements(portal, other)
        assert _address(portal, validated) == ("5 avenue des Tilleuls", "37000", "Tours")
    # the neighbour, logged in, sees and edits only their own address
    testapp.reset()
    assert testing.login_citizen(testapp, "voisin").status_int == 302
    assert testapp.get(URL).html.find("input", {"name": "address"})["value"] == "12 rue des Lilas"


def test_anonymous_and_staff_cannot_reach_the_form(testapp, portal_tx):
    assert testapp.get(URL, status=302).location.split("?")[0].endswith("/connexion")
    with portal_tx() as portal:
        staff = testing.create_staff(portal, "val1", roles=("validator",))
        secret = staff.totp_secret
    testing.login_staff(testapp, "val1", totp_secret=secret)
    testapp.get(URL, status=403)


def test_my_data_includes_the_address(testapp, validated):
    _post(testapp, NEW, status=302)
    data = json.loads(testapp.get("/mon-compte/mes-donnees.json").body)
    assert (data["household"]["address"], data["household"]["postcode"], data["household"]["city"]) == \
        ("5 avenue des Tilleuls", "37000", "Tours")
    assert any(e["action"] == "address-changed" for e in data["journal"])
