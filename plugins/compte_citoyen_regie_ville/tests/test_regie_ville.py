"""The Ville régie plugin: declared through the régie hook, configured from its own ini prefix."""
import pytest

from compte_citoyen.billing.regie import get_regies
from compte_citoyen.testing import activate_plugin, create_citizen, create_invoice, login_citizen


@pytest.fixture
def only_ville(settings, monkeypatch):
    settings["compte_citoyen.plugins"] = ""
    activate_plugin(settings, "regie_ville", "compte_citoyen_regie_ville", monkeypatch)
    return settings


def test_declares_the_ville_regie(only_ville, registry):
    regies = get_regies(registry)
    assert list(regies) == ["ville"]
    regie = regies["ville"]
    assert regie.plugin == "regie_ville"
    assert regie.domains == ["scolaire", "periscolaire", "petite_enfance"]
    assert regie.basket_rules.max_invoices == 10 and regie.basket_rules.lifetime_minutes == 30
    assert regie.basket_rules.min_amount == 100  # cents
    # outside production and without a backend, the portal's local simulator (real SystemPay protocol)
    assert regie.payment_backend == "systempayv2" and regie.payment_options["service_url"] == "simulator"


def test_reads_its_own_settings(only_ville, monkeypatch):
    monkeypatch.setenv("VILLE_SECRET", "secretdelaville")
    only_ville.update({
        "compte_citoyen_regie_ville.payment.backend": "systempayv2",
        "compte_citoyen_regie_ville.payment.site_id": "11112222",
        "compte_citoyen_regie_ville.payment.secret_test": "env:VILLE_SECRET",
        "compte_citoyen_regie_ville.basket.max_invoices": "4",
        "compte_citoyen_regie_ville.basket.max_amount": "50000",
        "compte_citoyen_regie_ccas.payment.backend": "dummy",  # another plugin's prefix: ignored here
    })
    from compte_citoyen import main
    app = main({}, **only_ville)
    try:
        regie = get_regies(app.registry)["ville"]
        assert regie.payment_options == {"site_id": "11112222", "secret_test": "secretdelaville"}
        assert regie.basket_rules.max_invoices == 4 and regie.basket_rules.max_amount == 50000
    finally:
        from compte_citoyen.database import get_database
        get_database(app.registry).close()


def test_label_in_french_in_my_accounts(only_ville, testapp, portal_tx):
    with portal_tx() as portal:
        _account, household = create_citizen(portal, validated=True)
        create_invoice(portal, household, "ville", "V-1", 1000)
    login_citizen(testapp, "jdupont", "correct horse battery staple")
    assert "Régie Ville (scolaire, périscolaire, petite enfance)" in testapp.get("/comptes").text
