"""Back office of the régies: a manager sees only their régie; invoices, payments, baskets, anomalies, CSV."""
import datetime
import re

import pytest

from compte_citoyen.billing.models import (ANOMALIES, INVOICES, PAYMENT_PAID, PAYMENTS, Anomaly, Payment,
                                           new_id)
from compte_citoyen.household.workdays import local_today
from compte_citoyen.testing import create_citizen, create_invoice, create_staff, login_staff

STAFF_PASSWORD = "staff password 2026!"


def token(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


@pytest.fixture
def data(portal_tx):
    with portal_tx() as portal:
        _account, household = create_citizen(portal, validated=True)
        create_invoice(portal, household, "ville", "V-001", 4250)
        paid = create_invoice(portal, household, "ville", "V-002", 1800)
        create_invoice(portal, household, "ccas", "C-001", 9000)
        now = datetime.datetime.now(datetime.timezone.utc)
        payment = Payment(new_id(), "ville", "systempayv2", household.id, "", (paid.key,), 1800, now)
        portal[PAYMENTS].add_payment(payment)
        portal[PAYMENTS].set_order(payment, payment.id)
        portal[PAYMENTS].set_state(payment, PAYMENT_PAID)
        payment.paid_at = now
        payment.receipt_number = "VILLE-2026-000001"
        payment.bank_data["vads_auth_number"] = "123456"
        portal[ANOMALIES].record(Anomaly(new_id(), "ville", "unknown_order", "notification: no payment",
                                         order_id="zz", amount=500))
        portal[ANOMALIES].record(Anomaly(new_id(), "ccas", "wrong_amount", "ccas only"))
        ville = create_staff(portal, "gestion-ville", roles=("regie_manager",), regies=("ville",))
        admin = create_staff(portal, "admin", roles=("admin",))
        agent = create_staff(portal, "agent", roles=("agent",), services=("etat_civil",))
        return {"ville": ville.totp_secret, "admin": admin.totp_secret, "agent": agent.totp_secret,
                "household": household.id}


def test_regie_manager_sees_only_their_regie(testapp, data):
    assert login_staff(testapp, "gestion-ville", STAFF_PASSWORD, data["ville"]).status_int == 302
    page = testapp.get("/backoffice/factures")
    assert page.text.count("<h1") == 1
    assert "Régie Ville" in page.text and "Régie CCAS" not in page.text
    regie = testapp.get("/backoffice/regies/ville")
    assert "V-001" in regie.text and "C-001" not in regie.text and "Jeanne Dupont" in regie.text
    testapp.get("/backoffice/regies/ccas", status=403)
    testapp.get("/backoffice/regies/ccas/paiements.csv", status=403)
    testapp.get("/backoffice/regies/inconnue", status=404)
    anomalies = testapp.get("/backoffice/regies/ville", params={"vue": "anomalies"})
    assert "Commande inconnue" in anomalies.text and "ccas only" not in anomalies.text
    payments = testapp.get("/backoffice/regies/ville", params={"vue": "paiements"})
    assert "VILLE-2026-000001" in payments.text
    assert "Paniers en cours" in testapp.get("/backoffice/regies/ville", params={"vue": "paniers"}).text


def test_other_roles_are_refused(testapp, data):
    login_staff(testapp, "agent", STAFF_PASSWORD, data["agent"])
    testapp.get("/backoffice/factures", status=403)
    testapp.get("/backoffice/regies/ville", status=403)


def test_admin_sees_every_regie(testapp, data):
    login_staff(testapp, "admin", STAFF_PASSWORD, data["admin"])
    page = testapp.get("/backoffice/factures")
    assert "Régie Ville" in page.text and "Régie CCAS" in page.text
    assert "C-001" in testapp.get("/backoffice/regies/ccas").text


def test_export_payments_of_a_period(testapp, data, portal_tx):
    login_staff(testapp, "gestion-ville", STAFF_PASSWORD, data["ville"])
    today = local_today()
    response = testapp.get("/backoffice/regies/ville/paiements.csv",
                           params={"du": (today - datetime.timedelta(days=1)).isoformat(),
                                   "au": (today + datetime.timedelta(days=1)).isoformat()})
    assert response.content_type == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    text = response.body.decode("utf-8-sig")
    lines = text.strip().splitlines()
    assert lines[0].startswith("date_paiement;recu;commande;montant")
    assert len(lines) == 2 and "VILLE-2026-000001" in lines[1] and ";18,00;1800;V-002;" in lines[1]
    assert "123456" in lines[1]
    empty = testapp.get("/backoffice/regies/ville/paiements.csv", params={"du": "2020-01-01", "au": "2020-01-31"})
    assert len(empty.body.decode("utf-8-sig").strip().splitlines()) == 1
    bad = testapp.get("/backoffice/regies/ville/paiements.csv", params={"du": "2020-02-01", "au": "2020-01-01"})
    assert bad.status_int == 303
    with portal_tx() as portal:
        assert any(e.action == "payments-exported" for e in portal["journal"].for_target("regie:ville"))


def test_issue_an_invoice(testapp, data, portal_tx):
    login_staff(testapp, "gestion-ville", STAFF_PASSWORD, data["ville"])
    form_page = testapp.get("/backoffice/regies/ville/factures/nouvelle")
    assert form_page.text.count("<h1") == 1
    form = form_page.forms["invoice-new"]
    form["number"] = "V-500"
    form["account"] = "jdupont"
    form.set("date", "2026-11-02", index=0)  # issue date (the portal's native date field)
    form.set("date", "2026-10-01", index=1)  # payment deadline, before the issue date
    form["line1_member"] = "Jeanne"
    form["line1_label"] = "Cantine"
    form["line1_amount"] = "douze"
    page = form.submit("save")
    assert "Saisissez un montant en euros" in page.text
    form = page.forms["invoice-new"]
    assert form["number"].value == "V-500"  # what was typed is kept
    assert form.get("date", index=0).value == "2026-11-02"
    form["line1_amount"] = "12,50"
    page = form.submit("save")
    assert "antérieure à la date d’émission" in page.text
    form = page.forms["invoice-new"]
    form.set("date", "2026-12-02", index=1)
    response = form.submit("save")
    assert response.status_int == 303
    assert "Facture V-500 émise." in response.follow().text
    with portal_tx() as portal:
        invoice = portal[INVOICES].get_invoice("ville", "V-500")
        assert invoice.total == 1250 and invoice.household_id == data["household"]
        assert invoice.lines[0].member_name == "Jeanne Dupont" and invoice.source == "backoffice"
    # a number is unique per régie
    form = testapp.get("/backoffice/regies/ville/factures/nouvelle").forms["invoice-new"]
    for name, value in {"number": "V-500", "account": "jdupont", "line1_label": "X", "line1_amount": "1"}.items():
        form[name] = value
    form.set("date", "2026-11-02", index=0)
    form.set("date", "2026-12-02", index=1)
    assert "existe déjà dans cette régie" in form.submit("save").text
    pdf = testapp.get("/backoffice/regies/ville/factures/V-500.pdf")
    assert pdf.body.startswith(b"%PDF")


def test_import_csv_in_the_back_office(testapp, data, portal_tx):
    login_staff(testapp, "gestion-ville", STAFF_PASSWORD, data["ville"])
    page = testapp.get("/backoffice/regies/ville/import")
    header = "numero;compte;date_emission;date_echeance;membre;libelle;montant\n"
    bad = (header + "V-10;jdupont;01/11/2026;30/11/2026;;Cantine;10,00\n"
           + "V-11;inconnu;01/11/2026;30/11/2026;;Cantine;10,00\n").encode("utf-8")
    result = testapp.post("/backoffice/regies/ville/import", {"csrf_token": token(page)},
                          upload_files=[("fichier", "nov.csv", bad)])
    assert "Rien n’a été importé" in result.text
    assert "<span>Ligne</span> 3 : aucun compte avec le code d’accès « inconnu »" in result.text
    with portal_tx() as portal:
        assert portal[INVOICES].get_invoice("ville", "V-10") is None
    good = (header + "V-10;jdupont;01/11/2026;30/11/2026;;Cantine;10,00\n").encode("utf-8")
    response = testapp.post("/backoffice/regies/ville/import", {"csrf_token": token(page)},
                            upload_files=[("fichier", "nov.csv", good)])
    assert response.status_int == 303 and "1 facture(s) importée(s)." in response.follow().text


def test_resolve_an_anomaly(testapp, data, portal_tx):
    login_staff(testapp, "gestion-ville", STAFF_PASSWORD, data["ville"])
    page = testapp.get("/backoffice/regies/ville", params={"vue": "anomalies"})
    form = [f for f in page.forms.values() if "resolution" in f.fields][0]
    assert form.submit().follow().text.count("Indiquez ce qui a été fait") == 1
    form["resolution"] = "Remboursé par la banque le 26/11"
    page = form.submit().follow()
    assert "Anomalie marquée comme régularisée." in page.text and "Remboursé par la banque" in page.text
    with portal_tx() as portal:
        assert portal[ANOMALIES].count_open("ville") == 0 and portal[ANOMALIES].count_open("ccas") == 1
