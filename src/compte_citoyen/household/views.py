"""Citizen side of the household: "Accueil", "Modifier mon compte", members, communication, my data, closure.

Access control: every view reads the household of the logged-in account (never an id from the client);
a member id from the URL or from a form field must belong to that household, otherwise 404 and nothing
changes. Validation gate: until the city has validated the account, every modification is refused with
a French explanation (procedures stay open; they live in another tab).
"""
from __future__ import annotations

import datetime
import functools
import json
import secrets

import deform
from babel.dates import format_date
from pyramid.httpexceptions import HTTPForbidden, HTTPFound, HTTPNotFound
from pyramid.renderers import render_to_response
from pyramid.response import Response
from pyramid.view import view_config

from ..backoffice.models import journal
from ..forms import FormView
from ..i18n import _
from ..security import CITIZEN_KIND, utcnow
from . import workdays
from .models import ADULT, CHILD, Member, new_id
from .schemas import (
    ADDRESS_FIELDS, CIVILITY_CHOICES, COMMUNICATION_LABELS, MEMBER_FIELDS, RELATION_LABELS, SEX_CHOICES,
    address_schema, format_phone, member_schema, preferences_schema,
)

KIND_SLUGS = {"adulte": ADULT, "enfant": CHILD}
REQUESTS_ON_HOME = 10
MESSAGES_ON_HOME = 5
EXPORT_LIMIT = 10_000



# --- the citizen, the household, the member -------------------------------------------------------------

def current_account(request):
    """The logged-in citizen's account (staff identities have no household)."""
    identity = request.identity
    if identity is None or getattr(identity, "kind", None) != CITIZEN_KIND:
        raise HTTPForbidden()
    request.nav_section = "citizen_home"  # every page of the household sits under the "Accueil" tab
    return identity


def current_household(request):
    account = current_account(request)
    household = request.app_root["households"].get(account.household_id)
    if household is None:
        raise HTTPNotFound()
    return household


def member_of(household, member_id: str | None) -> Member:
    """A current member of *this* household, or 404 (another household's, removed or unknown member)."""
    member = household.members.get(member_id or "") if isinstance(member_id, str) else None
    if member is None or member.removed:
        raise HTTPNotFound()
    return member


def format_day(request, day: datetime.date | datetime.datetime | None, fmt: str = "long") -> str:
    if day is None:
        return ""
    if isinstance(day, datetime.datetime):
        day = workdays.local_date(day)
    return _formatted_day(day, fmt, request.locale_name or "fr")


@functools.lru_cache(maxsize=4096)
def _formatted_day(day: datetime.date, fmt: str, locale: str) -> str:
    """Babel's formatting of a day (tens of microseconds each; a page shows several, mostly the same few days)."""
    return format_date(day, format=fmt, locale=locale)


def validation_deadline(request, account) -> datetime.date:
    subdiv = workdays.subdiv_of(request.registry.settings)
    return workdays.add_working_days(workdays.local_date(account.created), workdays.VALIDATION_DELAY, subdiv)


def gate_message(request, account) -> str:
    """Why the account cannot be modified yet (empty when it can)."""
    from ..authentication.models import REFUSED
    if account.validated:
        return ""
    if account.state == REFUSED:
        return request.translate(_(
            "The city refused to validate your account (reason: ${reason}), so it cannot be modified. "
            "Please contact the city hall.", mapping={"reason": account.refusal_reason or "—"}))
    deadline = validation_deadline(request, account)
    if workdays.local_today() <= deadline:
        return request.translate(_(
            "Your account has not been validated by the city yet, so it cannot be modified. Validation takes "
            "2 working days after the account is created (by ${date} at the latest). Meanwhile you can already "
            "do your procedures in the \"Services\" tab.", mapping={"date": format_day(request, deadline, "full")}))
    return request.translate(_(
        "Your account has not been validated by the city yet, so it cannot be modified. Validation normally "
        "takes 2 working days after the account is created; it is taking longer this time and will be done as "
        "soon as possible. Meanwhile you can already do your procedures in the \"Services\" tab."))


def refuse_modification(request, account, title):
    """The page shown instead of a modification while the account is not validated (nothing changes)."""
    response = render_to_response("compte_citoyen.household:templates/refused.pt", {
        "page_title": request.translate(title),
        "message": gate_message(request, account),
    }, request=request)
    if request.method == "POST":
        response.status = 403  # also makes pyramid_tm abort the transaction: nothing is written
    return response


def acknowledge(request, household, what: str, extra_email: str | None = None) -> None:
    """Queue the "data changed" acknowledgement (e-mail) in this request's transaction."""
    from ..notification import ACKNOWLEDGEMENT, notify_household, queue_message
    portal = request.app_root
    subject = request.translate(_("Your account has been modified"))
    text = request.translate(_(
        "The following change was made to your account: ${what}.\n"
        "If you did not make this change, contact the city hall at once.", mapping={"what": what}))
    event = f"household-changed:{household.id}:{secrets.token_hex(8)}"
    notify_household(request, portal, household, kind=ACKNOWLEDGEMENT, subject=subject, text=text,
                     event_key=event)
    if extra_email and extra_email != household.email:
        # the previous address hears about the change of address too (someone else may have made it)
        queue_message(portal, event_key=event + ":previous-email", kind=ACKNOWLEDGEMENT, subject=subject,
                      text=text, email=extra_email, household_id=household.id)


# --- "Accueil" --------------------------------------------------------------------------------------------

def optional_helper(module: str, name: str):
    """A function another area provides, or None while it does not exist yet."""
    import importlib
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def household_requests(request, household_id: str, limit: int | None):
    """The household's requests (from the procedures area), or None when that area is not there."""
    func = optional_helper("compte_citoyen.procedures", "requests_for_household")
    if func is None:
        return None
    return list(func(request.app_root, household_id, limit))


def household_messages(request, household_id: str, limit: int):
    func = optional_helper("compte_citoyen.notification", "messages_for_household")
    if func is None:
        return None
    return list(func(request.app_root, household_id, limit))


def waiting_items(request, account, household, requests) -> list[str]:
    """What is waiting for the citizen, in plain French."""
    from ..authentication.models import REFUSED
    items = []
    if account.state == REFUSED:
        items.append(request.translate(_("Your account was refused: contact the city hall.")))
    elif not account.validated:
        items.append(request.translate(_(
            "The city is checking your account (2 working days). Until then you cannot modify it, but you can "
            "already do your procedures.")))
    for req in requests or []:
        at_counter = getattr(req, "documents_expected_at_counter", None)
        if (getattr(req, "step", 4) or 4) >= 4:
            continue
        if getattr(req, "status", "") == "waiting_documents" or (callable(at_counter) and at_counter()):
            items.append(request.translate(_(
                "Request ${number}: come to the counter with your supporting documents.",
                mapping={"number": req.number})))
    if household.communication == "sms" and not household.mobile:
        items.append(request.translate(_("You chose SMS but no mobile number is recorded: update your "
                                         "means of communication.")))
    if household.closure_requested_at is not None:
        items.append(request.translate(_("You asked for your account to be closed on ${date}: the city is "
                                         "handling your request.",
                                         mapping={"date": format_day(request, household.closure_requested_at)})))
    return items


@view_config(route_name="citizen_home", renderer="templates/home.pt")
def citizen_home(request):
    account = current_account(request)
    household = current_household(request)
    requests = household_requests(request, household.id, REQUESTS_ON_HOME)
    messages = household_messages(request, household.id, MESSAGES_ON_HOME)
    return {
        "page_title": request.translate(_("Home")),
        "account": account,
        "household": household,
        "adults": household.adults(),
        "children": household.children(),
        "holder": household.holder,
        "communication_label": request.translate(COMMUNICATION_LABELS.get(household.communication, "")),
        "deadline": format_day(request, validation_deadline(request, account), "full"),
        "validated_on": format_day(request, account.validated_at),
        "requests": requests,
        "messages": messages,
        "waiting": waiting_items(request, account, household, requests),
        "format_day": lambda d: format_day(request, d),
        "format_short": lambda d: format_day(request, d, "short"),
    }


# --- "Modifier mon compte" ----------------------------------------------------------------------------------

def member_rows(request, member, holder_id) -> list[tuple[str, str]]:
    """The member's information as (label, value) rows for the right-hand panel."""
    t = request.translate
    sexes = dict(SEX_CHOICES)
    civilities = dict(CIVILITY_CHOICES)
    relation = "holder" if member.id == holder_id else member.relation
    rows = []
    if member.is_adult and member.civility:
        rows.append((t(_("Civility")), t(civilities.get(member.civility, member.civility))))
    rows += [
        (t(_("Family name")), member.family_name),
        (t(_("First names")), member.first_names),
        (t(_("Birth date")), format_day(request, member.birth_date) if member.birth_date else "—"),
        (t(_("Sex")), t(sexes[member.sex]) if member.sex in sexes else "—"),
        (t(_("Relation to the account holder")), t(RELATION_LABELS[relation]) if relation in RELATION_LABELS
         else (relation or "—")),
    ]
    if member.is_adult:
        rows += [(t(_("E-mail")), member.email or "—"), (t(_("Phone")), format_phone(member.phone) or "—"),
                 (t(_("Mobile")), format_phone(member.mobile) or "—")]
    else:
        rows += [(t(_("School")), member.school or "—"), (t(_("Class")), member.school_class or "—"),
                 (t(_("Health notes")), member.health_notes or "—")]
    return rows


def account_page(request, selected: Member | None = None) -> dict:
    account = current_account(request)
    household = current_household(request)
    return {
        "page_title": request.translate(_("Modify my account")),
        "account": account,
        "household": household,
        "adults": household.adults(),
        "children": household.children(),
        "selected": selected,
        "rows": member_rows(request, selected, household.holder_id) if selected is not None else [],
        "is_holder": selected is not None and selected.id == household.holder_id,
        "gate": gate_message(request, account),
        "communication_label": request.translate(COMMUNICATION_LABELS.get(household.communication, "")),
        "address": format_address(household),
        "format_day": lambda d: format_day(request, d),
    }


@view_config(route_name="my_account", renderer="templates/account.pt")
def my_account(request):
    return account_page(request)


@view_config(route_name="member", renderer="templates/account.pt")
def member_view(request):
    household = current_household(request)
    return account_page(request, member_of(household, request.matchdict["member_id"]))


class MemberForm(FormView):
    """Shared by "Ajouter un adulte / un enfant" and "Modifier les informations"."""

    formid = "member-form"
    kind = ADULT
    member: Member | None = None

    def __init__(self, context, request):
        super().__init__(context, request)
        self.account = current_account(request)
        self.household = current_household(request)
        self.setup()

    def setup(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def is_holder(self) -> bool:
        return self.member is not None and self.member.id == self.household.holder_id

    @property
    def title(self):
        raise NotImplementedError

    def back_url(self) -> str:
        if self.member is not None:
            return self.request.route_url("member", member_id=self.member.id)
        return self.request.route_url("my_account")

    @property
    def buttons(self):
        return (deform.Button("save", self.request.translate(_("Save"))),
                deform.Button("cancel", self.request.translate(_("Cancel")), type="link", value=self.back_url()))

    def make_schema(self):
        from ..forms import csrf_node
        schema = member_schema(self.kind, holder=self.is_holder)
        schema.add(csrf_node())
        return schema.bind(request=self.request, context=self.context)

    def __call__(self):
        if not self.account.validated:
            return refuse_modification(self.request, self.account, self.title)
        return super().__call__()

    def page_values(self) -> dict:
        return {"page_title": self.request.translate(self.title), "member": self.member, "kind": self.kind,
                "back_url": self.back_url()}

    def apply(self, member: Member, appstruct: dict) -> None:
        for name in MEMBER_FIELDS:
            if name in appstruct:
                setattr(member, name, appstruct[name])
        member.updated = utcnow()


@view_config(route_name="member_add", renderer="templates/member_form.pt")
class MemberAdd(MemberForm):
    def setup(self) -> None:
        kind = KIND_SLUGS.get(self.request.matchdict["kind"])
        if kind is None:
            raise HTTPNotFound()
        self.kind = kind

    @property
    def title(self):
        return _("Add an adult") if self.kind == ADULT else _("Add a child")

    def appstruct(self) -> dict:
        # the FAQ: the family name comes pre-filled with the account's, and stays editable
        return {"family_name": self.household.family_name}

    def save_success(self, appstruct):
        member = Member(new_id(), self.kind, appstruct["family_name"], appstruct["first_names"])
        while member.id in self.household.members:
            member.id = new_id()
        member.created = utcnow()
        self.apply(member, appstruct)
        self.household.add_member(member)
        journal(self.request, "member-added", f"household:{self.household.id}", f"{self.kind} {member.id}")
        what = self.request.translate(_("${name} was added to your household", mapping={"name": member.full_name}))
        acknowledge(self.request, self.household, what)
        self.request.session.flash(self.request.translate(_("${name} has been added to your household.",
                                                            mapping={"name": member.full_name})))
        return HTTPFound(self.request.route_url("member", member_id=member.id))


@view_config(route_name="member_edit", renderer="templates/member_form.pt")
class MemberEdit(MemberForm):
    def setup(self) -> None:
        self.member = member_of(self.household, self.request.matchdict["member_id"])
        self.kind = self.member.kind

    @property
    def title(self):
        return _("Modify the information")

    def appstruct(self) -> dict:
        return {name: getattr(self.member, name) for name in MEMBER_FIELDS
                if getattr(self.member, name, None) not in (None, "")}

    def save_success(self, appstruct):
        member = self.member
        previous_email = self.household.email
        self.apply(member, appstruct)
        journal(self.request, "member-modified", f"household:{self.household.id}", member.id)
        what = self.request.translate(_("the information of ${name} was modified",
                                        mapping={"name": member.full_name}))
        acknowledge(self.request, self.household, what,
                    extra_email=previous_email if self.is_holder else None)
        self.request.session.flash(self.request.translate(_("The information of ${name} has been saved.",
                                                            mapping={"name": member.full_name})))
        return HTTPFound(self.request.route_url("member", member_id=member.id))


@view_config(route_name="member_remove", renderer="templates/member_remove.pt")
def member_remove(request):
    account = current_account(request)
    household = current_household(request)
    member = member_of(household, request.matchdict["member_id"])
    title = _("Remove a member")
    if not account.validated:
        return refuse_modification(request, account, title)
    if member.id == household.holder_id:
        request.response.status = 400 if request.method == "POST" else 200
        return {"page_title": request.translate(title), "member": member, "holder": True}
    if request.method == "POST":
        # the form repeats the member's id: a crafted id of another household (or any mismatch) is a 404
        posted = member_of(household, request.POST.get("member_id"))
        if posted.id != member.id or "confirm" not in request.POST:
            raise HTTPNotFound()
        member.removed = True
        member.removed_at = utcnow()
        journal(request, "member-removed", f"household:{household.id}", member.id)
        what = request.translate(_("${name} was removed from your household", mapping={"name": member.full_name}))
        acknowledge(request, household, what)
        request.session.flash(request.translate(_(
            "${name} has been removed from your household. Past requests keep their history.",
            mapping={"name": member.full_name})))
        return HTTPFound(request.route_url("my_account"))
    return {"page_title": request.translate(title), "member": member, "holder": False}


class HouseholdForm(FormView):
    """A form on the logged-in citizen's household itself (never an id from the client), behind the
    validation gate, with "Enregistrer" / "Annuler" back to "Modifier mon compte"."""

    title = None  # message id of the page title

    def __init__(self, context, request):
        super().__init__(context, request)
        self.account = current_account(request)
        self.household = current_household(request)

    @property
    def buttons(self):
        return (deform.Button("save", self.request.translate(_("Save"))),
                deform.Button("cancel", self.request.translate(_("Cancel")), type="link",
                              value=self.request.route_url("my_account")))

    def __call__(self):
        if not self.account.validated:
            return refuse_modification(self.request, self.account, self.title)
        return super().__call__()

    def page_values(self) -> dict:
        return {"page_title": self.request.translate(self.title)}


@view_config(route_name="preferences", renderer="templates/preferences.pt")
class Preferences(HouseholdForm):
    formid = "preferences-form"
    title = _("Means of communication")
    schema_factory = staticmethod(preferences_schema)

    def appstruct(self) -> dict:
        holder = self.household.holder
        values = {"communication": self.household.communication}
        if holder is not None and holder.mobile:
            values["mobile"] = holder.mobile
        return values

    def save_success(self, appstruct):
        household = self.household
        household.communication = appstruct["communication"]
        holder = household.holder
        if holder is not None and appstruct.get("mobile", "") != holder.mobile:
            holder.mobile = appstruct.get("mobile", "")
            holder.updated = utcnow()
        journal(self.request, "communication-changed", f"household:{household.id}", household.communication)
        label = self.request.translate(COMMUNICATION_LABELS[household.communication])
        what = self.request.translate(_("your means of communication is now: ${label}", mapping={"label": label}))
        acknowledge(self.request, household, what)
        self.request.session.flash(self.request.translate(_("Your means of communication has been saved.")))
        return HTTPFound(self.request.route_url("my_account"))


def format_address(household) -> str:
    """The postal address on one line, as "Accueil" shows it (empty when none is recorded)."""
    town = f"{household.postcode} {household.city}".strip()
    return ", ".join(part for part in (household.address, town) if part)


@view_config(route_name="household_address", renderer="templates/address.pt")
class HouseholdAddress(HouseholdForm):
    """"Modifier l'adresse du foyer": the address procedures pre-fill and invoices show."""

    formid = "address-form"
    title = _("Address of the household")
    schema_factory = staticmethod(address_schema)

    def appstruct(self) -> dict:
        return {name: getattr(self.household, name) for name in ADDRESS_FIELDS if getattr(self.household, name)}

    def save_success(self, appstruct):
        household = self.household
        changed = [name for name in ADDRESS_FIELDS if appstruct[name] != getattr(household, name)]
        if not changed:
            self.request.session.flash(self.request.translate(_("The address of your household is unchanged.")))
            return HTTPFound(self.request.route_url("my_account"))
        # households are indexed by family name only: no address index to keep in step
        for name in changed:
            setattr(household, name, appstruct[name])
        journal(self.request, "address-changed", f"household:{household.id}", " ".join(changed))
        what = self.request.translate(_("the address of your household is now: ${address}",
                                        mapping={"address": format_address(household)}))
        acknowledge(self.request, household, what)
        self.request.session.flash(self.request.translate(_("The address of your household has been saved.")))
        return HTTPFound(self.request.route_url("my_account"))


# --- my data, closure -----------------------------------------------------------------------------------------

def _jsonable(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return str(value)


def _pick(obj, names) -> dict:
    return {name: _jsonable(getattr(obj, name, None)) for name in names}


def request_data(req) -> dict:
    """What the citizen sees of a request (never the staff's internal notes or tracking secrets)."""
    data = _pick(req, ("number", "procedure_code", "procedure_title", "theme_code", "status", "step", "created",
                       "member_name", "decision", "decision_motive", "decided_at"))
    data["step_title"] = _jsonable(getattr(req, "step_title", ""))
    data["summary"] = [{"section": _jsonable(section), "answers": [[_jsonable(label), _jsonable(value)]
                                                                    for label, value in rows]}
                       for section, rows in (getattr(req, "summary", None) or [])]
    documents = getattr(req, "documents", None) or {}
    data["documents"] = [{"code": d.code, "title": _jsonable(d.title), "mode": d.mode,
                          "file": getattr(getattr(d, "attachment", None), "filename", None),
                          "received_at": _jsonable(getattr(d, "received_at", None))}
                         for d in documents.values()]
    data["history"] = [_pick(e, ("when", "kind", "text", "status")) for e in (getattr(req, "history", None) or [])]
    return data


def invoice_data(invoice) -> dict:
    data = _pick(invoice, ("regie", "number", "label", "issue_date", "due_date", "total", "state", "paid_at"))
    data["lines"] = [_pick(line, ("label", "amount", "member_name"))
                     for line in (getattr(invoice, "lines", None) or ())]
    return data


def household_invoices(portal, household_id: str):
    """The household's invoices (from the billing area), or None when that area is not there."""
    folder = portal.get("invoices")
    if folder is None or not hasattr(folder, "for_household"):
        return None
    return folder.for_household(household_id)


def member_data(member: Member) -> dict:
    data = {"id": member.id, "kind": member.kind}
    for name in ("civility", "family_name", "first_names", "birth_date", "sex", "relation", "email", "phone",
                 "mobile", "school", "school_class", "health_notes", "removed", "removed_at", "created",
                 "updated"):
        data[name] = _jsonable(getattr(member, name, None))
    return data


def household_export(request, account, household) -> dict:
    """Everything the portal holds about the household (what the FAQ promises the citizen can see)."""
    portal = request.app_root
    data = {
        "exported_at": utcnow().isoformat(),
        "portal": request.registry.settings.get("compte_citoyen.city_name"),
        "account": {
            "code": account.code, "state": account.state, "created": _jsonable(account.created),
            "validated_at": _jsonable(account.validated_at), "refusal_reason": account.refusal_reason,
            "closure_requested_at": _jsonable(account.closure_requested_at),
            "secret_question": account.secret_question,
            "password_changed_at": _jsonable(getattr(account, "password_changed_at", None)),
        },
        "household": {
            "id": household.id, "family_name": household.family_name, "address": household.address,
            "postcode": household.postcode, "city": household.city, "communication": household.communication,
            "created": _jsonable(household.created), "billing_refs": _jsonable(dict(household.billing_refs)),
            "closure_requested_at": _jsonable(household.closure_requested_at),
        },
        "members": [member_data(m) for m in sorted(household.members.values(),
                                                   key=lambda m: (m.removed, m.kind != ADULT, m.first_names))],
    }
    requests = household_requests(request, household.id, EXPORT_LIMIT)
    if requests is not None:
        data["requests"] = [request_data(r) for r in requests]
    messages = household_messages(request, household.id, EXPORT_LIMIT)
    if messages is not None:
        data["messages"] = [{"created": _jsonable(m.created), "kind": m.kind, "channel": m.channel,
                             "subject": m.subject, "text": m.text, "state": m.state,
                             "request_number": m.request_number} for m in messages]
    invoices = household_invoices(portal, household.id)
    if invoices is not None:
        data["invoices"] = [invoice_data(i) for i in invoices]
    log = portal["journal"]
    data["journal"] = [{"when": _jsonable(e.when), "who": e.actor, "action": e.action, "detail": e.detail}
                       for target in (f"household:{household.id}", f"account:{account.key}")
                       for e in log.for_target(target, EXPORT_LIMIT)]
    return data


@view_config(route_name="my_data")
def my_data(request):
    account = current_account(request)
    household = current_household(request)
    data = household_export(request, account, household)
    journal(request, "data-exported", f"account:{account.key}")
    body = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False)
    filename = f"mes-donnees-{workdays.local_today().isoformat()}.json"
    return Response(body=body.encode("utf-8"), content_type="application/json", charset="utf-8",
                    content_disposition=f'attachment; filename="{filename}"')


@view_config(route_name="close_account", renderer="templates/close.pt")
def close_account(request):
    account = current_account(request)
    household = current_household(request)
    if request.method == "POST" and household.closure_requested_at is None:
        if "confirm" not in request.POST:
            raise HTTPNotFound()
        now = utcnow()
        request.app_root["households"].request_closure(household, now)
        account.closure_requested_at = now
        reason = (request.POST.get("reason") or "").strip()[:1000]
        journal(request, "closure-requested", f"account:{account.key}", reason)
        what = request.translate(_("you asked for your account to be closed; the city will handle your request"))
        acknowledge(request, household, what)
        request.session.flash(request.translate(_(
            "Your request to close your account has been recorded. The city will handle it and tell you.")))
        return HTTPFound(request.route_url("citizen_home"))
    return {
        "page_title": request.translate(_("Close my account")),
        "household": household,
        "requested_on": format_day(request, household.closure_requested_at),
    }
