"""Household: Accueil, Modifier mon compte, members, communication, validation gate, access control, my data."""
import datetime as dt
import json
import re

import pytest

from compte_citoyen import testing

GATE = "Votre compte n’est pas encore validé par la Mairie"


def _token(response):
    return re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)


def _make(portal_tx, validated, code="jdupont", **person):
    with portal_tx() as portal:
        account, household = testing.create_citizen(portal, code=code, validated=validated, **person)
        child = testing.create_child(household)
        return {"household": household.id, "holder": household.holder_id, "child": child.id}


@pytest.fixture
def pending(portal_tx, testapp):
    ids = _make(portal_tx, False)
    assert testing.login_citizen(testapp).status_int == 302
    return ids


@pytest.fixture
def validated(portal_tx, testapp):
    ids = _make(portal_tx, True)
    assert testing.login_citizen(testapp).status_int == 302
    return ids


def _household(portal, ids):
    return portal["households"][ids["household"]]


def _outbox_for(portal, household_id):
    from compte_citoyen.notification import messages_for_household
    return messages_for_household(portal, household_id, 100)


CHILD_FORM = {"family_name": "Dupont-Martin", "first_names": "Léa", "birth_date": "2019-05-04", "sex": "F",
              "relation": "child", "school": "École Jules Ferry", "school_class": "CP", "health_notes": "",
              "save": "save"}
ADULT_FORM = {"civility": "M.", "family_name": "Dupont", "first_names": "Marc", "birth_date": "1983-02-01",
              "sex": "M", "relation": "spouse", "email": "marc@example.org", "phone": "01 23 45 67 89",
              "mobile": "+33 7 12 34 56 78", "save": "save"}


def _post_form(testapp, url, fields, status=None):
    """Post like the browser: the date field is sent as deform's mapping (``__start__``, ``date``, ``__end__``)."""
    page = testapp.get(url)
    data = [("csrf_token", _token(page))]
    for name, value in fields.items():
        if name == "birth_date":
            data += [("__start__", "birth_date:mapping"), ("date", value), ("__end__", "birth_date:mapping")]
        else:
            data.append((name, value))
    return testapp.post(url, data, status=status)


# --- Accueil -------------------------------------------------------------------------------------------

def test_home_shows_household_state_and_button(testapp, pending):
    response = testapp.get("/accueil")
    html = response.text
    assert html.count("<h1") == 1
    assert ">Modifier mon compte<" in html
    assert "En attente de validation" in html
    assert "2 jours ouvrés" in html
    assert "Lucas Dupont" in html and "Jeanne Dupont" in html
    assert "Ce qui vous attend" in html
    # the "Accueil" tab is the current one
    assert re.search(r'<a href="[^"]*/accueil" aria-current="page">Accueil</a>', html)


def test_home_of_a_validated_account(testapp, validated):
    html = testapp.get("/accueil").text
    assert "Validé" in html and "En attente de validation" not in html
    assert "Rien ne vous attend pour le moment." in html


def test_home_lists_requests_with_progress_when_procedures_provide_them(testapp, validated, monkeypatch):
    import compte_citoyen.procedures as procedures

    class Req:
        number, procedure_title, step, step_title = "2026-000042", "Ramassage des encombrants", 2, "En cours"
        member_name, created = "Jeanne Dupont", dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)

    calls = []
    monkeypatch.setattr(procedures, "requests_for_household",
                        lambda portal, hid, limit: calls.append((hid, limit)) or [Req()], raising=False)
    html = testapp.get("/accueil").text
    assert calls and calls[0][0] == validated["household"]
    assert "2026-000042" in html and "Ramassage des encombrants" in html
    assert "étape 2 sur 4 : En cours" in html
    assert html.count("progress__square--filled") == 2 and html.count("progress__square") >= 4


def test_anonymous_and_staff_cannot_reach_household_pages(testapp, portal_tx):
    testapp.get("/accueil", status=302)
    testapp.get("/mon-compte", status=302)
    with portal_tx() as portal:
        staff = testing.create_staff(portal, "val1", roles=("validator",))
        secret = staff.totp_secret
    testing.login_staff(testapp, "val1", totp_secret=secret)
    testapp.get("/mon-compte", status=403)


# --- Modifier mon compte -------------------------------------------------------------------------------

def test_members_adults_first_then_children(testapp, validated, portal_tx):
    with portal_tx() as portal:
        household = _household(portal, validated)
        from compte_citoyen.household.models import ADULT, Member, new_id
        household.add_member(Member(new_id(), ADULT, "Dupont", "Zoé", dt.date(1990, 1, 1), relation="spouse"))
    html = testapp.get("/mon-compte").text
    assert html.index("Jeanne Dupont") < html.index("Zoé Dupont") < html.index("Lucas Dupont")
    assert html.index("Adultes") < html.index("Enfants")
    assert ">Ajouter un adulte<" in html and ">Ajouter un enfant<" in html


def test_choosing_a_member_shows_its_information(testapp, validated):
    html = testapp.get(f"/mon-compte/membres/{validated['child']}").text
    assert ">Modifier les informations<" in html
    assert "1 septembre 2016" in html
    assert "École" in html


def test_add_child_form_has_family_name_prefilled(testapp, validated):
    page = testapp.get("/mon-compte/ajouter/enfant")
    assert page.html.find("h1").text == "Ajouter un enfant"
    assert page.html.find("input", {"name": "family_name"})["value"] == "Dupont"
    assert page.html.find("input", {"name": "school"}) is not None
    assert page.html.find("input", {"name": "email"}) is None


def test_add_child_with_another_family_name(testapp, validated, portal_tx):
    response = _post_form(testapp, "/mon-compte/ajouter/enfant", CHILD_FORM, status=302)
    with portal_tx() as portal:
        household = _household(portal, validated)
        children = household.children()
        lea = [m for m in children if m.first_names == "Léa"][0]
        assert lea.family_name == "Dupont-Martin" and lea.birth_date == dt.date(2019, 5, 4)
        assert lea.school == "École Jules Ferry" and lea.kind == "child" and lea.created is not None
        assert len(lea.id) == 16 and lea.id not in ("1", "2")
        messages = _outbox_for(portal, household.id)
        assert any(m.kind == "acknowledgement" and "Léa Dupont-Martin" in m.text for m in messages)
        assert any(e.action == "member-added" for e in portal["journal"].for_target(f"household:{household.id}"))
    assert response.location.endswith(f"/mon-compte/membres/{lea.id}")
    assert "a été ajouté(e) à votre foyer" in response.follow().text


def test_add_adult_normalises_phones(testapp, validated, portal_tx):
    _post_form(testapp, "/mon-compte/ajouter/adulte", ADULT_FORM, status=302)
    with portal_tx() as portal:
        marc = [m for m in _household(portal, validated).adults() if m.first_names == "Marc"][0]
        assert (marc.phone, marc.mobile, marc.civility, marc.relation) == ("0123456789", "0712345678", "M.", "spouse")


@pytest.mark.parametrize("field,value,message", [
    ("first_names", "", "Saisissez cette information."),
    ("birth_date", "2999-01-01", "La date de naissance ne peut pas être dans le futur."),
    ("birth_date", "31/02/2015", "Cette date n’existe pas."),
    ("birth_date", "demain", "Saisissez la date sous la forme jour/mois/année"),
    ("email", "pas-une-adresse", "Saisissez une adresse de courriel valide"),
    ("mobile", "0123456789", "Saisissez un numéro de mobile français"),
    ("phone", "12345", "Saisissez un numéro de téléphone français"),
    ("relation", "holder", ""),
])
def test_add_adult_bad_input_is_refused_and_kept(testapp, validated, portal_tx, field, value, message):
    fields = dict(ADULT_FORM, **{field: value})
    response = _post_form(testapp, "/mon-compte/ajouter/adulte", fields)
    assert response.status_int == 200
    assert "Le formulaire contient des erreurs" in response.text
    assert message in response.text
    assert 'aria-invalid="true"' in response.text
    assert 'value="Marc"' in response.text or field == "first_names"
    with portal_tx() as portal:
        assert len(_household(portal, validated).adults()) == 1


def test_birth_date_typed_the_french_way(testapp, validated, portal_tx):
    _post_form(testapp, "/mon-compte/ajouter/enfant", dict(CHILD_FORM, birth_date="04/05/2019"), status=302)
    with portal_tx() as portal:
        assert any(m.birth_date == dt.date(2019, 5, 4) for m in _household(portal, validated).children())


def test_unknown_member_kind_is_404(testapp, validated):
    testapp.get("/mon-compte/ajouter/chien", status=404)


def test_edit_an_adult(testapp, validated, portal_tx):
    url = f"/mon-compte/membres/{validated['holder']}/modifier"
    page = testapp.get(url)
    assert page.html.find("input", {"name": "first_names"})["value"] == "Jeanne"
    assert page.html.find("input", {"name": "email"})["value"] == "jeanne.dupont@example.org"
    assert page.html.find("select", {"name": "relation"}) is None  # the holder stays the holder
    form = {"civility": "Mme", "family_name": "Dupont", "first_names": "Jeanne Marie", "birth_date": "1985-04-12",
            "sex": "F", "email": "jeanne.new@example.org", "phone": "", "mobile": "06 98 76 54 32", "save": "save"}
    _post_form(testapp, url, form, status=302)
    with portal_tx() as portal:
        household = _household(portal, validated)
        holder = household.holder
        assert (holder.first_names, holder.email, holder.mobile) == ("Jeanne Marie", "jeanne.new@example.org",
                                                                     "0698765432")
        assert holder.relation == "holder"
        messages = _outbox_for(portal, household.id)
        # the acknowledgement goes to the new address, and a copy to the previous one
        assert {m.email for m in messages if m.kind == "acknowledgement"} >= {"jeanne.new@example.org",
                                                                             "jeanne.dupont@example.org"}


def test_holder_email_is_required(testapp, validated, portal_tx):
    url = f"/mon-compte/membres/{validated['holder']}/modifier"
    form = {"civility": "Mme", "family_name": "Dupont", "first_names": "Jeanne", "birth_date": "1985-04-12",
            "sex": "F", "email": "", "save": "save"}
    response = _post_form(testapp, url, form)
    assert "Saisissez l’adresse de courriel." in response.text
    with portal_tx() as portal:
        assert _household(portal, validated).holder.email == "jeanne.dupont@example.org"


def test_remove_a_member_keeps_it_flagged(testapp, validated, portal_tx):
    url = f"/mon-compte/membres/{validated['child']}/retirer"
    page = testapp.get(url)
    assert "Voulez-vous vraiment retirer" in page.text
    testapp.post(url, {"csrf_token": _token(page), "member_id": validated["child"], "confirm": "1"}, status=302)
    with portal_tx() as portal:
        household = _household(portal, validated)
        child = household.members[validated["child"]]
        assert child.removed and child.removed_at is not None
        assert child not in household.current_members()
    page = testapp.get("/mon-compte")
    assert "Lucas Dupont a été retiré(e) de votre foyer" in page.text
    assert "Lucas" not in str(page.html.find("nav", class_="members__list"))
    testapp.get(f"/mon-compte/membres/{validated['child']}", status=404)


def test_holder_cannot_be_removed(testapp, validated, portal_tx):
    url = f"/mon-compte/membres/{validated['holder']}/retirer"
    page = testapp.get(url)
    assert "Le titulaire du compte ne peut pas être retiré" in page.text
    testapp.post(url, {"csrf_token": _token(page), "member_id": validated["holder"], "confirm": "1"}, status=400)
    with portal_tx() as portal:
        assert not _household(portal, validated).holder.removed


# --- communication preference ----------------------------------------------------------------------------

def test_choose_sms_with_a_valid_mobile(testapp, validated, portal_tx):
    page = testapp.get("/mon-compte/communication")
    assert "Courriel" in page.text and "Téléphone" in page.text and "SMS" in page.text
    testapp.post("/mon-compte/communication", {"csrf_token": _token(page), "communication": "sms",
                                               "mobile": "07 11 22 33 44", "save": "save"}, status=302)
    with portal_tx() as portal:
        household = _household(portal, validated)
        assert household.communication == "sms" and household.holder.mobile == "0711223344"
        assert any(m.kind == "acknowledgement" for m in _outbox_for(portal, household.id))


@pytest.mark.parametrize("mobile,message", [
    ("", "Pour recevoir des SMS, saisissez votre numéro de mobile"),
    ("01 23 45 67 89", "Saisissez un numéro de mobile français"),
])
def test_sms_requires_a_valid_french_mobile(testapp, validated, portal_tx, mobile, message):
    page = testapp.get("/mon-compte/communication")
    response = testapp.post("/mon-compte/communication", {"csrf_token": _token(page), "communication": "sms",
                                                          "mobile": mobile, "save": "save"})
    assert response.status_int == 200 and message in response.text
    with portal_tx() as portal:
        assert _household(portal, validated).communication == "email"


def test_choose_phone(testapp, validated, portal_tx):
    page = testapp.get("/mon-compte/communication")
    testapp.post("/mon-compte/communication", {"csrf_token": _token(page), "communication": "phone",
                                               "mobile": "", "save": "save"}, status=302)
    with portal_tx() as portal:
        assert _household(portal, validated).communication == "phone"


# --- validation gate ---------------------------------------------------------------------------------------

def test_pending_account_cannot_be_modified(testapp, pending, portal_tx):
    with portal_tx() as portal:
        before = len(_household(portal, pending).members)
        count_before = len(portal["outbox"])
    # the pages explain why
    for url in ["/mon-compte/ajouter/enfant", "/mon-compte/ajouter/adulte",
                f"/mon-compte/membres/{pending['child']}/modifier", f"/mon-compte/membres/{pending['child']}/retirer",
                "/mon-compte/communication"]:
        page = testapp.get(url)
        assert GATE in page.text and "2 jours ouvrés" in page.text and "Les Services" in page.text, url
        assert "<form" not in page.text.split('id="contenu"')[1], url
    token = _token(testapp.get("/mon-compte"))
    # and posting anyway changes nothing
    testapp.post("/mon-compte/ajouter/enfant", dict(CHILD_FORM, csrf_token=token), status=403)
    testapp.post(f"/mon-compte/membres/{pending['child']}/modifier",
                 dict(CHILD_FORM, csrf_token=token), status=403)
    testapp.post(f"/mon-compte/membres/{pending['child']}/retirer",
                 {"csrf_token": token, "member_id": pending["child"], "confirm": "1"}, status=403)
    response = testapp.post("/mon-compte/communication", {"csrf_token": token, "communication": "phone",
                                                          "save": "save"}, status=403)
    assert GATE in response.text
    with portal_tx() as portal:
        household = _household(portal, pending)
        assert len(household.members) == before
        assert household.members[pending["child"]].first_names == "Lucas"
        assert not household.members[pending["child"]].removed
        assert household.communication == "email"
        assert len(portal["outbox"]) == count_before


def test_refused_account_cannot_be_modified(testapp, pending, portal_tx):
    from compte_citoyen.authentication.models import REFUSED
    with portal_tx() as portal:
        account = portal["accounts"].get_by_code("jdupont")
        portal["accounts"].set_state(account, REFUSED)
        account.refusal_reason = "adresse hors de la commune"
    response = testapp.get("/mon-compte/ajouter/enfant")
    if response.status_int == 302:  # the accounts area may end a refused account's session
        return
    assert "adresse hors de la commune" in response.text


def test_my_data_and_my_account_pages_stay_open_before_validation(testapp, pending):
    assert testapp.get("/mon-compte").status_int == 200
    assert testapp.get("/mon-compte/mes-donnees.json").status_int == 200


# --- access control ----------------------------------------------------------------------------------------

@pytest.fixture
def other(portal_tx):
    return _make(portal_tx, True, code="voisin", family_name="Martin", first_names="Paul",
                 email="paul.martin@example.org")


def test_another_households_member_by_url_is_404(testapp, validated, other, portal_tx):
    victim = other["child"]
    testapp.get(f"/mon-compte/membres/{victim}", status=404)
    testapp.get(f"/mon-compte/membres/{victim}/modifier", status=404)
    testapp.get(f"/mon-compte/membres/{victim}/retirer", status=404)
    token = _token(testapp.get("/mon-compte"))
    testapp.post(f"/mon-compte/membres/{victim}/modifier", dict(CHILD_FORM, csrf_token=token), status=404)
    testapp.post(f"/mon-compte/membres/{victim}/retirer",
                 {"csrf_token": token, "member_id": victim, "confirm": "1"}, status=404)
    with portal_tx() as portal:
        child = portal["households"][other["household"]].members[victim]
        assert child.first_names == "Lucas" and child.family_name == "Martin" and not child.removed


def test_another_households_member_by_crafted_field_is_404(testapp, validated, other, portal_tx):
    own = validated["child"]
    url = f"/mon-compte/membres/{own}/retirer"
    token = _token(testapp.get(url))
    testapp.post(url, {"csrf_token": token, "member_id": other["child"], "confirm": "1"}, status=404)
    # extra fields naming another household or member are ignored by the edit form
    _post_form(testapp, f"/mon-compte/membres/{own}/modifier",
               dict(CHILD_FORM, member_id=other["child"], household_id=other["household"]), status=302)
    with portal_tx() as portal:
        theirs = portal["households"][other["household"]].members[other["child"]]
        assert not theirs.removed and theirs.first_names == "Lucas"
        assert not portal["households"][validated["household"]].members[own].removed
        assert portal["households"][validated["household"]].members[own].first_names == "Léa"


def test_removed_or_unknown_member_is_404(testapp, validated):
    testapp.get("/mon-compte/membres/0000000000000001", status=404)
    testapp.get("/mon-compte/membres/../modifier", status=404)


# --- my data, closure ----------------------------------------------------------------------------------------

def test_my_data_downloads_everything_but_secrets(testapp, validated, portal_tx):
    response = testapp.get("/mon-compte/mes-donnees.json")
    assert response.content_type == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.body)
    assert data["account"]["code"] == "jdupont" and data["account"]["state"] == "validated"
    assert data["household"]["family_name"] == "Dupont"
    assert {m["first_names"] for m in data["members"]} == {"Jeanne", "Lucas"}
    text = response.body.decode("utf-8")
    assert "argon2" not in text and "Médor" not in text and "password_hash" not in text
    with portal_tx() as portal:
        assert any(e.action == "data-exported" for e in portal["journal"].latest(5))


def test_ask_for_closure_is_journaled_and_listed_for_staff(testapp, validated, portal_tx):
    page = testapp.get("/mon-compte/cloture")
    testapp.post("/mon-compte/cloture", {"csrf_token": _token(page), "confirm": "1", "reason": "déménagement"},
                 status=302)
    assert "Vous avez demandé la clôture" in testapp.get("/mon-compte/cloture").text
    with portal_tx() as portal:
        household = _household(portal, validated)
        assert household.closure_requested_at is not None
        assert [h.id for h in portal["households"].waiting_closures()] == [household.id]
        entries = portal["journal"].for_target("account:jdupont")
        assert any(e.action == "closure-requested" and e.detail == "déménagement" for e in entries)


def test_my_data_includes_requests_messages_and_invoices_when_available(testapp, validated, portal_tx):
    # a change queues an acknowledgement: it must appear among the messages
    page = testapp.get("/mon-compte/communication")
    testapp.post("/mon-compte/communication", {"csrf_token": _token(page), "communication": "phone",
                                               "save": "save"}, status=302)
    data = json.loads(testapp.get("/mon-compte/mes-donnees.json").body)
    assert any(m["kind"] == "acknowledgement" for m in data["messages"])
    assert "requests" in data and isinstance(data["requests"], list)
    assert any(e["action"] == "communication-changed" for e in data["journal"])


def test_home_says_what_is_waiting_for_the_citizen(testapp, validated, monkeypatch):
    import compte_citoyen.procedures as procedures

    class Req:
        number, procedure_title, step, step_title = "2026-000007", "Inscription scolaire", 2, "En cours"
        status, member_name, created = "waiting_documents", "Lucas Dupont", dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)

    class Done(Req):
        number, step, status = "2026-000001", 4, "done"

    monkeypatch.setattr(procedures, "requests_for_household", lambda portal, hid, limit: [Req(), Done()],
                        raising=False)
    html = testapp.get("/accueil").text
    waiting = html.split("Ce qui vous attend")[1].split("</section>")[0]
    assert "Demande 2026-000007 : présentez-vous au guichet" in waiting
    assert "2026-000001" not in waiting
