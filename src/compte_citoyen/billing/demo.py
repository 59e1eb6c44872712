"""Demonstration data of billing (``compte-citoyen INI init --demo``), registered as a core plugin.

Adds — once — a validated household (code d'accès ``demo``) with paid and unpaid invoices in every active
régie, and a staff member of each role, and returns the lines the command prints (logins, passwords, TOTP).
"""
from __future__ import annotations

import datetime

import pyotp

from ..household.workdays import local_today
from ..plugins import hookimpl
from .models import (INVOICES, PAID, PAYMENT_PAID, PAYMENTS, Invoice, InvoiceLine, Payment, format_amount,
                     new_id, utcnow)
from .regie import get_regies

DEMO_CODE = "demo"
DEMO_PASSWORD = "demo-compte-citoyen"
STAFF_PASSWORD = "demo-agent-clairval"
DEMO_STAFF = [
    # login, roles, name
    ("demo-admin", ["admin"], "Administratrice de démonstration"),
    ("demo-validation", ["validator"], "Agent de validation des comptes"),
    ("demo-agent", ["agent"], "Agent des services"),
]
#: what each kind of régie bills, for believable invoice lines
LINES_BY_DOMAIN = {
    "scolaire": [("Restauration scolaire — 18 repas", 7020), ("Transport scolaire — mois", 1500)],
    "periscolaire": [("Accueil périscolaire du soir — 12 séances", 3360), ("Centre de loisirs — mercredis", 4800)],
    "petite_enfance": [("Crèche municipale — 60 heures", 9600)],
    "social": [("Portage de repas — 20 repas", 9000), ("Aide à domicile — 10 heures", 12500),
               ("Téléassistance — mois", 950)],
}


def create_demo_household(portal):
    """The demonstration household: a validated account ``demo`` and four members."""
    from ..authentication.models import VALIDATED, Account
    from ..authentication.passwords import hash_answer, hash_password
    from ..household.models import ADULT, CHILD, Member, new_id as member_id
    accounts = portal["accounts"]
    existing = accounts.get_by_code(DEMO_CODE)
    if existing is not None:
        return existing, portal["households"][existing.household_id], False
    household = portal["households"].new_household("Martin")
    holder = household.add_member(Member(member_id(), ADULT, "Martin", "Camille", datetime.date(1984, 3, 9),
                                         civility="Mme", sex="F", relation="holder",
                                         email="camille.martin@example.org", mobile="0601020304"))
    household.holder_id = holder.id
    household.add_member(Member(member_id(), ADULT, "Martin", "Julien", datetime.date(1982, 11, 23),
                                civility="M.", sex="M", relation="spouse"))
    household.add_member(Member(member_id(), CHILD, "Martin", "Léa", datetime.date(2015, 6, 2),
                                sex="F", relation="child", school="École Jean-Jaurès", school_class="CM1"))
    household.add_member(Member(member_id(), CHILD, "Martin", "Tom", datetime.date(2022, 1, 17),
                                sex="M", relation="child"))
    household.address = "3 place de la Mairie"
    household.postcode = "75001"
    household.city = "Clairval"
    account = Account(DEMO_CODE, hash_password(DEMO_PASSWORD), household.id, holder.id,
                      "Quel est le nom de votre premier animal ?", hash_answer("Filou"),
                      created=utcnow() - datetime.timedelta(days=10))
    accounts.add_account(account)
    accounts.set_state(account, VALIDATED)
    return account, household, True


def _lines(regie, household) -> list[list[InvoiceLine]]:
    children = household.children() or household.adults()
    adults = household.adults()
    out = []
    for domain in regie.domains or ["social"]:
        for label, amount in LINES_BY_DOMAIN.get(domain, LINES_BY_DOMAIN["social"]):
            member = children[len(out) % len(children)] if domain != "social" else adults[0]
            out.append([InvoiceLine(label, amount, member.id, member.full_name)])
    return out or [[InvoiceLine("Prestation", 2500)]]


def create_demo_invoices(portal, regie, household) -> list[str]:
    """Two unpaid invoices, one paid by card (with its receipt) and one older than the 3-month window."""
    invoices = portal[INVOICES]
    today = local_today()
    choices = _lines(regie, household)
    year = today.year
    plan = [  # (days ago, paid)
        (5, False), (35, False), (50, True), (130, True),
    ]
    created = []
    for index, (days, paid) in enumerate(plan, start=1):
        number = f"{regie.code.upper()}-{year}-D{index:03d}"
        if invoices.get_invoice(regie.code, number) is not None:
            continue
        issue = today - datetime.timedelta(days=days)
        invoice = Invoice(regie.code, number, household.id, issue, issue + datetime.timedelta(days=30),
                          choices[(index - 1) % len(choices)], label=f"Facture du {issue:%m/%Y}", source="demo")
        invoices.add_invoice(invoice)
        if paid:
            when = datetime.datetime.combine(issue + datetime.timedelta(days=3), datetime.time(10),
                                             datetime.timezone.utc)
            payment = Payment(new_id(), regie.code, regie.payment_backend, household.id, "", (invoice.key,),
                              invoice.total, when)
            payment.created = when
            portal[PAYMENTS].add_payment(payment)
            portal[PAYMENTS].set_order(payment, f"demo{payment.id}")
            payment.receipt_number = f"{regie.code.upper()}-{year}-{portal.next_number('receipt:' + regie.code):06d}"
            payment.paid_at = when
            portal[PAYMENTS].set_state(payment, PAYMENT_PAID)
            invoices.set_state(invoice, PAID)
            invoice.paid_at = when
            invoice.paid_payment_id = payment.id
        created.append(f"{number} {format_amount(invoice.total)} {'payée' if paid else 'à payer'}")
    return created


def _totp_lines(registry, member) -> list[str]:
    uri = pyotp.TOTP(member.totp_secret).provisioning_uri(
        name=member.login, issuer_name=registry.settings.get("compte_citoyen.city_name", "Compte Citoyen"))
    return [f"    secret TOTP : {member.totp_secret}", f"    URI TOTP    : {uri}"]


def create_demo_staff(portal, registry) -> list[str]:
    from ..backoffice.commands import create_staff_member
    lines = []
    regies = get_regies(registry)
    try:
        from ..procedures.registry import get_registry
        services = get_registry(registry).services()
    except Exception:  # the procedures area may not provide services yet
        services = []
    staff = list(DEMO_STAFF)
    for code in regies:
        staff.append((f"demo-regie-{code}", ["regie_manager"], f"Gestionnaire de la régie {code}"))
    for login, roles, name in staff:
        member = portal["staff"].get(login)
        if member is None:
            member = create_staff_member(portal, login, STAFF_PASSWORD, roles,
                                         services if "agent" in roles else [],
                                         [login[len("demo-regie-"):]] if "regie_manager" in roles else [], name)
        lines.append(f"  agent {login} / {STAFF_PASSWORD} ({', '.join(roles)})")
        lines.extend(_totp_lines(registry, member))
    return lines


@hookimpl
def compte_citoyen_demo_data(portal, registry):
    """Billing's part of the demonstration data (see the module docstring)."""
    lines = ["Facturation (Mes comptes, panier, paiement simulé) :"]
    _account, household, created = create_demo_household(portal)
    if created:
        lines.append(f"  citoyen {DEMO_CODE} / {DEMO_PASSWORD} (compte validé, foyer Martin)")
    else:
        lines.append(f"  citoyen {DEMO_CODE} (déjà présent) : factures ajoutées à son foyer")
    for regie in get_regies(registry).values():
        for text in create_demo_invoices(portal, regie, household):
            lines.append(f"  facture {text}")
    lines.append(f"  paiement : le simulateur local répond comme la banque (boutons Payer / Refuser / Annuler)")
    lines.extend(create_demo_staff(portal, registry))
    return lines
