"""Civil-status certificates without an account: cryptogramme, e-mailed tracking link, rate limit."""
import re

import webtest

from compte_citoyen.testing import FIXED_CAPTCHA, SMTPServer, create_citizen, form_page, login_citizen

BIRTH = "/services/etat_civil/acte_naissance"


def fill_birth_certificate(testapp, *, document_type="copie_integrale", quality="self", email="paul@example.org"):
    """Pages 1 and 2 of a birth certificate request; returns the review page."""
    response = testapp.get(BIRTH)
    form = form_page(response)
    form["person_family_name"] = "Bernard"
    form["person_first_names"] = "Paul Henri"
    form["date"] = "1990-05-04"
    form["father_family_name"] = "Bernard"
    form["document_type"] = document_type
    form["copies"] = "2"
    form["quality"] = quality
    response = form.submit("next")
    assert response.status_int == 302, response.text
    form = form_page(response.follow())
    form["family_name"] = "Bernard"
    form["first_names"] = "Paul"
    form["email"] = email
    form["address"] = "8 rue du Port"
    form["postcode"] = "13002"
    form["city"] = "Marseille"
    response = form.submit("next")
    assert response.status_int == 302, response.text
    return response.follow()


def submit_review(response, answer=FIXED_CAPTCHA, **kw):
    form = form_page(response)
    form["captcha_answer"] = answer
    return form.submit("submit", **kw)


def test_home_page_offers_the_certificates(testapp):
    html = testapp.get("/").text
    for title in ("Demande d'acte de naissance", "Demande d'acte de mariage", "Demande d'acte de décès"):
        assert title in html


def test_birth_certificate_without_an_account(smtp_server, testapp, registry, portal_tx):
    from compte_citoyen.notification.worker import deliver_due
    response = testapp.get(BIRTH)
    html = response.text
    assert "Étape 1 sur 3" in html and "Enregistrer le brouillon" not in html
    assert "Copie intégrale" in html and "Extrait avec filiation" in html and "Extrait plurilingue" in html
    assert form_page(response)["event_place"].value == "Clairval"
    review = fill_birth_certificate(testapp)
    html = review.text
    assert "Étape 3 sur 3" in html and "Cryptogramme" in html and "Paul Henri" in html
    assert "Copie intégrale" in html and "Marseille" in html
    # a wrong cryptogramme: refused, nothing filed, a new image
    response = submit_review(review, "ZZZZZ")
    assert response.status_int == 200
    assert "ne correspondent pas au cryptogramme" in response.text
    with portal_tx() as portal:
        assert len(portal["submissions"]) == 0
    response = submit_review(response)
    assert response.status_int == 200
    assert "Votre demande est envoyée" in response.text
    number = re.search(r"<strong>(\d{4}-\d{6})</strong>", response.text).group(1)
    with portal_tx() as portal:
        submission = portal["submissions"][number]
        assert submission.household_id is None and submission.requester_email == "paul@example.org"
        assert submission.requester_name == "Paul Bernard" and submission.tracking_hash
        assert submission.answer("document_type") == "copie_integrale" and submission.answer("copies") == 2
    stats = deliver_due(registry)
    assert stats
    mail = smtp_server.wait_for(1)[0]
    assert mail["To"] == "paul@example.org"
    text = SMTPServer.text_of(mail)
    assert number in text and "Demande d'acte de naissance" in text
    link = re.search(r"(http://localhost/suivi/\S+)", text).group(1)
    page = testapp.get(link.replace("http://localhost", ""))
    assert page.status_int == 200
    assert number in page.text and "étape 1 sur 4" in page.text and "Reçue" in page.text
    assert "Bernard" not in page.text  # the tracking page shows the progress, not the answers
    # an altered link leads nowhere
    path = link.replace("http://localhost", "")
    testapp.get(path[:-1] + ("A" if path[-1] != "A" else "B"), status=404)
    testapp.get(path.replace(number, "2026-999999"), status=404)
    testapp.get(f"/suivi/{number}/", status=404)


def test_tracking_follows_the_staff_decision(testapp, registry, portal_tx):
    from compte_citoyen.procedures.demo import demo_request
    from compte_citoyen.procedures.workflow import change_status, find_tracked
    review = fill_birth_certificate(testapp)
    response = submit_review(review)
    track = re.search(r'href="(http://localhost/suivi/[^"]+)"', response.text).group(1)
    number = track.split("/")[-2]
    with portal_tx() as portal:
        change_status(demo_request(portal, registry), portal, portal["submissions"][number], "accepted")
        token = track.rsplit("/", 1)[1]
        assert find_tracked(portal, number, token) is not None
        assert find_tracked(portal, number, token + "x") is None
    html = testapp.get(track).text
    assert "étape 3 sur 4" in html and "Décision prise" in html


def test_entitlement_rule_tied_to_the_field(testapp):
    response = testapp.get(BIRTH)
    form = form_page(response)
    form["person_family_name"] = "Bernard"
    form["person_first_names"] = "Paul"
    form["date"] = "2999-01-01"
    form["document_type"] = "copie_integrale"
    form["quality"] = "other"
    response = form.submit("next")
    assert response.status_int == 200
    assert "Cette date ne peut pas être dans le futur." in response.text
    form = form_page(response)
    assert form["person_family_name"].value == "Bernard"  # what was typed is kept
    form["date"] = "1990-05-04"
    response = form.submit("next")
    assert "Vous pouvez seulement demander un extrait sans filiation" in response.text
    assert "nécessite le nom d'au moins un parent" in response.text
    form = form_page(response)
    form["document_type"] = "extrait_sans_filiation"
    assert form.submit("next").status_int == 302


def test_requester_page_checks_email_and_postcode(testapp):
    response = testapp.get("/services/etat_civil/acte_deces")
    form = form_page(response)
    assert "Extrait avec filiation" not in response.text  # a death certificate: full copy or multilingual
    form["person_family_name"] = "Martin"
    form["person_first_names"] = "Louis"
    form["date"] = "2020-02-02"
    form["document_type"] = "copie_integrale"
    form["quality"] = "heir"
    form = form_page(form.submit("next").follow())
    form["email"] = "pas-une-adresse"
    response = form.submit("next")
    assert response.status_int == 200
    assert re.search(r"Saisissez une adresse (électronique|de courriel) valide", response.text)
    assert "Ce champ est obligatoire." in response.text


def test_marriage_certificate_schema(testapp):
    form = form_page(testapp.get("/services/etat_civil/acte_mariage"))
    for name in ("spouse1_family_name", "spouse2_first_names", "date", "event_place", "document_type",
                 "copies", "quality"):
        assert name in form.fields
    response = form.submit("next")
    assert response.text.count("Ce champ est obligatoire.") >= 4


def test_rate_limited_per_address(settings, testapp, portal_tx):
    settings_value = testapp.app.registry.settings
    settings_value["compte_citoyen.procedures.anonymous_per_hour"] = "1"
    assert submit_review(fill_birth_certificate(testapp)).status_int == 200
    response = submit_review(fill_birth_certificate(testapp), status=429)
    assert "Trop de demandes ont été envoyées depuis votre connexion" in response.text
    # another address is not affected
    other = webtest.TestApp(testapp.app, extra_environ={"REMOTE_ADDR": "198.51.100.7", "HTTP_HOST": "localhost"})
    assert submit_review(fill_birth_certificate(other)).status_int == 200
    with portal_tx() as portal:
        assert len(portal["submissions"]) == 2


def test_anonymous_drafts_are_private(testapp):
    """A visitor's form in progress belongs to their session: another visitor cannot open it."""
    assert "save_draft" not in form_page(testapp.get(BIRTH)).fields  # no draft to keep without an account
    review_url = fill_birth_certificate(testapp).request.url
    stranger = webtest.TestApp(testapp.app, extra_environ={"REMOTE_ADDR": "192.0.2.50", "HTTP_HOST": "localhost"})
    stranger.get(review_url.replace("http://localhost", ""), status=404)
    assert testapp.get(review_url.replace("http://localhost", "")).status_int == 200


def test_account_procedure_needs_login(testapp):
    response = testapp.get("/services/voirie/encombrants", status=302)
    assert "/connexion" in response.location


def test_citizen_certificate_request_is_prefilled(testapp, portal_tx):
    with portal_tx() as portal:
        create_citizen(portal)
    login_citizen(testapp)
    response = testapp.get(BIRTH)
    form = form_page(response)
    form["person_family_name"] = "Dupont"
    form["person_first_names"] = "Jeanne"
    form["date"] = "1985-04-12"
    form["document_type"] = "extrait_sans_filiation"
    form["quality"] = "self"
    form = form_page(form.submit("next").follow())
    assert form["email"].value == "jeanne.dupont@example.org" and form["family_name"].value == "Dupont"
    assert form["address"].value == "12 rue des Lilas"
