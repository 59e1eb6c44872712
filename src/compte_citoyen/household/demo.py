"""Demonstration households waiting for validation (``compte-citoyen INI init --demo``), a core plugin.

Three pending accounts created 0, 2 and 4 working days ago, so the back office's validation queue shows one
account on time, one at the limit and one late.
"""
from __future__ import annotations

import datetime

from ..plugins import hookimpl

DEMO_PASSWORD = "demo-compte-citoyen"
PENDING_DEMO = [
    # code, family name, first names, working days ago, children
    ("attente-leroy", "Leroy", "Camille", 0, ["Inès"]),
    ("attente-nguyen", "Nguyen", "Thomas", 2, []),
    ("attente-moreau", "Moreau", "Sophie", 4, ["Hugo", "Lina"]),
]


def _working_days_ago(days: int, subdiv: str | None) -> datetime.datetime:
    from .workdays import is_working_day
    now = datetime.datetime.now(datetime.timezone.utc)
    day = now
    while days > 0:
        day -= datetime.timedelta(days=1)
        if is_working_day(day.date(), subdiv):
            days -= 1
    return day


def create_pending_household(portal, code: str, family_name: str, first_names: str,
                             created: datetime.datetime, children: list[str]):
    """An account waiting for validation, with its household, holder and children."""
    from ..authentication.models import Account
    from ..authentication.passwords import hash_answer, hash_password
    from .models import ADULT, CHILD, Member, new_id
    household = portal["households"].new_household(family_name)
    household.created = created
    household.address, household.postcode, household.city = "3 place de la Mairie", "75001", "Clairval"
    holder = Member(new_id(), ADULT, family_name, first_names, datetime.date(1984, 6, 15), relation="holder",
                    civility="Mme", sex="F", email=f"{code}@example.org", mobile="0612345678")
    household.add_member(holder)
    household.holder_id = holder.id
    for index, child_name in enumerate(children):
        household.add_member(Member(new_id(), CHILD, family_name, child_name, datetime.date(2015 + index, 3, 1),
                                    relation="child"))
    account = Account(code, hash_password(DEMO_PASSWORD), household.id, holder.id,
                      "Quel est le nom de votre premier animal ?", hash_answer("Médor"), created=created)
    portal["accounts"].add_account(account)
    return account


@hookimpl
def compte_citoyen_demo_data(portal, registry):
    from .workdays import subdiv_of
    lines = ["Comptes en attente de validation (back office « Comptes à valider ») :"]
    subdiv = subdiv_of(registry.settings)
    for code, family_name, first_names, days, children in PENDING_DEMO:
        if portal["accounts"].get_by_code(code) is not None:
            lines.append(f"  citoyen {code} (déjà présent)")
            continue
        create_pending_household(portal, code, family_name, first_names, _working_days_ago(days, subdiv), children)
        lines.append(f"  citoyen {code} / {DEMO_PASSWORD} (en attente depuis {days} jour(s) ouvré(s))")
    return lines
