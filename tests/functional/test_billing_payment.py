"""Card payment: the portal's real SystemPay backend against the local simulator, answers applied exactly once.

Every answer below is signed (or not) with the SystemPay protocol; nothing bypasses the signature check.
"""
import datetime
import re

import pytest
import transaction
from pyramid.exceptions import ConfigurationError

from compte_citoyen.billing.models import (ANOMALIES, BASKETS, INVOICES, OPEN, PAID, PAYMENT_CANCELLED,
                                           PAYMENT_DENIED, PAYMENT_ERROR, PAYMENT_EXPIRED, PAYMENT_PAID,
                                           PAYMENT_PENDING, PAYMENTS, UNPAID)
from compte_citoyen.billing.regie import get_regies
from compte_citoyen.billing.simulator import build_answer, sign
from compte_citoyen.testing import (create_citizen, create_invoice, inline_simulator_transport, login_citizen)

PASSWORD = "correct horse battery staple"


def token(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


@pytest.fixture
def bank(app):
    """The simulator's server-to-server notifications go into the app (no HTTP server in webtest tests)."""
    return inline_simulator_transport(app)


@pytest.fixture
def citizen(portal_tx, testapp, bank):
    with portal_tx() as portal:
        _account, household = create_citizen(portal, validated=True)
        create_invoice(portal, household, "ville", "V-001", 4250)
        create_invoice(portal, household, "ville", "V-002", 1800)
        create_invoice(portal, household, "ccas", "C-001", 9000)
        household_id = household.id
    login_citizen(testapp, "jdupont", PASSWORD)
    return household_id


def add(testapp, regie, number):
    page = testapp.get("/comptes")
    testapp.post("/panier/ajouter", {"regie": regie, "number": number, "csrf_token": token(page)}, status=303)


def go_to_provider(testapp, *invoices):
    """Fill the basket and press "Payer": returns the form the browser posts to the provider."""
    for regie, number in invoices:
        add(testapp, regie, number)
    page = testapp.get("/panier")
    response = testapp.post("/panier/payer", {"csrf_token": token(page)})
    assert response.status_int == 200
    assert "Continuer vers la page de paiement sécurisé" in response.text
    forms = [f for f in response.forms.values() if "/paiement/simulateur/" in (f.action or "")]
    assert len(forms) == 1
    return forms[0]


def provider_fields(form) -> dict:
    return {name: field.value for name, fields in form.fields.items() if name for field in fields[:1]}


def secret(registry, regie="ville") -> str:
    return get_regies(registry)[regie].payment_options["secret_test"]


def only_payment(portal, household_id):
    payments = [portal[PAYMENTS][pid] for _c, pid in portal[PAYMENTS].by_household[household_id].keys()]
    assert len(payments) == 1
    return payments[0]


def receipts(portal, household_id):
    return [m for m in portal["outbox"].for_household(household_id) if m.event_key.startswith("payment-receipt:")]


def test_basket_paid_through_the_simulator_end_to_end(testapp, citizen, portal_tx, bank):
    form = go_to_provider(testapp, ("ville", "V-001"), ("ville", "V-002"))
    fields = provider_fields(form)
    assert fields["vads_amount"] == "6050"  # computed by the server from the basket
    assert fields["vads_ctx_mode"] == "TEST" and fields["signature"]
    assert fields["vads_url_check"] == "http://localhost/paiement/notification/ville"
    simulator = form.submit()
    assert "Simulateur de paiement" in simulator.text and "60,50\u00a0€" in simulator.text
    assert simulator.text.count("<h1") == 1
    sim_form = [f for f in simulator.forms.values() if "decision" in f.fields][0]
    back = sim_form.submit("decision", value="pay")
    assert back.status_int == 303 and back.location.startswith("http://localhost/paiement/retour/ville?")
    # the bank's server-to-server notification arrived first, signed, and was applied
    assert [(path, status) for path, status, _data in bank] == [("/paiement/notification/ville", 200)]
    assert bank[0][2]["signature"]
    with portal_tx() as portal:
        payment = only_payment(portal, citizen)
        assert payment.state == PAYMENT_PAID and payment.amount == 6050 and payment.notifications == 1
        assert portal[INVOICES].get_invoice("ville", "V-001").state == PAID
        assert portal[INVOICES].get_invoice("ville", "V-002").paid_payment_id == payment.id
        assert portal[INVOICES].get_invoice("ccas", "C-001").state == UNPAID
        assert portal[BASKETS][payment.basket_id].state == "closed"
        assert portal[BASKETS].current(citizen) is None
        (receipt,) = receipts(portal, citizen)
        assert receipt.kind == "acknowledgement" and payment.receipt_number in receipt.subject
        assert "60,50" in receipt.text
        receipt_number = payment.receipt_number
        payment_id = payment.id
    # the browser comes back: the same answer again changes nothing
    accounts = back.follow()
    assert accounts.status_int == 303 and accounts.location.endswith("/comptes#releve")
    page = accounts.follow()
    assert f"Votre paiement de 60,50\u00a0€ est accepté. Reçu n° {receipt_number}" in page.text
    statement = page.text[page.text.index('id="releve"'):page.text.index('id="factures-a-payer"')]
    assert "V-001" in statement and "V-002" in statement
    assert f"/comptes/recus/{payment_id}.pdf" in statement
    to_pay = page.text[page.text.index('id="factures-a-payer"'):]
    assert "V-001" not in to_pay and "C-001" in to_pay
    pdf = testapp.get(f"/comptes/recus/{payment_id}.pdf")
    assert pdf.content_type == "application/pdf" and pdf.body.startswith(b"%PDF")
    with portal_tx() as portal:
        payment = only_payment(portal, citizen)
        assert payment.state == PAYMENT_PAID and payment.notifications == 2
        assert len(receipts(portal, citizen)) == 1
    # now a CCAS invoice may go in a new basket
    add(testapp, "ccas", "C-001")
    with portal_tx() as portal:
        assert portal[BASKETS].current(citizen).items == ("ccas:C-001",)


@pytest.mark.parametrize("decision, state, message", [
    ("refuse", PAYMENT_DENIED, "Votre paiement a été refusé par la banque."),
    ("cancel", PAYMENT_CANCELLED, "Vous avez annulé le paiement."),
])
def test_failed_payment_reopens_the_basket(testapp, citizen, portal_tx, bank, decision, state, message):
    form = go_to_provider(testapp, ("ville", "V-001"))
    simulator = form.submit()
    sim_form = [f for f in simulator.forms.values() if "decision" in f.fields][0]
    back = sim_form.submit("decision", value=decision)
    page = back.follow().follow()
    assert message in page.text and "Votre panier" in page.text
    with portal_tx() as portal:
        payment = only_payment(portal, citizen)
        assert payment.state == state
        basket = portal[BASKETS].current(citizen)
        assert basket.state == OPEN and basket.items == ("ville:V-001",) and basket.payment_id is None
        invoice = portal[INVOICES].get_invoice("ville", "V-001")
        assert invoice.state == UNPAID and invoice.payment_id is None
        assert receipts(portal, citizen) == []
    # the basket can be paid again
    form = go_to_provider(testapp)
    assert provider_fields(form)["vads_amount"] == "4250"


def test_pending_payment_locks_the_basket(testapp, citizen, portal_tx):
    go_to_provider(testapp, ("ville", "V-001"))
    page = testapp.get("/panier")
    assert "Un paiement de ce panier est en cours" in page.text and "Payer par carte" not in page.text
    # adding while a payment waits is the FAQ's refusal; removing is refused too
    add(testapp, "ville", "V-002")
    assert "Impossible d'ajouter cet article" in testapp.get("/comptes").text
    testapp.post("/panier/retirer", {"regie": "ville", "number": "V-001", "csrf_token": token(page)}, status=303)
    with portal_tx() as portal:
        assert portal[BASKETS].current(citizen).items == ("ville:V-001",)
        assert portal[INVOICES].get_invoice("ville", "V-002").basket_id is None


def notify(testapp, fields, status=200, regie="ville"):
    return testapp.post(f"/paiement/notification/{regie}", fields, status=status)


def pending_answer(testapp, registry, decision="pay", **changes):
    """The provider form of a pending payment, and a signed answer to it (as the bank would send)."""
    form = go_to_provider(testapp, ("ville", "V-001"))
    fields = provider_fields(form)
    answer = build_answer(fields, decision, secret(registry), "sha1")
    if changes:
        answer.update(changes)
        answer["signature"] = sign(answer, secret(registry))
    return fields, answer


def assert_nothing_paid(portal, household_id, state=PAYMENT_PENDING):
    payment = only_payment(portal, household_id)
    assert payment.state == state
    assert portal[INVOICES].get_invoice("ville", "V-001").state == UNPAID
    assert receipts(portal, household_id) == []
    return payment


def test_replayed_notification_pays_once(testapp, citizen, portal_tx, registry):
    _fields, answer = pending_answer(testapp, registry)
    for _ in range(3):
        assert notify(testapp, answer).text == "OK"
    with portal_tx() as portal:
        payment = only_payment(portal, citizen)
        assert payment.state == PAYMENT_PAID and payment.notifications == 3
        assert len(receipts(portal, citizen)) == 1
        assert len(portal[PAYMENTS].in_state(PAYMENT_PAID)) == 1
        assert len(portal[ANOMALIES]) == 0
        journal = portal["journal"].for_target(f"household:{citizen}")
        assert len([e for e in journal if e.action == "payment-paid"]) == 1


def test_tampered_notification_is_refused(testapp, citizen, portal_tx, registry):
    _fields, answer = pending_answer(testapp, registry)
    tampered = dict(answer, vads_amount="100", vads_effective_amount="100")  # signature no longer matches
    notify(testapp, tampered, status=400)
    refused_result = dict(answer, vads_result="00")
    refused_result["vads_ext_info_eopayment_trans_id"] = "autre"
    notify(testapp, refused_result, status=400)
    with portal_tx() as portal:
        assert_nothing_paid(portal, citizen)
        assert len(portal[ANOMALIES]) == 0  # forged data is not stored


def test_unsigned_notification_is_refused(testapp, citizen, portal_tx, registry):
    _fields, answer = pending_answer(testapp, registry)
    unsigned = {k: v for k, v in answer.items() if k != "signature"}
    notify(testapp, unsigned, status=400)
    notify(testapp, dict(answer, signature=""), status=400)
    notify(testapp, dict(answer, signature=sign(answer, "not-the-secret")), status=400)
    notify(testapp, {"transaction_id": answer["vads_ext_info_eopayment_trans_id"], "signed": "1", "ok": "1"},
           status=400)  # a dummy-backend style answer
    # the browser return is checked the same way
    response = testapp.get("/paiement/retour/ville", params=unsigned, status=303)
    assert "n’a pas pu être vérifiée" in response.follow().text
    with portal_tx() as portal:
        assert_nothing_paid(portal, citizen)


def test_wrong_amount_is_an_anomaly_and_pays_nothing(testapp, citizen, portal_tx, registry):
    _fields, answer = pending_answer(testapp, registry, vads_amount="100", vads_effective_amount="100")
    assert notify(testapp, answer).text == "OK"
    with portal_tx() as portal:
        payment = assert_nothing_paid(portal, citizen, state=PAYMENT_ERROR)
        (anomaly,) = portal[ANOMALIES].for_regie("ville")
        assert anomaly.kind == "wrong_amount" and anomaly.amount == 100 and anomaly.payment_id == payment.id
        assert portal[BASKETS].current(citizen).state == OPEN


def test_unknown_order_is_an_anomaly(testapp, citizen, portal_tx, registry):
    _fields, answer = pending_answer(testapp, registry, vads_ext_info_eopayment_trans_id="commande0inconnue")
    assert notify(testapp, answer).text == "OK"
    with portal_tx() as portal:
        assert_nothing_paid(portal, citizen)
        (anomaly,) = portal[ANOMALIES].for_regie("ville")
        assert anomaly.kind == "unknown_order" and anomaly.order_id == "commande0inconnue"
        assert anomaly.amount == 4250


def test_notification_for_the_other_regie_is_refused(testapp, citizen, portal_tx, registry):
    _fields, answer = pending_answer(testapp, registry)
    notify(testapp, answer, status=400, regie="ccas")  # signed with the Ville secret: not the CCAS's
    with portal_tx() as portal:
        assert_nothing_paid(portal, citizen)


def test_late_notification_on_a_reopened_basket_is_an_anomaly(testapp, citizen, portal_tx, registry):
    fields, paid_answer = pending_answer(testapp, registry)
    cancel_answer = build_answer(fields, "cancel", secret(registry), "sha1")
    notify(testapp, cancel_answer)
    notify(testapp, paid_answer)  # the bank changes its mind after the basket was reopened
    with portal_tx() as portal:
        assert_nothing_paid(portal, citizen, state=PAYMENT_CANCELLED)
        (anomaly,) = portal[ANOMALIES].for_regie("ville")
        assert anomaly.kind == "late_notification"


def test_two_concurrent_notifications_make_one_payment(testapp, citizen, registry):
    """Two processes apply the same answer at once: ZODB serialises them; the second, retried, does nothing."""
    from pyramid.scripting import prepare
    from ZODB.POSException import ConflictError

    from compte_citoyen.billing.payment import apply_response, parse_response
    from compte_citoyen.database import ROOT_KEY, get_database
    _fields, answer = pending_answer(testapp, registry)
    env = prepare(registry=registry)
    request = env["request"]
    request.host = "localhost"
    regie = get_regies(registry)["ville"]
    import urllib.parse
    response = parse_response(regie, request, urllib.parse.urlencode(answer), production=False)
    db = get_database(registry)
    tm1, tm2 = transaction.TransactionManager(explicit=True), transaction.TransactionManager(explicit=True)
    c1, c2 = db.open(transaction_manager=tm1), db.open(transaction_manager=tm2)
    try:
        tm1.begin()
        tm2.begin()
        first = apply_response(request, c1.root()[ROOT_KEY], regie, response, "notification")
        second = apply_response(request, c2.root()[ROOT_KEY], regie, response, "notification")
        assert first.applied and second.applied  # each alone would pay...
        tm1.commit()
        with pytest.raises(ConflictError):  # ...but only one commits
            tm2.commit()
        tm2.abort()
        tm2.begin()  # the retry sees the paid payment
        retried = apply_response(request, c2.root()[ROOT_KEY], regie, response, "notification")
        assert not retried.applied and retried.payment.state == PAYMENT_PAID
        tm2.commit()
        tm1.begin()
        portal = c1.root()[ROOT_KEY]
        payment = only_payment(portal, citizen)
        assert payment.state == PAYMENT_PAID and payment.notifications == 2
        assert len(receipts(portal, citizen)) == 1
        assert len(portal[PAYMENTS].in_state(PAYMENT_PAID)) == 1
        tm1.abort()
    finally:
        c1.close()
        c2.close()
        env["closer"]()


def test_poll_payments_expires_a_payment_without_answer(testapp, citizen, portal_tx, registry):
    from pyramid.scripting import prepare

    from compte_citoyen.billing.payment import poll_pending
    go_to_provider(testapp, ("ville", "V-001"))
    env = prepare(registry=registry)
    try:
        with portal_tx() as portal:
            assert poll_pending(env["request"], portal) == []  # not late yet
            later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
            ((payment, state),) = poll_pending(env["request"], portal, now=later)
            assert state == PAYMENT_EXPIRED
            basket = portal[BASKETS].current(citizen)
            assert basket.state == OPEN and basket.items == ("ville:V-001",)
            assert portal[INVOICES].get_invoice("ville", "V-001").payment_id is None
    finally:
        env["closer"]()


def test_simulator_refuses_unsigned_requests(testapp, citizen):
    response = testapp.post("/paiement/simulateur/ville", {"vads_amount": "100", "signature": "x"}, status=400)
    assert "pas correctement signée" in response.text
    testapp.get("/paiement/simulateur/inconnue", status=404)


def test_simulator_is_refused_in_production(testapp, citizen, registry):
    form = go_to_provider(testapp, ("ville", "V-001"))
    registry.settings["compte_citoyen.production"] = True
    try:
        testapp.post("/paiement/simulateur/ville", provider_fields(form), status=404)
    finally:
        registry.settings["compte_citoyen.production"] = False


def test_production_refuses_test_answers(testapp, citizen, registry):
    from pyramid.scripting import prepare

    from compte_citoyen.billing.payment import PaymentRefused, parse_response
    _fields, answer = pending_answer(testapp, registry)
    env = prepare(registry=registry)
    try:
        import urllib.parse
        with pytest.raises(PaymentRefused, match="test"):
            parse_response(get_regies(registry)["ville"], env["request"], urllib.parse.urlencode(answer),
                           production=True)
    finally:
        env["closer"]()


def test_test_mode_notification_in_production_is_an_anomaly(testapp, citizen, registry, portal_tx):
    _fields, answer = pending_answer(testapp, registry)
    registry.settings["compte_citoyen.production"] = True
    try:
        assert notify(testapp, answer).text == "refused"
    finally:
        registry.settings["compte_citoyen.production"] = False
    with portal_tx() as portal:
        payment = assert_nothing_paid(portal, citizen)
        (anomaly,) = portal[ANOMALIES].for_regie("ville")
        assert anomaly.kind == "test_mode" and anomaly.payment_id == payment.id


def production_settings(tmp_path, **extra):
    from compte_citoyen.testing import base_settings
    settings = base_settings(tmp_path, **{"compte_citoyen.production": "true", "compte_citoyen.testing": "false",
                                          "compte_citoyen.captcha": "image"})
    settings.update(extra)
    return settings


@pytest.mark.parametrize("options, error", [
    ({"compte_citoyen_regie_ville.payment.backend": "dummy"}, "dummy"),
    ({"compte_citoyen_regie_ville.payment.backend": "systempayv2",
      "compte_citoyen_regie_ville.payment.service_url": "simulator"}, "simulator"),
    ({"compte_citoyen_regie_ville.payment.backend": "systempayv2",
      "compte_citoyen_regie_ville.payment.secret_production": "abc"}, "ctx_mode"),  # TEST by default
    ({"compte_citoyen_regie_ville.payment.backend": "payfip_ws",
      "compte_citoyen_regie_ville.payment.numcli": "123456"}, "saisie"),
    ({}, "no payment backend"),
    ({"compte_citoyen_regie_ville.payment.backend": "nope"}, "unknown payment backend"),
])
def test_production_refuses_dummy_test_modes_and_the_simulator(tmp_path, options, error):
    from compte_citoyen.billing.regie import check_regie
    from compte_citoyen.plugins import make_plugin_manager
    from compte_citoyen.billing.regie import build_regies
    settings = production_settings(tmp_path, **options)
    settings["compte_citoyen.production"] = True
    pm = make_plugin_manager(["regie_ville"])
    (regie,) = build_regies(pm, settings).values()
    with pytest.raises(ConfigurationError, match=error):
        check_regie(regie, settings)


def test_production_app_refuses_the_dummy_backend(tmp_path):
    from compte_citoyen import main
    settings = production_settings(tmp_path, **{"compte_citoyen_regie_ville.payment.backend": "dummy",
                                                "compte_citoyen_regie_ccas.payment.backend": "dummy"})
    with pytest.raises(ConfigurationError, match="'dummy' payment backend is for development only"):
        main({}, **settings)


def test_production_accepts_a_real_provider_configuration(tmp_path, monkeypatch):
    from compte_citoyen.billing.regie import build_regies, check_regie
    from compte_citoyen.plugins import make_plugin_manager
    monkeypatch.setenv("VILLE_SYSTEMPAY_SECRET", "s3cr3tProduction")
    settings = production_settings(tmp_path, **{
        "compte_citoyen_regie_ville.payment.backend": "systempayv2",
        "compte_citoyen_regie_ville.payment.site_id": "87654321",
        "compte_citoyen_regie_ville.payment.ctx_mode": "PRODUCTION",
        "compte_citoyen_regie_ville.payment.secret_production": "env:VILLE_SYSTEMPAY_SECRET",
        "compte_citoyen_regie_ville.basket.max_invoices": "3",
    })
    settings["compte_citoyen.production"] = True
    (regie,) = build_regies(make_plugin_manager(["regie_ville"]), settings).values()
    check_regie(regie, settings)
    assert regie.payment_options["secret_production"] == "s3cr3tProduction"
    assert regie.basket_rules.max_invoices == 3
