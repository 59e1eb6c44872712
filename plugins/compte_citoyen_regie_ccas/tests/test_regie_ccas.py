"""The CCAS régie plugin: a separate budget for the social services, configured from its own ini prefix."""
import pytest
from pyramid.exceptions import ConfigurationError

from compte_citoyen.billing.regie import get_regies
from compte_citoyen.testing import activate_plugin, create_citizen, create_invoice, login_citizen


@pytest.fixture
def only_ccas(settings, monkeypatch):
    settings["compte_citoyen.plugins"] = ""
    activate_plugin(settings, "regie_ccas", "compte_citoyen_regie_ccas", monkeypatch)
    return settings


def test_declares_the_ccas_regie(only_ccas, registry):
    regies = get_regies(registry)
    assert list(regies) == ["ccas"]
    regie = regies["ccas"]
    assert regie.plugin == "regie_ccas" and regie.domains == ["social"]
    assert regie.basket_rules.max_invoices == 5 and regie.basket_rules.max_amount == 150_000


def test_code_can_be_renamed_and_two_regies_with_one_code_are_refused(only_ccas, monkeypatch):
    from compte_citoyen import main
    only_ccas["compte_citoyen_regie_ccas.code"] = "ville"
    activate_plugin(only_ccas, "regie_ville", "compte_citoyen_regie_ville", monkeypatch)
    with pytest.raises(ConfigurationError, match="declared by both"):
        main({}, **only_ccas)


def test_basket_rules_apply(only_ccas, testapp, portal_tx):
    """Its own rules: at most 5 invoices in one payment."""
    import re
    with portal_tx() as portal:
        _account, household = create_citizen(portal, validated=True)
        for i in range(6):
            create_invoice(portal, household, "ccas", f"C-{i}", 1000)
    login_citizen(testapp, "jdupont", "correct horse battery staple")
    for i in range(6):
        page = testapp.get("/comptes")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        testapp.post("/panier/ajouter", {"regie": "ccas", "number": f"C-{i}", "csrf_token": token})
    page = testapp.get("/comptes")
    assert "Un paiement regroupe au plus 5 factures" in page.text
    assert "Régie CCAS (services sociaux)" in page.text
