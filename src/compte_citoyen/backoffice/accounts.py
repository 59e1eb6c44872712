"""Back office: the queue of accounts waiting for validation, the household file, validation decisions,
the household's references in each régie, and the account-closure requests.

Every opening of a citizen's file and every decision is journaled (who, when, what).
"""
from __future__ import annotations

import datetime
import re
import secrets

from pyramid.httpexceptions import HTTPFound, HTTPNotFound
from pyramid.view import view_config

from .. import security
from ..security import utcnow
from ..authentication.models import CLOSED, PENDING, REFUSED, VALIDATED
from ..household import workdays
from ..household.schemas import COMMUNICATION_LABELS, RELATION_LABELS, format_phone
from ..i18n import _
from ..indexes import Pager, page_number
from .models import journal

QUEUE_PAGE = 50   # accounts per page of the validation queue
QUEUE_LIMIT = 200  # closure requests shown (rare: handled within days)
REASON_MAX = 1000
REF_MAX = 64
#: Régie codes offered when no billing plugin has declared any (Ville and CCAS are separate budgets).
FALLBACK_REGIES = (("ville", _("City (Ville)")), ("ccas", _("CCAS")))
_REF_RE = re.compile(r"^[\w.\-/ ]*$")



def regie_choices(request) -> list[tuple[str, str]]:
    """(code, label) of the régies whose references are recorded on a household."""
    try:
        from ..billing.regie import get_regies
        regies = get_regies(request.registry)
    except Exception:  # billing plugins not configured yet
        regies = {}
    if regies:
        return [(code, request.translate(regie.label)) for code, regie in sorted(regies.items())]
    return [(code, request.translate(label)) for code, label in FALLBACK_REGIES]


def local_time(moment: datetime.datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(workdays.PARIS).strftime("%d/%m/%Y %H:%M")


def local_day(moment) -> str:
    if moment is None:
        return ""
    return workdays.local_date(moment).strftime("%d/%m/%Y")


# --- the queue --------------------------------------------------------------------------------------------

@view_config(route_name="bo_accounts", renderer="templates/accounts.pt", permission=security.VALIDATE_ACCOUNTS)
def accounts_queue(request):
    portal = request.app_root
    code = (request.params.get("code") or "").strip()[:128]
    if code:
        account = portal["accounts"].get_by_code(code)
        if account is not None:
            return HTTPFound(request.route_url("bo_account", code=account.key))
    subdiv = workdays.subdiv_of(request.registry.settings)
    now = utcnow()
    households = portal["households"]
    accounts = portal["accounts"]
    pager = Pager(page_number(request), QUEUE_PAGE, total=accounts.waiting_count()).clamp()
    rows = []
    for account in accounts.waiting(pager.offset, QUEUE_PAGE):
        household = households.get(account.household_id)
        holder = household.holder if household is not None else None
        age = workdays.age_in_working_days(account.created, now, subdiv)
        rows.append({
            "account": account,
            "name": holder.full_name if holder is not None else "",
            "created": local_time(account.created),
            "age": age,
            "late": age > workdays.VALIDATION_DELAY,
        })
    closures = []
    for household in households.waiting_closures():
        account = accounts.for_household(household.id)
        if account is None:
            continue
        closures.append({"account": account, "name": household.holder.full_name if household.holder else "",
                         "requested": local_time(household.closure_requested_at)})
        if len(closures) >= QUEUE_LIMIT:
            break
    pager.build(lambda n: request.route_url("bo_accounts", _query={"page": n}))
    return {
        "page_title": request.translate(_("Accounts to validate")),
        "rows": rows,
        "total": pager.total,
        "late_count": accounts.waiting_since_before(late_before(now, subdiv)),
        "closures": closures,
        "searched": code,
        "delay": workdays.VALIDATION_DELAY,
        "pager": pager,
    }


def late_before(now: datetime.datetime, subdiv: str | None) -> datetime.datetime:
    """The moment before which a waiting account is late (more than the promised working days old)."""
    today = workdays.local_date(now)
    day = today
    while workdays.working_days_between(day, today, subdiv) <= workdays.VALIDATION_DELAY:
        day -= datetime.timedelta(days=1)
    # created on ``day`` or before (Paris calendar) is late: the limit is the start of the next day
    start = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(0), workdays.PARIS)
    return start.astimezone(datetime.timezone.utc)


# --- the household file -------------------------------------------------------------------------------------

def _account_or_404(request):
    account = request.app_root["accounts"].get_by_code(request.matchdict["code"])
    if account is None:
        raise HTTPNotFound()
    household = request.app_root["households"].get(account.household_id)
    if household is None:
        raise HTTPNotFound()
    return account, household


def tell_citizen(request, household, event_key: str, subject: str, text: str) -> None:
    """A decision about the account, sent to the holder by e-mail (and kept in the portal's messages)."""
    from ..notification import DECISION, notify_household, queue_message, render_message
    portal = request.app_root
    if not household.email:
        notify_household(request, portal, household, kind=DECISION, subject=subject, text=text,
                         event_key=event_key)
        return
    rendered = render_message(request, DECISION, subject, text)
    queue_message(portal, event_key=event_key, kind=DECISION, subject=rendered.subject, text=rendered.text,
                  html=rendered.html, sms_text=rendered.sms, email=household.email, channel="email",
                  household_id=household.id, registry=request.registry, body=text)


def _file(request, account, household, errors=None, values=None) -> dict:
    subdiv = workdays.subdiv_of(request.registry.settings)
    age = workdays.age_in_working_days(account.created, utcnow(), subdiv)
    t = request.translate
    states = {PENDING: t(_("Waiting for validation")), VALIDATED: t(_("Validated")), REFUSED: t(_("Refused")),
              CLOSED: t(_("Closed"))}
    members = []
    for member in household.current_members():
        relation = "holder" if member.id == household.holder_id else member.relation
        details = [t(_("born on ${date}", mapping={"date": member.birth_date.strftime("%d/%m/%Y")}))
                   if member.birth_date else ""]
        if member.is_adult:
            details += [member.email, format_phone(member.phone), format_phone(member.mobile)]
        else:
            details += [member.school, member.school_class]
        members.append({"member": member,
                        "relation": t(RELATION_LABELS[relation]) if relation in RELATION_LABELS else relation,
                        "details": ", ".join(d for d in details if d)})
    can_decide = request.has_permission(security.VALIDATE_ACCOUNTS, request.app_root)
    log = request.app_root["journal"]
    history = sorted(log.for_target(f"account:{account.key}", 50) + log.for_target(f"household:{household.id}", 50),
                     key=lambda e: e.when, reverse=True)[:50]
    return {
        "page_title": t(_("Account ${code}", mapping={"code": account.code})),
        "account": account,
        "household": household,
        "state_label": states.get(account.state, account.state),
        "created": local_time(account.created),
        "validated_at": local_time(account.validated_at),
        "age": age,
        "late": account.state == PENDING and age > workdays.VALIDATION_DELAY,
        "members": members,
        "removed": [m for m in household.members.values() if m.removed],
        "regies": regie_choices(request),
        "refs": dict(household.billing_refs),
        "closure": local_time(household.closure_requested_at),
        "can_decide": can_decide,
        "history": history,
        "local_time": local_time,
        "errors": errors or {},
        "values": values or {},
        "communication": t(COMMUNICATION_LABELS.get(household.communication, household.communication)),
    }


@view_config(route_name="bo_account", renderer="templates/account.pt", permission=security.VIEW_CITIZEN_FILE,
             request_method="GET")
def account_file(request):
    account, household = _account_or_404(request)
    request.bo_section = "bo_accounts"
    journal(request, "file-viewed", f"account:{account.key}", f"household:{household.id}")
    return _file(request, account, household)


@view_config(route_name="bo_account", renderer="templates/account.pt", permission=security.VALIDATE_ACCOUNTS,
             request_method="POST")
def account_decision(request):
    account, household = _account_or_404(request)
    request.bo_section = "bo_accounts"
    accounts = request.app_root["accounts"]
    post = request.POST
    t = request.translate
    if account.state == CLOSED:
        request.session.flash(t(_("This account is closed: it can no longer be changed.")))
        return HTTPFound(request.route_url("bo_account", code=account.key))
    if "validate" in post:
        if account.state == VALIDATED:
            request.session.flash(t(_("This account was already validated.")))
            return HTTPFound(request.route_url("bo_account", code=account.key))
        accounts.set_state(account, VALIDATED)
        account.refusal_reason = ""
        journal(request, "account-validated", f"account:{account.key}", f"household:{household.id}")
        tell_citizen(request, household, f"account-validated:{account.key}:{secrets.token_hex(6)}",
                     t(_("Your account is validated")),
                     t(_("The city has validated your Citizen Account. You can now modify it (members of your "
                         "household, means of communication), and your invoices will appear in the \"My "
                         "accounts\" tab.")))
        request.session.flash(t(_("The account ${code} is validated; the citizen is told by e-mail.",
                                  mapping={"code": account.code})))
        return HTTPFound(request.route_url("bo_accounts"))
    if "refuse" in post:
        reason = " ".join((post.get("reason") or "").split())[:REASON_MAX]
        if not reason:
            request.response.status = 200
            values = {"reason": post.get("reason") or ""}
            return _file(request, account, household,
                         errors={"reason": t(_("Give the reason of the refusal: the citizen will read it."))},
                         values=values)
        accounts.set_state(account, REFUSED)
        account.refusal_reason = reason
        journal(request, "account-refused", f"account:{account.key}", reason)
        tell_citizen(request, household, f"account-refused:{account.key}:{secrets.token_hex(6)}",
                     t(_("Your account could not be validated")),
                     t(_("The city could not validate your Citizen Account, for this reason: ${reason}\n"
                         "Please contact the city hall.", mapping={"reason": reason})))
        request.session.flash(t(_("The account ${code} is refused; the citizen is told by e-mail.",
                                  mapping={"code": account.code})))
        return HTTPFound(request.route_url("bo_accounts"))
    if "save_refs" in post:
        errors = {}
        new_refs = {}
        for code, _label in regie_choices(request):
            value = " ".join((post.get(f"ref_{code}") or "").split())
            if len(value) > REF_MAX or not _REF_RE.match(value):
                errors[f"ref_{code}"] = t(_("A reference has at most ${max} letters, digits, spaces and . - /",
                                            mapping={"max": REF_MAX}))
            new_refs[code] = value
        if errors:
            return _file(request, account, household, errors=errors,
                         values={f"ref_{c}": v for c, v in new_refs.items()})
        changes = []
        for code, value in new_refs.items():
            old = household.billing_refs.get(code, "")
            if value == old:
                continue
            if value:
                household.billing_refs[code] = value
            else:
                household.billing_refs.pop(code, None)
            changes.append(f"{code}: {old or '-'} -> {value or '-'}")
        if changes:
            journal(request, "billing-refs-changed", f"account:{account.key}", "; ".join(changes))
        request.session.flash(t(_("The régie references are saved.")) if changes
                              else t(_("No reference was changed.")))
        return HTTPFound(request.route_url("bo_account", code=account.key))
    if "closure_done" in post and household.closure_requested_at is not None:
        accounts.set_state(account, CLOSED)
        account.close_all_sessions()
        request.app_root["households"].closure_handled(household)
        household.closed_at = utcnow()
        journal(request, "account-closed", f"account:{account.key}", f"household:{household.id}")
        tell_citizen(request, household, f"account-closed:{account.key}",
                     t(_("Your account is closed")),
                     t(_("As you asked, the city has closed your Citizen Account. You can no longer log in. "
                         "Requests in progress and unpaid invoices are still handled by the city.")))
        request.session.flash(t(_("The account ${code} is closed; the citizen is told by e-mail.",
                                  mapping={"code": account.code})))
        return HTTPFound(request.route_url("bo_accounts"))
    raise HTTPNotFound()
