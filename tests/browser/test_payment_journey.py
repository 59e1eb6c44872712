"""The FAQ's payment journey in a real browser: basket, the refusal and its "Ok", paying through the
development provider (signed SystemPay answers), the invoice in "Consulter votre relevé"; axe on every page."""
import re

import pytest

from compte_citoyen.testing import browser_citizen_login, create_citizen, create_invoice

pytestmark = pytest.mark.browser

REFUSAL = "Impossible d'ajouter cet article, vous devez d'abord payer ceux en attente dans votre panier"


def test_pay_a_ville_invoice_after_the_ccas_refusal(browser_page, live_server):
    with live_server.portal() as portal:
        _account, household = create_citizen(portal, validated=True)
        create_invoice(portal, household, "ville", "V-2026-001", 4250, label="Restauration scolaire")
        create_invoice(portal, household, "ccas", "C-2026-001", 9000, label="Portage de repas")
    page = browser_page
    browser_citizen_login(page)

    page.get_by_role("link", name="Mes comptes").click()
    page.wait_for_url("**/comptes")
    page.check_a11y()
    assert page.get_by_role("heading", name="Factures à payer").is_visible()
    page.get_by_role("button", name="Ajouter au panier : facture V-2026-001").click()
    page.wait_for_url(re.compile(r".*/comptes#factures-a-payer$"))
    page.check_a11y()
    assert page.get_by_text("Facture V-2026-001 ajoutée à votre panier.").is_visible()

    # a CCAS invoice while a Ville invoice waits: the FAQ's message, focused, with its "Ok" button
    page.get_by_role("button", name="Ajouter au panier : facture C-2026-001").click()
    page.wait_for_url(re.compile(r".*/comptes#panier-refus$"))
    dialog = page.get_by_role("alertdialog")
    assert REFUSAL in dialog.inner_text()
    page.wait_for_function("document.activeElement && document.activeElement.id === 'panier-refus'")
    page.check_a11y()
    dialog.get_by_role("button", name="Ok").click()
    page.wait_for_url(re.compile(r".*/comptes(\?)?#factures-a-payer$"))
    page.check_a11y()
    assert page.get_by_role("alertdialog").count() == 0

    page.get_by_role("link", name="Accéder à votre panier").click()
    page.wait_for_url("**/panier")
    page.check_a11y()
    assert page.get_by_role("heading", level=1).inner_text() == "Votre panier"
    assert "42,50" in page.locator(".basket-total").inner_text()
    assert page.get_by_role("button", name="Prolonger").is_visible()
    page.get_by_role("button", name=re.compile("Payer par carte bancaire")).click()
    page.wait_for_url("**/panier/payer")
    page.check_a11y()
    page.get_by_role("button", name="Continuer vers la page de paiement sécurisé").click()
    page.wait_for_url("**/paiement/simulateur/ville")
    page.check_a11y()
    assert "42,50" in page.locator(".simulator__amount").inner_text()
    page.get_by_role("button", name="Payer", exact=True).click()
    page.wait_for_url(re.compile(r".*/comptes#releve$"))
    page.check_a11y()
    assert page.get_by_text(re.compile("Votre paiement de 42,50.€ est accepté")).is_visible()
    statement = page.locator("section[aria-labelledby='releve']")
    assert "V-2026-001" in statement.inner_text()
    assert statement.get_by_role("link", name=re.compile("Reçu")).count() == 1
    to_pay = page.locator("section[aria-labelledby='factures-a-payer']").inner_text()
    assert "V-2026-001" not in to_pay and "C-2026-001" in to_pay

    with live_server.portal() as portal:
        from compte_citoyen.billing.models import INVOICES, PAYMENT_PAID, PAYMENTS
        assert portal[INVOICES].get_invoice("ville", "V-2026-001").state == "paid"
        (payment,) = portal[PAYMENTS].in_state(PAYMENT_PAID)
        assert payment.notifications == 2  # the bank's notification, then the browser's return


def test_regie_manager_pages(browser_page, live_server):
    """The régie manager's pages, each scanned by axe: régies, invoices, payments, baskets, anomalies, forms."""
    import pyotp

    from compte_citoyen.billing.models import ANOMALIES, Anomaly, new_id
    from compte_citoyen.testing import create_staff
    with live_server.portal() as portal:
        _account, household = create_citizen(portal, validated=True)
        create_invoice(portal, household, "ville", "V-2026-001", 4250)
        portal[ANOMALIES].record(Anomaly(new_id(), "ville", "unknown_order", "notification: no payment",
                                         order_id="abc", amount=1200))
        manager = create_staff(portal, "gestion-ville", roles=("regie_manager",), regies=("ville",))
        secret = manager.totp_secret
    page = browser_page
    page.goto("/backoffice/connexion")
    page.check_a11y()
    page.locator("#bo-login").fill("gestion-ville")
    page.locator("#bo-password").fill("staff password 2026!")
    page.locator("#bo-password").press("Enter")
    page.wait_for_url("**/backoffice/connexion/code")
    page.check_a11y()
    page.locator("#bo-code").fill(pyotp.TOTP(secret).now())
    page.locator("#bo-code").press("Enter")
    page.wait_for_url("**/backoffice/")
    page.check_a11y()
    page.goto("/backoffice/factures")
    page.check_a11y()
    page.get_by_role("link", name=re.compile("Régie Ville")).click()
    page.wait_for_url("**/backoffice/regies/ville")
    page.check_a11y()
    assert "V-2026-001" in page.content()
    for tab in ("Paiements", "Paniers en cours", "Anomalies"):
        page.locator(".billing-tabs").get_by_role("link", name=tab).click()
        page.wait_for_load_state("load")
        page.check_a11y()
    page.get_by_label("Ce qui a été fait").fill("Commande de test de la banque, rien à faire")
    page.get_by_role("button", name="Marquer comme régularisée").click()
    page.wait_for_url("**/backoffice/regies/ville?vue=anomalies")
    page.check_a11y()
    page.get_by_role("link", name="Émettre une facture").click()
    page.wait_for_url("**/factures/nouvelle")
    page.check_a11y()
    page.get_by_role("button", name="Émettre la facture").click()  # empty: errors tied to their fields
    page.wait_for_load_state("load")
    page.check_a11y()
    page.goto("/backoffice/regies/ville/import")
    page.check_a11y()
