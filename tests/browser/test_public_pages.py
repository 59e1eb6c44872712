"""Public pages in a real browser, each scanned by axe."""
import pytest

pytestmark = pytest.mark.browser


def test_home_and_help_pages(browser_page):
    page = browser_page
    page.goto("/")
    page.check_a11y()
    assert page.get_by_role("heading", level=1).inner_text() == "Mon Compte Citoyen"
    assert page.get_by_label("Utilisateur").is_visible()
    assert page.get_by_label("Mot de passe").is_visible()
    # keyboard: the first Tab reaches the skip link
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#contenu"
    page.get_by_role("link", name="Aide (questions fréquentes)").click()
    page.wait_for_url("**/aide")
    page.check_a11y()
    assert page.get_by_role("heading", name="Comment créer un Compte Citoyen ?").is_visible()
    for path in ["/conditions-generales", "/donnees-personnelles", "/accessibilite"]:
        page.goto(path)
        page.check_a11y()
