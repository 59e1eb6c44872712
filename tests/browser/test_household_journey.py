"""A household's journey in a real browser: refused change before validation, staff validation in the back
office (password + TOTP), then the citizen adds a child (family name pre-filled) and modifies an adult.
Every page is scanned by axe."""
import pyotp
import pytest

from compte_citoyen import testing

pytestmark = pytest.mark.browser

GATE = "Votre compte n’est pas encore validé par la Mairie"


def test_household_journey(browser_page, second_browser_page, live_server):
    with live_server.portal() as portal:
        account, household = testing.create_citizen(portal, validated=False)
        staff = testing.create_staff(portal, "valideur", roles=("validator",), name="Valérie Valideur")
        secret = staff.totp_secret
        household_id = household.id

    # the citizen logs in and tries to add a child before validation
    page = browser_page
    testing.browser_citizen_login(page)
    assert page.get_by_text("En attente de validation").first.is_visible()
    page.get_by_role("link", name="Modifier mon compte").click()
    page.wait_for_url("**/mon-compte")
    page.check_a11y()
    page.get_by_role("link", name="Ajouter un enfant").click()
    page.wait_for_url("**/mon-compte/ajouter/enfant")
    page.check_a11y()
    alert = page.get_by_role("alert")
    assert GATE in alert.inner_text() and "2 jours ouvrés" in alert.inner_text()
    assert page.locator("main form").count() == 0

    # staff log in to the back office (password, then TOTP) and validate the account
    bo = second_browser_page
    testing.browser_staff_login(bo, "valideur", secret)
    bo.get_by_role("link", name="Comptes à valider").first.click()
    bo.wait_for_url("**/backoffice/comptes")
    bo.check_a11y()
    bo.get_by_role("link", name="jdupont").click()
    bo.wait_for_url("**/backoffice/comptes/jdupont")
    bo.check_a11y()
    bo.get_by_role("button", name="Valider le compte").click()
    bo.wait_for_url("**/backoffice/comptes")
    bo.check_a11y()
    assert "Le compte jdupont est validé" in bo.locator("main").inner_text()

    # now the citizen adds the child: the family name comes pre-filled
    page.goto("/mon-compte")
    page.check_a11y()
    page.get_by_role("link", name="Ajouter un enfant").click()
    page.wait_for_url("**/mon-compte/ajouter/enfant")
    page.check_a11y()
    assert page.get_by_label("Nom de famille").input_value() == "Dupont"
    page.get_by_label("Prénoms").fill("Léa")
    page.get_by_label("Date de naissance").fill("2019-05-04")
    page.get_by_label("Féminin").check()
    page.get_by_label("Lien avec le titulaire du compte").select_option("child")
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url("**/mon-compte/membres/*")
    page.check_a11y()
    assert page.get_by_role("heading", name="Léa Dupont").is_visible()

    # and modifies an adult
    page.get_by_role("link", name="Jeanne Dupont").click()
    page.wait_for_url("**/mon-compte/membres/*")
    page.check_a11y()
    page.get_by_role("link", name="Modifier les informations").click()
    page.wait_for_url("**/modifier")
    page.check_a11y()
    page.get_by_label("Mobile").fill("07 11 22 33 44")
    page.get_by_label("Prénoms").fill("Jeanne Marie")
    page.get_by_role("button", name="Enregistrer").click()
    page.wait_for_url("**/mon-compte/membres/*")
    page.check_a11y()
    assert "07 11 22 33 44" in page.locator("main").inner_text()

    with live_server.portal() as portal:
        household = portal["households"][household_id]
        assert [m.first_names for m in household.children()] == ["Léa"]
        assert household.children()[0].family_name == "Dupont"
        assert household.holder.first_names == "Jeanne Marie" and household.holder.mobile == "0711223344"
        assert portal["accounts"].get_by_code("jdupont").validated


def test_other_household_and_back_office_pages_pass_axe(browser_page, second_browser_page, live_server):
    with live_server.portal() as portal:
        account, household = testing.create_citizen(portal, validated=True)
        child = testing.create_child(household)
        child_id = child.id
        secret = testing.create_staff(portal, "admin", roles=("admin",)).totp_secret

    page = browser_page
    testing.browser_citizen_login(page)
    # communication preference: SMS without a mobile is refused, the error tied to the field
    page.goto("/mon-compte/communication")
    page.check_a11y()
    page.get_by_label("SMS").check()
    page.get_by_label("Mobile").fill("")
    page.get_by_role("button", name="Enregistrer").click()
    page.check_a11y()
    mobile = page.get_by_label("Mobile")
    assert mobile.get_attribute("aria-invalid") == "true"
    assert "saisissez votre numéro de mobile" in page.locator("main").inner_text()
    page.goto(f"/mon-compte/membres/{child_id}/retirer")
    page.check_a11y()
    page.goto("/mon-compte/cloture")
    page.check_a11y()
    page.goto(f"/mon-compte/membres/{child_id}/modifier")
    page.check_a11y()
    page.get_by_label("Date de naissance").fill("2999-01-01")
    page.get_by_role("button", name="Enregistrer").click()
    page.check_a11y()
    assert page.get_by_label("Date de naissance").get_attribute("aria-invalid") == "true"

    bo = second_browser_page
    bo.goto("/backoffice/connexion")
    bo.check_a11y()
    bo.get_by_label("Identifiant").fill("admin")
    bo.get_by_label("Mot de passe").fill("wrong password!")
    bo.get_by_role("button", name="Continuer").click()
    bo.check_a11y()
    bo.get_by_label("Identifiant").fill("admin")
    bo.get_by_label("Mot de passe").fill("staff password 2026!")
    bo.get_by_role("button", name="Continuer").click()
    bo.wait_for_url("**/backoffice/connexion/code")
    bo.get_by_label("Code de sécurité").fill("000000")
    bo.get_by_role("button", name="Se connecter").click()
    bo.check_a11y()
    bo.get_by_label("Code de sécurité").fill(pyotp.TOTP(secret).now())
    bo.get_by_role("button", name="Se connecter").click()
    bo.wait_for_url("**/backoffice/")
    bo.check_a11y()
    for path in ["/backoffice/agents", "/backoffice/journal", "/backoffice/comptes/jdupont"]:
        bo.goto(path)
        bo.check_a11y()
    assert bo.get_by_role("button", name="Enregistrer les références").is_visible()
