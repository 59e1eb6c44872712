"""Procedures in a real browser, every page scanned by axe.

1. A citizen files a bulky-item pick-up through "Les Services", sees it on "Accueil" with 1 square of 4 filled;
   an agent of the voirie service records the decision in the back office; the citizen sees 3 of 4 and opens
   the PDF from "Mes Demandes".
2. A visitor without an account requests a birth certificate with the cryptogramme and follows it from the link
   of the e-mail received by the local SMTP server.
"""
import re

import pytest

from compte_citoyen import testing
from compte_citoyen.testing import FIXED_CAPTCHA, SMTPServer, labelled_field as field

pytestmark = pytest.mark.browser


def filled_squares(page, number: str) -> int:
    row = page.locator("tr", has_text=number)
    return row.locator(".progress__square--filled").count()


def test_bulky_item_pickup_from_services_to_decision(browser_page, second_browser_page, live_server):
    with live_server.portal() as portal:
        testing.create_citizen(portal)
        secret = testing.create_staff(portal, "agent-voirie", roles=("agent",), services=("voirie",),
                                      name="Agent de la voirie").totp_secret
    page = browser_page
    testing.browser_citizen_login(page)

    # "Les Services" -> theme -> procedure
    page.get_by_role("link", name="Les Services").click()
    page.wait_for_url("**/services")
    page.check_a11y()
    page.get_by_role("link", name="Voirie et environnement").click()
    page.wait_for_url("**/services/voirie")
    page.check_a11y()
    page.get_by_role("link", name="Enlèvement des encombrants").click()
    page.wait_for_url("**/services/voirie/encombrants")
    page.check_a11y()
    assert "Étape 1 sur 4" in page.locator(".wizard-progress").inner_text()
    assert field(page, "Adresse (numéro et rue)").input_value() == "12 rue des Lilas"  # nothing typed twice
    # forgetting the date: the error is tied to the field, in French
    page.get_by_role("button", name="Suivant").click()
    page.wait_for_load_state()
    page.check_a11y()
    assert "Choisissez une date d'enlèvement." in page.locator("main").inner_text()
    page.locator("input[name=pickup_date]").first.check()
    page.get_by_role("button", name="Suivant").click()
    page.wait_for_url("**/brouillons/*etape=2")
    page.check_a11y()
    field(page, "Liste des objets").fill("1 canapé\n2 chaises")
    page.get_by_label("Meubles (armoire, table, chaises...)").check()
    page.get_by_role("button", name="Suivant").click()
    page.wait_for_url("**etape=3")
    page.check_a11y()
    assert "Pièces justificatives" in page.locator(".wizard-progress").inner_text()
    page.get_by_role("button", name="Suivant").click()
    page.wait_for_url("**etape=4")
    page.check_a11y()
    assert "1 canapé" in page.locator("main").inner_text()
    page.get_by_role("button", name="Envoyer la demande").click()
    page.wait_for_url(re.compile(r".*/demandes/\d{4}-\d{6}$"))
    page.check_a11y()
    number = page.url.rsplit("/", 1)[1]
    assert number in page.get_by_role("heading", level=1).inner_text()

    # "Accueil": 1 square of 4 filled, with its text equivalent
    page.get_by_role("link", name="Accueil", exact=True).click()
    page.wait_for_url("**/accueil")
    page.check_a11y()
    assert filled_squares(page, number) == 1
    assert "étape 1 sur 4" in page.locator("tr", has_text=number).inner_text()

    # the agent records the decision in the back office
    bo = second_browser_page
    testing.browser_staff_login(bo, "agent-voirie", secret)
    bo.goto("/backoffice/demandes")
    bo.check_a11y()
    bo.get_by_role("link", name=number).click()
    bo.wait_for_url(f"**/backoffice/demandes/{number}")
    bo.check_a11y()
    assert "1 canapé" in bo.locator("main").inner_text()
    bo.get_by_label("Accord").check()
    bo.get_by_label("Motif (envoyé au demandeur ; obligatoire pour un refus)").fill("Passage entre 6 h et 12 h.")
    bo.get_by_role("button", name="Enregistrer et envoyer la décision").click()
    bo.wait_for_url(f"**/backoffice/demandes/{number}")
    bo.check_a11y()
    assert "La décision est enregistrée" in bo.locator("main").inner_text()

    # the citizen sees 3 squares of 4, then opens the PDF from "Mes Demandes"
    page.reload()
    page.check_a11y()
    assert filled_squares(page, number) == 3
    assert "Décision prise" in page.locator("tr", has_text=number).inner_text()
    page.get_by_role("link", name="Mes Demandes", exact=True).click()
    page.wait_for_url("**/demandes")
    page.check_a11y()
    link = page.get_by_role("link", name=re.compile(number))
    href = link.get_attribute("href")
    assert href.endswith(f"/demandes/{number}.pdf") and link.get_attribute("target") is None  # no pop-up
    response = page.context.request.get(href)
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    body = response.body()
    assert body.startswith(b"%PDF-") and b"/Lang (fr-FR)" in body
    assert "Passage entre 6 h et 12 h." in testing.pdf_text(body)


def test_birth_certificate_without_account_followed_from_the_email(smtp_server, browser_page, live_server):
    from compte_citoyen.notification.worker import deliver_due
    page = browser_page
    page.goto("/")
    page.check_a11y()
    page.get_by_role("link", name="Demande d'acte de naissance").click()
    page.wait_for_url("**/services/etat_civil/acte_naissance")
    page.check_a11y()
    assert "Étape 1 sur 3" in page.locator(".wizard-progress").inner_text()
    field(page, "Nom de naissance de la personne concernée").fill("Bernard")
    field(page, "Prénoms de la personne concernée").fill("Paul")
    field(page, "Date de naissance").fill("1990-05-04")
    field(page, "Nom du père").fill("Bernard")
    field(page, "Prénoms du père").fill("Jean")
    page.get_by_label("Copie intégrale").check()
    page.get_by_label("La personne concernée par l'acte").check()
    page.get_by_role("button", name="Suivant").click()
    page.wait_for_url("**/brouillons/*etape=2")
    page.check_a11y()
    field(page, "Votre nom").fill("Bernard")
    field(page, "Vos prénoms").fill("Paul")
    field(page, "Votre adresse électronique").fill("paul.bernard@example.org")
    field(page, "Adresse (numéro et rue)").fill("8 rue du Port")
    field(page, "Code postal").fill("13002")
    page.locator("input[name=city]").fill("Marseille")
    page.get_by_role("button", name="Suivant").click()
    page.wait_for_url("**etape=3")
    page.check_a11y()
    field(page, "Cryptogramme").fill(FIXED_CAPTCHA)
    page.get_by_role("button", name="Envoyer la demande").click()
    page.wait_for_load_state()
    page.check_a11y()
    assert page.get_by_role("heading", level=1).inner_text() == "Votre demande est envoyée"
    number = re.search(r"\d{4}-\d{6}", page.locator("main").inner_text()).group(0)

    deliver_due(live_server.registry)
    mail = smtp_server.wait_for(1)[0]
    assert mail["To"] == "paul.bernard@example.org"
    link = re.search(r"(http://\S+/suivi/\S+)", SMTPServer.text_of(mail)).group(1)
    page.goto(link)
    page.check_a11y()
    assert number in page.get_by_role("heading", level=1).inner_text()
    main = page.locator("main").inner_text()
    assert "étape 1 sur 4" in main and "Demande d'acte de naissance" in main


def test_lists_errors_and_back_office_pages_pass_axe(browser_page, second_browser_page, live_server):
    """The pages the journeys above do not reach: a paginated "Mes Demandes" with a draft, the documents page
    with its errors, a child's procedure, the back-office queue with a filter error and a request's detail."""
    with live_server.portal() as portal:
        _account, household = testing.create_citizen(portal)
        child = testing.create_child(household, "Lucas")
        for _ in range(21):
            testing.file_request(live_server.registry, portal, "encombrants", household=household)
        number = testing.file_request(live_server.registry, portal, "inscription_scolaire", household=household,
                                      member=child, paper=("address_proof",)).number
        secret = testing.create_staff(portal, "chef", roles=("admin",)).totp_secret
    page = browser_page
    testing.browser_citizen_login(page)
    page.goto("/services/scolaire/inscription_scolaire")
    page.check_a11y()
    page.get_by_label("Lucas Dupont").check()
    field(page, "Niveau de classe à la rentrée").select_option("CP")
    page.get_by_role("button", name="Suivant").click()
    page.wait_for_url("**etape=2")
    page.check_a11y()
    field(page, "École souhaitée").select_option("École Jules Ferry")
    page.get_by_role("button", name="Suivant").click()
    page.wait_for_url("**etape=3")
    page.check_a11y()
    page.get_by_role("button", name="Suivant").click()  # no document and no "au guichet": errors
    page.wait_for_load_state()
    page.check_a11y()
    assert page.locator(".field__error").count() == 3
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    page.wait_for_load_state()
    page.check_a11y()
    page.goto("/demandes")
    page.check_a11y()
    assert "Vos brouillons" in page.locator("main").inner_text()
    page.get_by_role("link", name="Page suivante").click()
    page.wait_for_url("**page=2")
    page.check_a11y()
    page.goto(f"/demandes/{number}")
    page.check_a11y()

    bo = second_browser_page
    testing.browser_staff_login(bo, "chef", secret)
    bo.goto("/backoffice/demandes?du=hier")
    bo.check_a11y()
    bo.goto(f"/backoffice/demandes/{number}")
    bo.check_a11y()
    bo.get_by_label("Refus", exact=True).check()
    bo.get_by_role("button", name="Enregistrer et envoyer la décision").click()
    bo.wait_for_load_state()
    bo.check_a11y()
    assert "Un refus doit être motivé" in bo.locator("main").inner_text()
