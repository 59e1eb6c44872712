"""Billing, citizen side: "Mes comptes", the 3-month window, validation, the basket and the FAQ's refusals."""
import datetime
import re

import pytest

from compte_citoyen.billing.models import BASKETS, INVOICES, PAID, months_before
from compte_citoyen.testing import create_child, create_citizen, create_invoice, login_citizen

REFUSAL = "Impossible d'ajouter cet article, vous devez d'abord payer ceux en attente dans votre panier"
PASSWORD = "correct horse battery staple"


def token(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def add(testapp, invoice_or_pair, status=303):
    regie, number = (invoice_or_pair.regie, invoice_or_pair.number) if hasattr(invoice_or_pair, "regie") \
        else invoice_or_pair
    page = testapp.get("/comptes")
    return testapp.post("/panier/ajouter", {"regie": regie, "number": number, "csrf_token": token(page)},
                        status=status)


@pytest.fixture
def citizen(portal_tx, testapp):
    """A validated citizen, logged in, with two Ville invoices and one CCAS invoice issued this month."""
    with portal_tx() as portal:
        _account, household = create_citizen(portal, validated=True)
        child = create_child(household, "Lucas")
        v1 = create_invoice(portal, household, "ville", "V-001", 4250, member=child)
        v2 = create_invoice(portal, household, "ville", "V-002", 1800)
        c1 = create_invoice(portal, household, "ccas", "C-001", 9000, label="Portage de repas")
        keys = {"household": household.id, "v1": ("ville", v1.number), "v2": ("ville", v2.number),
                "c1": ("ccas", c1.number)}
    assert login_citizen(testapp, "jdupont", PASSWORD).status_int == 302
    return keys


def test_my_accounts_lists_invoices_to_pay(testapp, citizen):
    page = testapp.get("/comptes")
    html = page.text
    assert html.count("<h1") == 1 and "Mes comptes" in html
    assert "Consulter votre relevé" in html and "Factures à payer" in html
    for number in ("V-001", "V-002", "C-001"):
        assert number in html
    assert "42,50\u00a0€" in html and "Lucas Dupont" in html
    assert html.count("Ajouter au panier") == 3
    # left column: the link to the basket
    aside = html[html.index("<aside"):html.index("</aside>")]
    assert "Accéder à votre panier" in aside and 'href="http://localhost/panier"' in aside
    assert 'role="alertdialog"' not in html


def test_add_invoice_then_basket_page(testapp, citizen, portal_tx):
    response = add(testapp, citizen["v1"])
    assert response.location.startswith("http://localhost/comptes")
    page = response.follow()
    assert "Facture V-001 ajoutée à votre panier." in page.text
    assert "Dans votre panier" in page.text
    basket = testapp.get("/panier")
    assert basket.text.count("<h1") == 1 and "Votre panier" in basket.text
    assert "V-001" in basket.text and "42,50\u00a0€" in basket.text
    assert "Prolonger" in basket.text and "Payer par carte bancaire" in basket.text
    assert re.search(r"Votre panier est conservé jusqu’à \d\d h \d\d \(encore (29|30) minutes\)", basket.text)
    with portal_tx() as portal:
        current = portal[BASKETS].current(citizen["household"])
        assert current.items == ("ville:V-001",) and current.regie == "ville"
        assert portal[INVOICES].get_invoice("ville", "V-001").basket_id == current.id


def test_faq_refusal_same_invoice_twice(testapp, citizen, portal_tx):
    add(testapp, citizen["v1"])
    response = add(testapp, citizen["v1"])
    assert "#panier-refus" in response.location
    page = response.follow()
    dialog = page.html.find(attrs={"role": "alertdialog"})
    assert dialog is not None
    assert REFUSAL in dialog.get_text()
    # accessible: named, described, focusable; the "Ok" button closes it without JavaScript
    assert dialog["aria-labelledby"] and dialog["aria-describedby"] and dialog["tabindex"] == "-1"
    ok_form = [f for f in page.forms.values() if f.method.lower() == "get" and "/comptes" in f.action][0]
    assert ">Ok</button>" in ok_form.text
    closed = ok_form.submit()
    assert 'role="alertdialog"' not in closed.text and REFUSAL not in closed.text
    # the basket still holds it once
    with portal_tx() as portal:
        assert portal[BASKETS].current(citizen["household"]).items == ("ville:V-001",)


def test_faq_refusal_invoice_of_another_regie(testapp, citizen, portal_tx):
    add(testapp, citizen["v1"])
    add(testapp, citizen["v2"])  # same régie: accepted
    response = add(testapp, citizen["c1"])
    page = response.follow()
    assert REFUSAL in page.html.find(attrs={"role": "alertdialog"}).get_text()
    with portal_tx() as portal:
        basket = portal[BASKETS].current(citizen["household"])
        assert basket.items == ("ville:V-001", "ville:V-002") and basket.regie == "ville"
        assert portal[INVOICES].get_invoice("ccas", "C-001").basket_id is None
    # once the basket is emptied, the CCAS invoice can go in (the basket then belongs to the CCAS)
    basket_page = testapp.get("/panier")
    for number in ("V-001", "V-002"):
        testapp.post("/panier/retirer", {"regie": "ville", "number": number, "csrf_token": token(basket_page)},
                     status=303)
    assert "Votre panier est vide" in testapp.get("/panier").text
    add(testapp, citizen["c1"]).follow()
    with portal_tx() as portal:
        basket = portal[BASKETS].current(citizen["household"])
        assert basket.items == ("ccas:C-001",) and basket.regie == "ccas"


def test_refusal_is_atomic_on_the_server(portal_tx, registry, citizen):
    """The rules live in the model: two transactions adding to one basket conflict; the retried one refuses."""
    import transaction
    from ZODB.POSException import ConflictError

    from compte_citoyen.billing.basket import BasketRefused, add_invoice
    from compte_citoyen.database import ROOT_KEY, get_database
    with portal_tx() as portal:  # the basket exists before the race
        from compte_citoyen.billing.basket import current_basket
        current_basket(portal, citizen["household"], create=True)
    db = get_database(registry)
    tm1, tm2 = transaction.TransactionManager(explicit=True), transaction.TransactionManager(explicit=True)
    c1, c2 = db.open(transaction_manager=tm1), db.open(transaction_manager=tm2)
    try:
        tm1.begin()
        tm2.begin()
        p1, p2 = c1.root()[ROOT_KEY], c2.root()[ROOT_KEY]
        add_invoice(p1, registry, citizen["household"], p1[INVOICES].get_invoice("ville", "V-001"))
        add_invoice(p2, registry, citizen["household"], p2[INVOICES].get_invoice("ccas", "C-001"))
        tm1.commit()
        with pytest.raises(ConflictError):
            tm2.commit()
        tm2.abort()
        tm2.begin()  # the retry sees the Ville invoice and refuses the CCAS one
        p2 = c2.root()[ROOT_KEY]
        with pytest.raises(BasketRefused) as refused:
            add_invoice(p2, registry, citizen["household"], p2[INVOICES].get_invoice("ccas", "C-001"))
        assert refused.value.faq
        tm2.abort()
    finally:
        c1.close()
        c2.close()


def test_remove_and_extend(testapp, citizen, portal_tx):
    add(testapp, citizen["v1"])
    with portal_tx() as portal:
        basket = portal[BASKETS].current(citizen["household"])
        basket.expires_at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=2)
    page = testapp.get("/panier")
    assert "(encore 1 minutes)" in page.text or "(encore 2 minutes)" in page.text
    testapp.post("/panier/prolonger", {"csrf_token": token(page)}, status=303)
    page = testapp.get("/panier")
    assert re.search(r"\(encore (29|30) minutes\)", page.text)
    testapp.post("/panier/retirer", {"regie": "ville", "number": "V-001", "csrf_token": token(page)}, status=303)
    page = testapp.get("/panier")
    assert "Votre panier est vide" in page.text and "Facture V-001 retirée de votre panier." in page.text
    with portal_tx() as portal:
        assert portal[INVOICES].get_invoice("ville", "V-001").basket_id is None


def test_expired_basket_releases_its_invoices(testapp, citizen, portal_tx):
    add(testapp, citizen["v1"])
    with portal_tx() as portal:
        portal[BASKETS].current(citizen["household"]).expires_at = \
            datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    assert "Votre panier a expiré" in testapp.get("/panier").text
    # an expired basket no longer blocks: the CCAS invoice goes in
    add(testapp, citizen["c1"]).follow()
    with portal_tx() as portal:
        assert portal[BASKETS].current(citizen["household"]).items == ("ccas:C-001",)
        assert portal[INVOICES].get_invoice("ville", "V-001").basket_id is None


def test_paid_invoice_cannot_be_added(testapp, citizen, portal_tx):
    with portal_tx() as portal:
        invoice = portal[INVOICES].get_invoice("ville", "V-002")
        portal[INVOICES].set_state(invoice, PAID)
    page = add(testapp, citizen["v2"]).follow()
    assert "Cette facture est déjà payée." in page.text


def test_invoice_of_another_household_is_not_found(testapp, citizen, portal_tx):
    with portal_tx() as portal:
        _account, other = create_citizen(portal, code="voisin", validated=True, email="voisin@example.org")
        create_invoice(portal, other, "ville", "V-900", 5000)
    assert "V-900" not in testapp.get("/comptes").text
    add(testapp, ("ville", "V-900"), status=404)
    testapp.get("/comptes/factures/ville/V-900.pdf", status=404)
    testapp.get("/comptes/factures/ville/V-001.pdf", status=200)
    with portal_tx() as portal:
        assert portal[INVOICES].get_invoice("ville", "V-900").basket_id is None
        assert portal[BASKETS].current(other.id) is None


def test_invoices_hidden_before_validation(testapp, portal_tx):
    with portal_tx() as portal:
        account, household = create_citizen(portal, validated=False)
        create_invoice(portal, household, "ville", "V-100", 3000)
    login_citizen(testapp, "jdupont", PASSWORD)
    html = testapp.get("/comptes").text
    assert "V-100" not in html and "Ajouter au panier" not in html
    assert "pas encore été validé" in html
    # the FAQ's two conditions
    assert "scolaire, périscolaire, petite enfance ou CCAS" in html
    assert "depuis plus de 2 jours ouvrés" in html
    testapp.get("/comptes/factures/ville/V-100.pdf", status=404)
    page = testapp.get("/comptes")
    testapp.post("/panier/ajouter", {"regie": "ville", "number": "V-100", "csrf_token": token(page)}, status=404)
    testapp.get("/panier", status=404)
    with portal_tx() as portal:
        from compte_citoyen.authentication.models import VALIDATED
        portal["accounts"].set_state(portal["accounts"].get_by_code("jdupont"), VALIDATED)
    assert "V-100" in testapp.get("/comptes").text


def test_no_invoice_explains_the_two_conditions(testapp, portal_tx):
    with portal_tx() as portal:
        create_citizen(portal, validated=True)
    login_citizen(testapp, "jdupont", PASSWORD)
    html = testapp.get("/comptes").text
    assert "Pourquoi n’ai-je aucune facture dans mon compte ?" in html
    assert "scolaire, périscolaire, petite enfance ou CCAS" in html and "2 jours ouvrés" in html


def test_three_month_window(testapp, portal_tx):
    from compte_citoyen.billing.views import local_today
    today = local_today()
    limit = months_before(today, 3)
    with portal_tx() as portal:
        _account, household = create_citizen(portal, validated=True)
        create_invoice(portal, household, "ville", "RECENT", 1000, issue_date=today - datetime.timedelta(days=20))
        create_invoice(portal, household, "ville", "LIMIT", 1000, issue_date=limit)
        create_invoice(portal, household, "ville", "OLD", 1000, issue_date=limit - datetime.timedelta(days=1))
        create_invoice(portal, household, "ccas", "OLDPAID", 1000, issue_date=today - datetime.timedelta(days=120),
                       state=PAID)
        create_invoice(portal, household, "ccas", "NEWPAID", 1000, issue_date=today - datetime.timedelta(days=40),
                       state=PAID)
    login_citizen(testapp, "jdupont", PASSWORD)
    html = testapp.get("/comptes").text
    assert "RECENT" in html and "LIMIT" in html and "NEWPAID" in html
    assert "OLD<" not in html and "OLD " not in html and "OLDPAID" not in html
    statement = html[html.index('id="releve"'):html.index('id="factures-a-payer"')]
    assert "NEWPAID" in statement and "RECENT" not in statement


def test_invoice_pdf(testapp, citizen):
    response = testapp.get("/comptes/factures/ville/V-001.pdf")
    assert response.content_type == "application/pdf"
    assert response.body.startswith(b"%PDF")
    assert b"/Title" in response.body and b"/Lang" in response.body


def test_staff_and_anonymous_cannot_use_citizen_billing(testapp, portal_tx):
    testapp.get("/comptes", status=302)
    testapp.get("/panier", status=302)


def test_demo_data(registry, portal_tx, testapp):
    """``init --demo``: a validated household ``demo`` with paid and unpaid invoices in both régies, and staff."""
    from compte_citoyen.billing.demo import DEMO_PASSWORD, compte_citoyen_demo_data
    with portal_tx() as portal:
        lines = compte_citoyen_demo_data(portal, registry)
    text = "\n".join(lines)
    assert f"citoyen demo / {DEMO_PASSWORD}" in text
    for login in ("demo-admin", "demo-validation", "demo-agent", "demo-regie-ville", "demo-regie-ccas"):
        assert f"agent {login} / " in text
    assert "secret TOTP" in text and "otpauth://totp/" in text
    with portal_tx() as portal:
        account = portal["accounts"].get_by_code("demo")
        assert account.validated
        invoices = portal[INVOICES].for_household(account.household_id)
        for regie in ("ville", "ccas"):
            states = {i.state for i in invoices if i.regie == regie}
            assert states == {"paid", "unpaid"}
        assert portal["staff"]["demo-regie-ville"].regies == ["ville"]
        again = compte_citoyen_demo_data(portal, registry)  # idempotent: nothing created twice
        assert len(portal[INVOICES].for_household(account.household_id)) == len(invoices)
        assert "déjà présent" in "\n".join(again)
    login_citizen(testapp, "demo", DEMO_PASSWORD)
    page = testapp.get("/comptes").text
    statement = page[page.index('id="releve"'):page.index('id="factures-a-payer"')]
    assert "VILLE-" in statement and "CCAS-" in statement and "/comptes/recus/" in statement
    assert page.count("Ajouter au panier") == 4
