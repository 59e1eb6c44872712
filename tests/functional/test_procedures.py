"""Procedures: the registry fed by plugins, "Les Services", the guided form, "Mes Demandes", PDFs."""
import datetime
import re

import pluggy
import pytest
from pyramid.exceptions import ConfigurationError

from compte_citoyen.procedures.workflow import purge_drafts
from compte_citoyen.testing import (
    create_child, create_citizen, file_request, form_page, login_citizen, pdf_text,
)

NUMBER_RE = re.compile(r"^\d{4}-\d{6}$")


@pytest.fixture
def citizen(portal_tx):
    with portal_tx() as portal:
        account, household = create_citizen(portal)  # not validated: procedures stay open
        create_child(household, "Lucas")
        create_child(household, "Emma", birth_date=datetime.date(2019, 3, 4))
        return household.id


@pytest.fixture
def logged_in(testapp, citizen):
    assert login_citizen(testapp).status_int == 302
    return citizen


def main_text(response) -> str:
    return response.text[response.text.index("<main"):response.text.index("</main>")]


# --- registry --------------------------------------------------------------------------------------------

def test_registry_built_from_the_plugins(registry):
    from compte_citoyen.procedures.registry import get_registry
    procedures = get_registry(registry)
    assert {"etat_civil", "voirie", "scolaire"} <= set(procedures.themes)
    assert {p.code for p in procedures.public_procedures()} == {"acte_naissance", "acte_mariage", "acte_deces"}
    bulky = procedures.get("encombrants")
    assert bulky.plugin == "voirie" and bulky.theme_code == "voirie" and bulky.service == "voirie"
    assert procedures.get("acte_naissance").captcha and not procedures.get("acte_naissance").account_required
    assert procedures.services() == ["etat_civil", "scolaire", "voirie"]


def _plugin(code, title="Démarche"):
    from compte_citoyen.plugins import hookimpl
    from compte_citoyen.procedures.registry import Procedure, Theme

    class Plugin:
        @staticmethod
        @hookimpl
        def compte_citoyen_register_themes(settings):
            return [Theme("autre", "Autre", [Procedure(code, title, steps=[("Page", lambda request: None)])])]
    return Plugin()


def test_duplicate_procedure_code_names_both_plugins(settings):
    from compte_citoyen.plugins import hookspecs
    from compte_citoyen.procedures.registry import build_registry
    pm = pluggy.PluginManager("compte_citoyen")
    pm.add_hookspecs(hookspecs)
    pm.register(_plugin("encombrants"), name="premier_plugin")
    pm.register(_plugin("encombrants", "Copie"), name="second_plugin")
    with pytest.raises(ConfigurationError) as info:
        build_registry(pm, settings)
    assert "encombrants" in str(info.value)
    assert "premier_plugin" in str(info.value) and "second_plugin" in str(info.value)


def test_duplicate_code_with_a_shipped_plugin_stops_the_start(settings, monkeypatch):
    """A plugin reusing a shipped code is refused when the application starts, naming both plugins."""
    from compte_citoyen import main, plugins
    real = plugins.make_plugin_manager

    def with_intruder(active):
        pm = real(active)
        pm.register(_plugin("acte_naissance"), name="intrus")
        return pm
    monkeypatch.setattr(plugins, "make_plugin_manager", with_intruder)
    with pytest.raises(ConfigurationError, match="acte_naissance.*etat_civil.*intrus|acte_naissance.*intrus.*etat"):
        main({}, **settings)


def test_a_status_must_map_onto_one_of_the_4_steps():
    from compte_citoyen.procedures.registry import Procedure, ProcedureRegistry, Status, Theme
    procedure = Procedure("x", "X", steps=[("Page", lambda r: None)], workflow=(Status("odd", "Odd", 5),))
    with pytest.raises(ConfigurationError, match="step"):
        ProcedureRegistry().add_theme(Theme("t", "T", [procedure]), "broken_plugin")


# --- "Les Services" ----------------------------------------------------------------------------------------------

def test_services_lists_themes_then_procedures(testapp, logged_in):
    html = main_text(testapp.get("/services"))
    assert html.count("<h1") == 1
    for title in ("Voirie et environnement", "Scolaire et périscolaire", "État civil"):
        assert title in html
    html = main_text(testapp.get("/services/scolaire"))
    assert "Inscription scolaire" in html and "Inscription à la restauration scolaire et au périscolaire" in html
    assert "Justificatif de domicile de moins de 3 mois" in html
    testapp.get("/services/inconnu", status=404)
    testapp.get("/services/voirie/inscription_scolaire", status=404)  # a procedure of another theme


def test_services_need_an_account(testapp):
    assert "/connexion" in testapp.get("/services", status=302).location
    assert "/connexion" in testapp.get("/services/voirie/encombrants", status=302).location


def test_bulky_item_pickup_journey(testapp, logged_in, portal_tx):
    """Pre-filled from the household, errors in French tied to fields, "Précédent" keeps what was typed,
    a readable number, the acknowledgement and the reminder queued — before the account is validated."""
    response = testapp.get("/services/voirie/encombrants")
    html = main_text(response)
    assert "Étape 1 sur 4" in html and "Adresse et date" in html
    form = form_page(response)
    assert form["address"].value == "12 rue des Lilas" and form["postcode"].value == "75001"
    assert form["phone"].value == "0612345678"  # from the holder: nothing typed twice
    form["postcode"] = "7500"
    response = form.submit("next")
    assert response.status_int == 200
    html = main_text(response)
    assert "Un code postal comporte 5 chiffres" in html
    assert "Choisissez une date d'enlèvement." in html
    postcode_id = re.search(r'<input type="text" name="postcode" value="[^"]*" id="([^"]+)"', html).group(1)
    assert re.search(rf'id="{postcode_id}"[^>]*aria-invalid="true"', html)
    assert f'id="error-{postcode_id}"' in html
    form = form_page(response)
    assert form["postcode"].value == "7500"  # kept as typed
    form["postcode"] = "75001"
    first_date = form.fields["pickup_date"][0].options[1][0]
    form["pickup_date"] = first_date
    response = form.submit("next")
    assert response.status_int == 302 and "/brouillons/" in response.location and "etape=2" in response.location
    response = response.follow()
    assert "Étape 2 sur 4" in response.text
    form = form_page(response)
    form["items"] = "1 armoire normande"
    response = form.submit("previous").follow()
    assert "Étape 1 sur 4" in response.text
    assert form_page(response)["pickup_date"].value == first_date
    response = form_page(response).submit("next").follow()
    form = form_page(response)
    assert form["items"].value == "1 armoire normande"  # "Précédent" kept what was typed
    form.fields["checkbox"][2].checked = True
    response = form.submit("next").follow()
    assert "Étape 3 sur 4" in response.text and "Je l'apporterai au guichet" in response.text
    response = form_page(response).submit("next").follow()
    html = main_text(response)
    assert "Étape 4 sur 4" in html and "1 armoire normande" in html and "Gros électroménager" in html
    review_url = response.request.url
    response = form_page(response).submit("submit")
    assert response.status_int == 302
    number = response.location.rsplit("/", 1)[1]
    assert NUMBER_RE.match(number)
    html = main_text(response.follow())
    assert number in html and "Reçue" in html and "étape 1 sur 4" in html
    testapp.get(review_url, status=404)  # the draft of a request sent can no longer be opened

    pickup = datetime.date.fromisoformat(first_date)
    with portal_tx() as portal:
        submission = portal["submissions"][number]
        assert submission.household_id == logged_in and submission.step == 1 and submission.status == "received"
        assert submission.answer("items") == "1 armoire normande"
        assert submission.data["pickup_date"] == pickup
        assert not portal["accounts"].get_by_code("jdupont").validated
        messages = {m.kind: m for m in portal["outbox"].for_request(number)}
        assert messages["acknowledgement"].email == "jeanne.dupont@example.org"
        assert number in messages["acknowledgement"].text
        reminder = messages["information"]
        assert f"sortir vos encombrants dans la rue le {pickup:%d/%m/%Y}" in reminder.text
        paris = reminder.send_after.astimezone(datetime.timezone(datetime.timedelta(hours=1)))
        assert reminder.send_after.astimezone(
            __import__("zoneinfo").ZoneInfo("Europe/Paris")).date() == pickup - datetime.timedelta(days=1)
        assert paris.tzinfo is not None
        folder = portal["procedure_drafts"]
        draft = next(iter(folder.values()))
        assert not folder.is_open(draft) and not list(folder.for_owner(draft.owner))  # nor listed once filed
        # out of the folder at its expiry, a day after its last page at most
        assert purge_drafts(portal, draft.expires + datetime.timedelta(seconds=1)) == 1 and len(folder) == 0
        assert [e.action for e in portal["journal"].for_target(number)] == ["request.submit"]


def test_save_the_draft_and_resume_it(testapp, logged_in, portal_tx):
    response = testapp.get("/services/voirie/encombrants")
    form = form_page(response)
    form["pickup_date"] = form.fields["pickup_date"][0].options[0][0]
    response = form.submit("next").follow()
    form = form_page(response)
    form["items"] = "1 vieux buffet"
    response = form.submit("save_draft").follow()
    assert "Votre brouillon est enregistré" in response.text
    draft_url = re.search(r'action="(http://localhost/brouillons/[^"?]+)', response.text).group(1)
    listing = main_text(testapp.get("/demandes"))
    assert "Vos brouillons" in listing and "Enlèvement des encombrants" in listing
    response = testapp.get(draft_url)
    assert "Étape 2 sur 4" in response.text and form_page(response)["items"].value == "1 vieux buffet"
    assert "Vous avez conservé un brouillon" in testapp.get("/services/voirie/encombrants").text
    # another household cannot open it
    import webtest
    other = webtest.TestApp(testapp.app, extra_environ={"REMOTE_ADDR": "192.0.2.11", "HTTP_HOST": "localhost"})
    with portal_tx() as portal:
        create_citizen(portal, code="autre", email="autre@example.org", family_name="Autre")
    login_citizen(other, "autre")
    other.get(draft_url, status=404)
    # give up: the draft is deleted
    response = testapp.get(draft_url)
    discard = [f for f in response.forms.values() if "discard" in f.fields][0]
    discard.submit("discard").follow()
    testapp.get(draft_url, status=404)


def test_pages_cannot_be_skipped(testapp, logged_in):
    response = testapp.get("/services/voirie/encombrants")
    form = form_page(response)
    form["pickup_date"] = form.fields["pickup_date"][0].options[0][0]
    location = form.submit("next").location
    response = testapp.get(location.replace("etape=2", "etape=4"))
    assert "Étape 2 sur 4" in response.text


def test_a_childs_procedure_offers_the_children(testapp, logged_in):
    response = testapp.get("/services/scolaire/inscription_scolaire")
    html = main_text(response)
    assert "Enfant à inscrire" in html
    assert "Lucas Dupont" in html and "Emma Dupont" in html and "Jeanne Dupont" not in html
    form = form_page(response)
    response = form.submit("next")
    assert "Choisissez la personne concernée par la demande." in main_text(response)


def test_a_childs_procedure_without_children_explains(testapp, portal_tx):
    with portal_tx() as portal:
        create_citizen(portal, code="seule")
    login_citizen(testapp, "seule")
    html = main_text(testapp.get("/services/scolaire/periscolaire"))
    assert "un enfant du foyer" in html and "Modifier mon compte" in html


def test_school_form_prefilled_from_the_child(testapp, portal_tx):
    with portal_tx() as portal:
        _account, household = create_citizen(portal, code="ecole")
        create_child(household, "Zoé", school="École Louise Michel")
    login_citizen(testapp, "ecole")
    response = testapp.get("/services/scolaire/periscolaire")
    form = form_page(response)
    assert form["member"].value  # the only child is pre-selected
    response = form.submit("next").follow()
    assert form_page(response)["school"].value == "École Louise Michel"


# --- "Mes Demandes", detail, PDF -------------------------------------------------------------------------------------

def test_my_requests_lists_sorts_and_paginates(testapp, logged_in, registry, portal_tx):
    with portal_tx() as portal:
        household = portal["households"][logged_in]
        child = household.children()[0]
        numbers = [file_request(registry, portal, "encombrants", household=household).number for _ in range(21)]
        numbers.append(file_request(registry, portal, "periscolaire", household=household, member=child).number)
    response = testapp.get("/demandes")
    html = main_text(response)
    assert html.count("<h1") == 1
    rows = re.findall(r'href="http://localhost/demandes/(\d{4}-\d{6})\.pdf"', html)
    assert len(rows) == 20 and rows[0] == numbers[-1]  # newest first
    assert 'aria-sort="descending"' in html
    assert "Lucas Dupont" in html and "Inscription à la restauration scolaire" in html
    assert "étape 1 sur 4" in html
    page2 = re.findall(r'/demandes/(\d{4}-\d{6})\.pdf', testapp.get("/demandes?tri=date&ordre=desc&page=2").text)
    assert page2 == [numbers[1], numbers[0]]
    by_number = re.findall(r'/demandes/(\d{4}-\d{6})\.pdf', testapp.get("/demandes?tri=numero&ordre=asc").text)
    assert by_number == sorted(numbers)[:20]
    by_procedure = main_text(testapp.get("/demandes?tri=demarche&ordre=desc"))
    assert by_procedure.index("Inscription à la restauration") < by_procedure.index("Enlèvement des encombrants")
    assert "Inscription à la restauration" not in main_text(testapp.get("/demandes?tri=demarche&ordre=asc"))
    assert 'aria-current="page"' in html and "Page suivante" in html
    testapp.get("/demandes?tri=nimporte&page=xyz")  # bad parameters fall back to defaults


def test_other_households_request_and_pdf_are_404(testapp, logged_in, registry, portal_tx):
    with portal_tx() as portal:
        _account, other = create_citizen(portal, code="voisin", family_name="Voisin")
        theirs = file_request(registry, portal, "encombrants", household=other).number
        mine = file_request(registry, portal, "encombrants", household=portal["households"][logged_in]).number
    testapp.get(f"/demandes/{theirs}.pdf", status=404)
    testapp.get(f"/demandes/{theirs}", status=404)
    testapp.get("/demandes/2099-999999.pdf", status=404)
    assert testapp.get(f"/demandes/{mine}.pdf").content_type == "application/pdf"


def test_pdf_detail(testapp, logged_in, registry, portal_tx):
    with portal_tx() as portal:
        household = portal["households"][logged_in]
        submission = file_request(registry, portal, "inscription_scolaire", household=household,
                                  member=household.children()[0], paper=("address_proof",))
        number = submission.number
    response = testapp.get(f"/demandes/{number}.pdf")
    assert response.content_type == "application/pdf"
    assert response.body.startswith(b"%PDF-")
    assert "inline" in response.headers["Content-Disposition"]
    body = response.body
    assert b"/Lang (fr-FR)" in body
    assert re.search(rb"/Title \(Demande " + number.encode(), body)
    assert b"/Author" in body and b"/Subject" in body
    text = " ".join(pdf_text(body).split())
    for expected in ("Inscription scolaire", "Lucas Dupont", "Justificatif de domicile de moins de 3 mois",
                     "Attendue au guichet", "Historique", "Reçue", "Niveau de classe"):
        assert expected in text, expected


def test_requests_for_household(registry, portal_tx):
    from compte_citoyen.procedures import requests_for_household
    with portal_tx() as portal:
        _account, household = create_citizen(portal)
        first = file_request(registry, portal, "encombrants", household=household)
        second = file_request(registry, portal, "encombrants", household=household)
        assert NUMBER_RE.match(first.number) and first.number != second.number
        found = requests_for_household(portal, household.id)
        assert [r.number for r in found] == [second.number, first.number]
        assert [r.number for r in requests_for_household(portal, household.id, limit=1)] == [second.number]
        assert requests_for_household(portal, "nobody") == []
        request = found[0]
        assert (request.step, request.member_name, request.procedure_title) == (1, "", "Enlèvement des encombrants")
        assert request.created.tzinfo is not None


def test_accueil_shows_the_requests_with_their_progress(testapp, logged_in, registry, portal_tx):
    with portal_tx() as portal:
        number = file_request(registry, portal, "encombrants", household=portal["households"][logged_in]).number
    html = testapp.get("/accueil").text
    assert number in html and "étape 1 sur 4" in html


def test_each_shipped_procedure_accepts_valid_answers(registry, portal_tx):
    """Every shipped procedure's pages validate the answers of ``testing.file_request`` (good input)."""
    with portal_tx() as portal:
        _account, household = create_citizen(portal)
        child = create_child(household)
        for code in ("encombrants", "inscription_scolaire", "periscolaire", "acte_naissance"):
            submission = file_request(registry, portal, code, household=household,
                                      member=child if code in ("inscription_scolaire", "periscolaire") else None)
            assert submission.summary and all(lines for _title, lines in submission.summary)


def test_demo_requests(registry, portal_tx):
    from compte_citoyen.billing.demo import create_demo_household
    from compte_citoyen.procedures.demo import compte_citoyen_demo_data
    with portal_tx() as portal:
        create_demo_household(portal)
        lines = compte_citoyen_demo_data(portal, registry)
    assert any("terminée" in line for line in lines)
    with portal_tx() as portal:
        steps = sorted(s.step for s in portal["submissions"].values())
        assert steps == [1, 2, 3, 4]
        household = portal["households"][portal["accounts"].get_by_code("demo").household_id]
        assert len(portal["submissions"].keys_for_household(household.id)) == 3


def test_expired_drafts_are_purged(testapp, logged_in, portal_tx, tmp_path, settings):
    response = testapp.get("/services/voirie/encombrants")
    form = form_page(response)
    form["pickup_date"] = form.fields["pickup_date"][0].options[0][0]
    draft_url = form.submit("next").location
    with portal_tx() as portal:
        assert len(portal["procedure_drafts"]) == 1
        assert purge_drafts(portal) == 0
        later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
        assert purge_drafts(portal, later) == 1
        assert len(portal["procedure_drafts"]) == 0 and not portal["procedure_drafts"].expiry
    testapp.get(draft_url, status=404)


def test_purge_drafts_command(tmp_path, capsys):
    from compte_citoyen import cli
    from compte_citoyen.testing import base_settings, write_ini
    ini = write_ini(tmp_path / "test.ini", base_settings(tmp_path))
    assert cli.main([ini, "purge-drafts"]) == 0
    assert "0 expired draft(s) removed" in capsys.readouterr().out
