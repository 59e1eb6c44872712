"""Fill a procedure's own form pages with plausible values, validated by the procedure's schemas.

Used by the data generator (the answers stored with a request) and by the benchmark (the drafts it submits): the
values go through the same deform/colander validation as a citizen's, so plugins' hooks that read answers (a
pick-up date, a school) find what they expect. Values are chosen from each field's widget (choices), type (dates,
booleans, numbers) and name (names, e-mail, phone); a page is tried a few times with other random values before the
procedure is given up.
"""
from __future__ import annotations

import datetime
import random

import colander
import deform

from ..household.workdays import local_today

ATTEMPTS = 25


def _choices(widget) -> list[str]:
    values = getattr(widget, "values", None) or []
    out = []
    for value in values:
        if isinstance(value, (tuple, list)) and value:
            if isinstance(value[1], (tuple, list)):  # optgroup
                out.extend(str(v[0]) for v in value[1])
                continue
            value = value[0]
        if value not in ("", None):
            out.append(str(value))
    return out


def _text_for(name: str, person, household, rng: random.Random) -> str:
    name = (name or "").lower()
    if "email" in name or "courriel" in name:
        return getattr(person, "email", "") or getattr(household, "email", "") or "habitant@example.org"
    if "mobile" in name or "phone" in name or "telephone" in name or "tel" == name:
        return getattr(person, "mobile", "") or "0612345678"
    if "first" in name or "prenom" in name:
        return getattr(person, "first_names", "") or "Camille"
    if "name" in name or "nom" in name:
        return getattr(person, "family_name", "") or "Martin"
    if "postcode" in name or "code_postal" in name or "zip" in name:
        return getattr(household, "postcode", "") or "37000"
    if "city" in name or "ville" in name or "commune" in name:
        return getattr(household, "city", "") or "Clairval"
    if "address" in name or "adresse" in name or "street" in name:
        return getattr(household, "address", "") or "12 rue des Lilas"
    if "year" in name or "annee" in name:
        return str(local_today().year)
    if "count" in name or "number" in name or "nombre" in name or "quantity" in name:
        return str(rng.randint(1, 3))
    if "date" in name or "day" in name or "jour" in name:
        return (local_today() + datetime.timedelta(days=rng.randint(2, 40))).isoformat()
    return rng.choice(["Merci de votre aide.", "Canapé et deux chaises.", "Demande habituelle.",
                       "Disponible le matin.", "Rien à signaler."])


def cstruct_for(node: colander.SchemaNode, person, household, rng: random.Random):
    """A value as a browser would post it (peppercorn pstruct) for ``node``."""
    typ = node.typ
    widget = node.widget
    if isinstance(typ, colander.Mapping):
        return {child.name: cstruct_for(child, person, household, rng) for child in node.children
                if child.name != "csrf_token"}
    if isinstance(typ, (colander.Sequence, colander.List)):
        return []
    choices = _choices(widget)
    if isinstance(typ, colander.Set) or isinstance(widget, deform.widget.CheckboxChoiceWidget):
        return rng.sample(choices, k=1) if choices else []
    if isinstance(typ, colander.Boolean):
        return "true"
    if choices:
        return rng.choice(choices)
    if isinstance(typ, colander.Date) or isinstance(widget, deform.widget.DateInputWidget):
        options = getattr(widget, "options", None) or {}
        low = options.get("min")
        start = datetime.date.fromisoformat(low) if isinstance(low, str) and low else local_today()
        if node.name and "birth" in node.name:
            return (getattr(person, "birth_date", None) or datetime.date(1990, 5, 17)).isoformat()
        return (start + datetime.timedelta(days=rng.randint(1, 45))).isoformat()
    if isinstance(typ, colander.DateTime):
        return (datetime.datetime.now() + datetime.timedelta(days=rng.randint(1, 30))).isoformat(timespec="minutes")
    if isinstance(typ, (colander.Integer, colander.Float, colander.Decimal)):
        return str(rng.randint(1, 3))
    return _text_for(node.name, person, household, rng)


def _validate(schema, pstruct):
    try:
        return deform.Form(schema).validate_pstruct(pstruct)
    except deform.ValidationFailure:
        return None


def _dates_as_mappings(schema, pstruct):
    out = dict(pstruct)
    for child in schema.children:
        if child.name not in out:
            continue
        if isinstance(child.typ, colander.Mapping) and isinstance(out[child.name], dict):
            out[child.name] = _dates_as_mappings(child, out[child.name])
        elif isinstance(child.widget, deform.widget.DateInputWidget) and isinstance(out[child.name], str):
            out[child.name] = {"date": out[child.name]}
    return out


def fill_procedure(request, portal, procedure, household, account, member, rng: random.Random):
    """``(answers, summary, pstructs)`` for every form page of ``procedure``, or None when no valid values were found.

    ``answers`` is what a filed request stores (page index -> plain appstruct) with its French ``summary``;
    ``pstructs`` what a draft stores (page index -> posted values).
    """
    from ..procedures.schemas import MEMBER_FIELD, describe, member_node
    from ..procedures.views import _plain
    translate = request.translate
    person = member or (household.holder if household is not None else None)
    answers, summary, pstructs = {}, [], {}
    for index, (title, factory) in enumerate(procedure.steps):
        for _attempt in range(ATTEMPTS):
            node = factory(request)
            if index == 0 and procedure.needs_member and household is not None and member is not None:
                node.insert(0, member_node(procedure, household))
            schema = node.bind(request=request, portal=portal, household=household, account=account,
                               member=member, procedure=procedure, today=local_today())
            pstruct = cstruct_for(schema, person, household, rng)
            if index == 0 and MEMBER_FIELD in pstruct and member is not None:
                pstruct[MEMBER_FIELD] = member.id
            appstruct = _validate(schema, pstruct)
            if appstruct is None:
                pstruct = _dates_as_mappings(schema, pstruct)  # deform's own date widget posts {"date": ...}
                appstruct = _validate(schema, pstruct)
            if appstruct is None:
                continue
            appstruct.pop("csrf_token", None)
            answers[index] = {k: _plain(v) for k, v in appstruct.items()}
            summary.append((translate(title), describe(schema, appstruct, translate)))
            pstructs[index] = pstruct
            break
        else:
            return None
    return answers, summary, pstructs
