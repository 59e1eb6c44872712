"""Demonstration requests (``compte-citoyen INI init --demo``), registered as a core plugin.

Runs after the other demonstration hooks (``trylast``) so the demonstration household ``demo`` (created by
billing's demo) exists; without it, only an anonymous civil-status request is created. Requests are filed and
moved through ``workflow`` like real ones, one in each of the 4 steps.
"""
from __future__ import annotations

import datetime

from ..household.workdays import local_today
from ..plugins import hookimpl
from .models import DOC_MISSING, DOC_PAPER
from .registry import ACCEPTED, get_registry
from .schemas import MEMBER_FIELD, describe

DEMO_CODE = "demo"
#: an answer taken from the first choice the bound form offers (e.g. the next pick-up date of the calendar)
FIRST_CHOICE = object()


def demo_request(portal, registry):
    """A request object good enough for filing outside a web request (translations, URLs, settings)."""
    from pyramid.request import Request, apply_request_extensions
    public_url = registry.settings.get("compte_citoyen.public_url", "http://127.0.0.1:6543")
    request = Request.blank("/", base_url=public_url)
    request.registry = registry
    apply_request_extensions(request)
    request.app_root = portal
    request.identity_cache = None
    return request


def file_answers(request, portal, procedure, pages: dict, household=None, account=None, member=None, paper=(),
                 notify: bool = False):
    """File a request from answers given page by page (demonstration data and tests), as the form would."""
    from .workflow import file_submission
    answers, summary = {}, []
    for index, (title, factory) in enumerate(procedure.steps):
        schema = factory(request)
        if index == 0 and member is not None:
            from .schemas import member_node
            schema.insert(0, member_node(procedure, household))
        schema = schema.bind(request=request, portal=portal, household=household, account=account, member=member,
                             procedure=procedure, today=local_today())
        values = dict(pages.get(index, {}))
        for name, value in values.items():
            if value is FIRST_CHOICE:
                values[name] = schema[name].widget.values[0][0]
        if index == 0 and member is not None:
            values[MEMBER_FIELD] = member.id
        answers[index] = values
        summary.append((request.translate(title), describe(schema, values, request.translate)))
    documents = [(d, DOC_PAPER if d.code in paper else DOC_MISSING, None) for d in procedure.documents]
    submission, _token = file_submission(request, portal, procedure, answers=answers, summary=summary,
                                         documents=documents, household=household, account=account, member=member,
                                         notify=notify)
    return submission


@hookimpl(trylast=True)
def compte_citoyen_demo_data(portal, registry):
    from .workflow import change_status, record_decision
    procedures = get_registry(registry)
    request = demo_request(portal, registry)
    lines = ["Démarches (Les Services, Mes Demandes, back office « Demandes ») :"]
    account = portal["accounts"].get_by_code(DEMO_CODE)
    household = portal["households"].get(account.household_id) if account is not None else None
    children = household.children() if household is not None else []
    today = local_today()

    if household is not None and procedures.get("encombrants") is not None:
        s = file_answers(request, portal, procedures.get("encombrants"), {
            0: {"address": household.address, "address_extra": "", "postcode": household.postcode,
                "city": household.city, "pickup_date": FIRST_CHOICE, "phone": household.mobile},
            1: {"categories": ["furniture", "bedding"], "items": "1 armoire\n1 matelas", "volume": 2, "access": ""},
        }, household, account)
        day = s.data.get("pickup_date")
        lines.append(f"  {s.number} {s.procedure_title} : reçue (rappel programmé la veille du {day:%d/%m/%Y})")
    if children and procedures.get("inscription_scolaire") is not None:
        s = file_answers(request, portal, procedures.get("inscription_scolaire"), {
            0: {"school_year": FIRST_CHOICE, "level": "CM2"},
            1: {"school": "École Jules Ferry", "previous_school": children[0].school, "derogation": False,
                "derogation_reason": "", "health": ""},
        }, household, account, children[0], paper=("address_proof", "family_book", "vaccinations"))
        change_status(request, portal, s, "in_progress")
        lines.append(f"  {s.number} {s.procedure_title} ({children[0].first_names}) : en cours de traitement")
    if children and procedures.get("periscolaire") is not None:
        s = file_answers(request, portal, procedures.get("periscolaire"), {
            0: {"school_year": FIRST_CHOICE},
            1: {"school": "École Jules Ferry", "canteen": ["monday", "tuesday", "thursday", "friday"], "morning": [], "evening": ["tuesday"],
                "wednesday": False, "start_date": today + datetime.timedelta(days=7), "pai": False, "diet": ""},
        }, household, account, children[0], paper=("insurance",))
        record_decision(request, portal, s, ACCEPTED, "Inscription enregistrée pour la rentrée.")
        lines.append(f"  {s.number} {s.procedure_title} ({children[0].first_names}) : décision prise (accord)")
    if procedures.get("acte_naissance") is not None:
        s = file_answers(request, portal, procedures.get("acte_naissance"), {
            0: {"person_family_name": "Bernard", "person_first_names": "Paul", "event_date": datetime.date(1990, 5, 4),
                "event_place": "Clairval", "father_family_name": "Bernard", "father_first_names": "Jean",
                "mother_family_name": "Petit", "mother_first_names": "Anne", "document_type": "copie_integrale",
                "copies": 1, "quality": "self"},
            1: {"civility": "M.", "family_name": "Bernard", "first_names": "Paul", "email": "paul.bernard@example.org",
                "phone": "", "address": "8 rue du Port", "address_extra": "", "postcode": "13002",
                "city": "Marseille", "country": "France"},
        })
        record_decision(request, portal, s, ACCEPTED, "")
        change_status(request, portal, s, "done")
        lines.append(f"  {s.number} {s.procedure_title} (sans compte) : terminée")
    if household is None:
        lines.append(f"  pas de foyer « {DEMO_CODE} » : seule une demande sans compte est créée")
    return lines
