"""Back office for requests: queues per service, filters through the indexes, actions, journal."""
import datetime
import re

import pytest
import webtest

from compte_citoyen.household.workdays import local_today
from compte_citoyen.testing import (
    create_child, create_citizen, create_staff, file_request, login_citizen, login_staff, pdf_bytes,
)


@pytest.fixture
def requests_data(registry, portal_tx):
    """A household with a bulky-item pick-up and a school enrolment, and an anonymous birth certificate."""
    with portal_tx() as portal:
        _account, household = create_citizen(portal, family_name="Dupont")
        child = create_child(household, "Lucas")
        _account2, other = create_citizen(portal, code="lmartin", family_name="Martin", first_names="Louise",
                                          email="louise@example.org")
        bulky = file_request(registry, portal, "encombrants", household=household)
        school = file_request(registry, portal, "inscription_scolaire", household=household, member=child,
                              paper=("address_proof", "family_book", "vaccinations"))
        birth = file_request(registry, portal, "acte_naissance")
        other_bulky = file_request(registry, portal, "encombrants", household=other)
        staff = {
            "voirie": create_staff(portal, "agent-voirie", roles=("agent",), services=("voirie",)).totp_secret,
            "scolaire": create_staff(portal, "agent-ecole", roles=("agent",), services=("scolaire",)).totp_secret,
            "admin": create_staff(portal, "chef", roles=("admin",)).totp_secret,
            "validator": create_staff(portal, "valideur", roles=("validator",)).totp_secret,
        }
        return {"bulky": bulky.number, "school": school.number, "birth": birth.number,
                "other_bulky": other_bulky.number, "staff": staff, "household": household.id}


def as_staff(testapp, login, secret):
    response = login_staff(testapp, login, totp_secret=secret)
    assert response.status_int == 302, response.text[:500]
    return testapp


def csrf(response):
    return re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)


def post_action(testapp, number, expect=302, **fields):
    page = testapp.get(f"/backoffice/demandes/{number}")
    return testapp.post(f"/backoffice/demandes/{number}", {"csrf_token": csrf(page), **fields}, status=expect)


def numbers_listed(response):
    return re.findall(r'/backoffice/demandes/(\d{4}-\d{6})"', response.text)


def test_agent_sees_only_their_service(testapp, requests_data):
    as_staff(testapp, "agent-voirie", requests_data["staff"]["voirie"])
    listed = numbers_listed(testapp.get("/backoffice/demandes"))
    assert sorted(listed) == sorted([requests_data["bulky"], requests_data["other_bulky"]])
    testapp.get(f"/backoffice/demandes/{requests_data['school']}", status=404)
    testapp.get(f"/backoffice/demandes/{requests_data['birth']}", status=404)
    # acting on another service's request is refused too
    page = testapp.get(f"/backoffice/demandes/{requests_data['bulky']}")
    testapp.post(f"/backoffice/demandes/{requests_data['school']}",
                 {"csrf_token": csrf(page), "action": "status", "status": "done"}, status=404)
    testapp.get(f"/backoffice/demandes/{requests_data['school']}/pieces/address_proof", status=404)
    # searching by number does not reveal it either
    response = testapp.get("/backoffice/demandes", {"q": requests_data["school"]})
    assert numbers_listed(response) == []


def test_admin_sees_every_service(testapp, requests_data):
    as_staff(testapp, "chef", requests_data["staff"]["admin"])
    listed = numbers_listed(testapp.get("/backoffice/demandes"))
    assert len(listed) == 4
    assert testapp.get(f"/backoffice/demandes/{requests_data['birth']}").status_int == 200


def test_other_roles_and_citizens_cannot_reach_the_queue(testapp, requests_data):
    as_staff(testapp, "valideur", requests_data["staff"]["validator"])
    testapp.get("/backoffice/demandes", status=403)
    testapp.get(f"/backoffice/demandes/{requests_data['bulky']}", status=403)
    citizen = webtest.TestApp(testapp.app, extra_environ={"REMOTE_ADDR": "192.0.2.30", "HTTP_HOST": "localhost"})
    login_citizen(citizen)
    citizen.get("/backoffice/demandes", status=403)
    anonymous = webtest.TestApp(testapp.app, extra_environ={"REMOTE_ADDR": "192.0.2.31", "HTTP_HOST": "localhost"})
    assert "/backoffice/connexion" in anonymous.get("/backoffice/demandes", status=302).location


def test_filters_and_search_through_the_indexes(testapp, requests_data, registry, portal_tx):
    as_staff(testapp, "chef", requests_data["staff"]["admin"])
    by_theme = numbers_listed(testapp.get("/backoffice/demandes", {"theme": "scolaire"}))
    assert by_theme == [requests_data["school"]]
    by_name = numbers_listed(testapp.get("/backoffice/demandes", {"q": "dup"}))  # prefix, any case
    assert sorted(by_name) == sorted([requests_data["bulky"], requests_data["school"]])
    assert numbers_listed(testapp.get("/backoffice/demandes", {"q": "Louise Martin"})) == \
        [requests_data["other_bulky"]]
    assert numbers_listed(testapp.get("/backoffice/demandes", {"q": "lucas"})) == [requests_data["school"]]
    assert numbers_listed(testapp.get("/backoffice/demandes", {"q": "Durand"})) == [requests_data["birth"]]
    response = testapp.get("/backoffice/demandes", {"q": requests_data["birth"]})
    assert response.status_int == 302 and response.location.endswith(f"/backoffice/demandes/{requests_data['birth']}")
    with portal_tx() as portal:
        from compte_citoyen.procedures.demo import demo_request
        from compte_citoyen.procedures.workflow import change_status
        change_status(demo_request(portal, registry), portal, portal["submissions"][requests_data["bulky"]],
                      "in_progress")
    assert numbers_listed(testapp.get("/backoffice/demandes", {"etape": "2"})) == [requests_data["bulky"]]
    assert len(numbers_listed(testapp.get("/backoffice/demandes", {"etape": "1"}))) == 3
    today = local_today()  # the dates typed by staff are days in Paris (from 23:00 UTC, tomorrow's)
    assert len(numbers_listed(testapp.get("/backoffice/demandes", {"du": today.isoformat()}))) == 4
    tomorrow = (today + datetime.timedelta(days=1)).isoformat()
    assert numbers_listed(testapp.get("/backoffice/demandes", {"du": tomorrow})) == []
    response = testapp.get("/backoffice/demandes", {"du": "pas une date"})
    assert "Saisissez une date valide" in response.text and 'aria-invalid="true"' in response.text


def test_search_reads_indexes_not_every_request(registry, requests_data, portal_tx):
    """The staff's search works on index keys: it loads only the requests it returns."""
    with portal_tx() as portal:
        folder = portal["submissions"]
        portal._p_jar.cacheMinimize()
        rows, _total, more = folder.queue_page(services=["voirie"], step=1, name="dupont")
        assert [s.number for s in rows] == [requests_data["bulky"]] and not more
        # every other request is still a ghost: the search read index keys only
        assert all(submission._p_changed is None for number, submission in folder.data.items()
                   if number != requests_data["bulky"])


def test_status_decision_documents_note_journaled(testapp, requests_data, portal_tx):
    number = requests_data["school"]
    as_staff(testapp, "agent-ecole", requests_data["staff"]["scolaire"])
    page = testapp.get(f"/backoffice/demandes/{number}")
    assert "Justificatif de domicile de moins de 3 mois" in page.text and "Marquer comme reçue" in page.text
    post_action(testapp, number, action="status", status="in_progress").follow()
    response = post_action(testapp, number, expect=400, action="status", status="nimporte")
    assert "Choisissez un statut de la liste." in response.text
    # documents at the counter: an information message and the "waiting" status
    post_action(testapp, number, action="ask_documents", documents=["family_book", "vaccinations"],
                comment="Du lundi au vendredi, 9 h - 12 h.")
    post_action(testapp, number, action="paper_received", document="family_book")
    post_action(testapp, number, expect=400, action="paper_received", document="nimporte")
    # a refusal needs its motive
    response = post_action(testapp, number, expect=400, action="decision", decision="refused", motive="")
    assert "Un refus doit être motivé" in response.text
    post_action(testapp, number, action="decision", decision="refused", motive="École complète, voyez la mairie.")
    post_action(testapp, number, action="note", note="Famille rappelée le 12.")
    response = post_action(testapp, number, expect=400, action="note", note="  ")
    assert "Saisissez la note." in response.text
    tomorrow = (local_today() + datetime.timedelta(days=1)).isoformat()  # a day in Paris
    post_action(testapp, number, action="information", text="Rendez-vous confirmé.", send_on=tomorrow)
    with portal_tx() as portal:
        submission = portal["submissions"][number]
        assert submission.status == "refused" and submission.step == 3 and submission.decision == "refused"
        assert submission.documents["family_book"].received_at is not None
        assert [n.text for n in submission.notes] == ["Famille rappelée le 12."]
        messages = portal["outbox"].for_request(number)
        kinds = [m.kind for m in messages]
        assert kinds.count("decision") == 1 and kinds.count("information") == 2
        decision = [m for m in messages if m.kind == "decision"][0]
        assert "refusée" in decision.text and "École complète, voyez la mairie." in decision.text
        asked = [m for m in messages if "Livret de famille" in m.text][0]
        assert "Carnet de santé" in asked.text and "9 h - 12 h" in asked.text
        later = [m for m in messages if "Rendez-vous confirmé." in m.text][0]
        assert later.send_after.date() >= local_today()
        actions = [e.action for e in portal["journal"].for_target(number)]
        for action in ("request.view", "request.status", "request.ask_documents", "request.paper_received",
                       "request.decision", "request.note", "request.information"):
            assert action in actions, action
        note_entry = [e for e in portal["journal"].for_target(number) if e.action == "request.note"][0]
        assert "Famille" not in note_entry.detail  # the note's text stays in the request, not the journal
        assert [e for e in portal["journal"].for_target(number)][0].actor == "staff:agent-ecole"


def test_internal_notes_invisible_to_the_citizen(testapp, requests_data, registry, portal_tx):
    from compte_citoyen.procedures.demo import demo_request
    from compte_citoyen.procedures.workflow import add_note
    from compte_citoyen.testing import pdf_text
    number = requests_data["bulky"]
    with portal_tx() as portal:
        add_note(demo_request(portal, registry), portal, portal["submissions"][number], "Voisin bruyant, prudence")
    login_citizen(testapp)
    assert "Voisin bruyant" not in testapp.get(f"/demandes/{number}").text
    assert "Voisin bruyant" not in pdf_text(testapp.get(f"/demandes/{number}.pdf").body)


def test_download_an_attachment(testapp, requests_data, registry, portal_tx):
    from compte_citoyen.procedures.models import Attachment, RequestDocument
    data = pdf_bytes()
    with portal_tx() as portal:
        submission = portal["submissions"][requests_data["school"]]
        submission.documents["address_proof"] = RequestDocument(
            "address_proof", "Justificatif de domicile", True, "file",
            Attachment("address_proof", "facture édf.pdf", "application/pdf", data))
        submission._p_changed = True  # the documents live in the request's record
    as_staff(testapp, "agent-ecole", requests_data["staff"]["scolaire"])
    assert "Télécharger" in testapp.get(f"/backoffice/demandes/{requests_data['school']}").text
    response = testapp.get(f"/backoffice/demandes/{requests_data['school']}/pieces/address_proof")
    assert response.body == data and response.content_type == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    assert "filename*=UTF-8''facture%20%C3%A9df.pdf" in response.headers["Content-Disposition"]
    testapp.get(f"/backoffice/demandes/{requests_data['school']}/pieces/family_book", status=404)
    with portal_tx() as portal:
        assert "request.attachment" in [e.action for e in portal["journal"].for_target(requests_data["school"])]


def test_decision_on_anonymous_request_emails_the_requester(testapp, requests_data, portal_tx):
    number = requests_data["birth"]
    as_staff(testapp, "chef", requests_data["staff"]["admin"])
    post_action(testapp, number, action="decision", decision="accepted", motive="")
    post_action(testapp, number, action="status", status="done")
    with portal_tx() as portal:
        submission = portal["submissions"][number]
        assert submission.step == 4
        decision = [m for m in portal["outbox"].for_request(number) if m.kind == "decision"][0]
        assert decision.email == "marie.durand@example.org" and decision.channel == "email"
        assert "accordée" in decision.text


def test_decision_follows_the_household_preference(testapp, registry, portal_tx):
    with portal_tx() as portal:
        _account, household = create_citizen(portal, communication="sms")
        number = file_request(registry, portal, "encombrants", household=household).number
        secret = create_staff(portal, "agent", roles=("agent",), services=("voirie",)).totp_secret
    as_staff(testapp, "agent", secret)
    post_action(testapp, number, action="decision", decision="accepted", motive="Passage le matin.")
    with portal_tx() as portal:
        decision = [m for m in portal["outbox"].for_request(number) if m.kind == "decision"][0]
        assert decision.channel == "sms" and decision.phone == "0612345678"


def test_refused_pickup_cancels_its_reminder(testapp, registry, portal_tx):
    with portal_tx() as portal:
        _account, household = create_citizen(portal)
        number = file_request(registry, portal, "encombrants", household=household).number
        reminder_id = portal["submissions"][number].data["reminder_id"]
        assert portal["outbox"][reminder_id].state == "queued"
        secret = create_staff(portal, "agent", roles=("agent",), services=("voirie",)).totp_secret
    as_staff(testapp, "agent", secret)
    post_action(testapp, number, action="decision", decision="refused", motive="Objets non acceptés.")
    with portal_tx() as portal:
        assert portal["outbox"][reminder_id].state == "cancelled"


def test_received_count_for_the_dashboard(registry, requests_data, portal_tx):
    from compte_citoyen.procedures.backoffice import received_count

    class Req:
        def __init__(self, portal, staff):
            self.app_root = portal
            self.identity = staff
    with portal_tx() as portal:
        assert received_count(Req(portal, portal["staff"]["agent-voirie"])) == 2
        assert received_count(Req(portal, portal["staff"]["chef"])) == 4
