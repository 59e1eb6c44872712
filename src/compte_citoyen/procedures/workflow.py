"""What happens to a request: filing it, moving it along its workflow, decisions and messages.

Every function works inside the caller's transaction: the request, its indexes, its history, the journal line
and the message queued for the requester are committed together, or not at all. Views, the back office and
the demonstration data all go through here, so a request is always filed and moved the same way.
"""
from __future__ import annotations

import datetime
import hmac
import secrets

from ..household.workdays import local_date
from ..i18n import _
from ..notification import ACKNOWLEDGEMENT, CANCELLED, DECISION, INFORMATION, notify_household, queue_message
from ..security import hash_token
from .models import (
    DRAFTS, EV_DECISION, EV_DOCUMENTS_ASKED, EV_PAPER_RECEIVED, EV_STATUS, SUBMISSIONS, RequestDocument,
    DraftFolder, Submission, SubmissionFolder, utcnow,
)
from .registry import ACCEPTED, DEFAULT_WORKFLOW, Procedure, Status, get_registry

#: answer names indexed for the staff's search by name (any page, any procedure)
NAME_FIELDS = ("family_name", "first_names", "birth_name", "usage_name")


def submissions(portal) -> SubmissionFolder:
    return portal[SUBMISSIONS]


def drafts(portal) -> DraftFolder:
    return portal[DRAFTS]


def translator(request):
    """A function translating message ids for ``request`` (a real request, or None for the default locale)."""
    if request is not None and hasattr(request, "translate"):
        return request.translate
    from pyramid.threadlocal import get_current_registry

    from ..notification.rendering import localizer_for
    localizer = localizer_for(get_current_registry())
    return lambda message, mapping=None: localizer.translate(message, mapping=mapping)


def new_number(portal, now: datetime.datetime | None = None) -> str:
    """A readable number ``2026-000123``, unique: the counter is conflict-resolving and the number is the
    key of the submissions BTree, so two concurrent requests given the same number conflict and one is retried."""
    year = local_date(now or utcnow()).year
    folder = submissions(portal)
    while True:
        number = f"{year}-{portal.next_number(f'requests-{year}'):06d}"
        if number not in folder:
            return number


def workflow_of(request, submission: Submission) -> tuple[Procedure | None, tuple[Status, ...]]:
    procedure = get_registry(request.registry).get(submission.procedure_code)
    return procedure, (procedure.workflow if procedure is not None else DEFAULT_WORKFLOW)


def status_of(request, submission: Submission) -> Status:
    _procedure, workflow = workflow_of(request, submission)
    for status in workflow:
        if status.code == submission.status:
            return status
    return Status(submission.status, submission.status, submission.step)


def actor_of(request) -> str:
    identity = getattr(request, "identity", None)
    return identity.userid if identity is not None else "anonymous"


def _journal(request, portal, action: str, target: str, detail: str = "") -> None:
    journal = portal.get("journal")
    if journal is not None:
        journal.record(actor_of(request), action, target, detail, getattr(request, "client_addr", "") or "")


def public_url(request, route: str, **kw) -> str:
    """An absolute URL built on ``compte_citoyen.public_url`` (for messages read outside the portal)."""
    base = (request.registry.settings.get("compte_citoyen.public_url") or "").rstrip("/")
    return base + request.route_path(route, **kw) if base else request.route_url(route, **kw)


# --- filing ------------------------------------------------------------------------------------------------

def default_requester(answers: dict) -> dict:
    found = {}
    for index in sorted(answers):
        for key in ("email", "family_name", "first_names"):
            if key not in found and answers[index].get(key):
                found[key] = answers[index][key]
    name = " ".join(x for x in (found.get("first_names", ""), found.get("family_name", "")) if x)
    return {"name": name, "email": found.get("email", "")}


def file_submission(request, portal, procedure: Procedure, *, answers: dict, summary: list, documents: list,
                    household=None, account=None, member=None, client_addr: str = "",
                    notify: bool = True, created: datetime.datetime | None = None) -> tuple[Submission, str | None]:
    """Store a new request, index it, queue the acknowledgement; returns ``(submission, tracking token)``.

    ``documents`` is a list of ``(Document, mode, Attachment or None)``. The tracking token exists only for
    requests without an account; only its hash is stored.
    """
    t = translator(request)
    status = procedure.initial_status
    number = new_number(portal, created)
    submission = Submission(number, procedure.code, t(procedure.title), procedure.theme_code, procedure.service,
                            status.code, status.step, created=created)
    for index, values in answers.items():
        submission.answers[index] = dict(values)
    submission.summary.extend((section, list(lines)) for section, lines in summary)
    for document, mode, attachment in documents:
        submission.documents[document.code] = RequestDocument(document.code, t(document.title),
                                                              document.required, mode, attachment)
    names = []
    token = None
    if household is not None:
        submission.household_id = household.id
        submission.account_key = account.key if account is not None else None
        names.append(household.family_name)
        if member is not None:
            submission.member_id = member.id
            submission.member_name = member.full_name
            names += [member.family_name, member.first_names]
        holder = household.holder
        submission.requester_name = holder.full_name if holder is not None else household.family_name
        names.append(submission.requester_name)
    else:
        requester = (procedure.requester or default_requester)(answers)
        submission.requester_name = requester.get("name", "")
        submission.requester_email = requester.get("email", "")
        names.append(submission.requester_name)
        token = secrets.token_urlsafe(24)
        submission.tracking_hash = hash_token(token)
    for values in answers.values():
        for key, value in values.items():
            if isinstance(value, str) and value and key.endswith(NAME_FIELDS):
                names.append(value)
    submission.client_addr = client_addr
    submissions(portal).add_submission(submission, names)
    submission.log(EV_STATUS, t(status.title), actor_of(request), status.code)
    if notify:
        acknowledge(request, portal, submission, token)
    if procedure.on_submitted is not None:
        procedure.on_submitted(request, submission)
    _journal(request, portal, "request.submit", number, procedure.code)
    return submission, token


def acknowledge(request, portal, submission: Submission, token: str | None) -> None:
    t = translator(request)
    subject = t(_("Your request ${number} is received", mapping={"number": submission.number}))
    lines = [t(_("We have received your request \u00ab ${procedure} \u00bb, filed under the number ${number} on "
                 "${date}.", mapping={"procedure": submission.procedure_title, "number": submission.number,
                                      "date": f"{local_date(submission.created):%d/%m/%Y}"}))]
    if submission.member_name:
        lines.append(t(_("Person concerned: ${name}.", mapping={"name": submission.member_name})))
    paper = [d.title for d in submission.documents.values() if d.mode == "paper"]
    if paper:
        lines.append(t(_("Documents to bring to the counter when the service asks you: ${documents}.",
                         mapping={"documents": ", ".join(paper)})))
    if token is not None:
        link = public_url(request, "track", number=submission.number, token=token)
        lines.append(t(_("Follow your request with this link (keep it, it is personal): ${link}",
                         mapping={"link": link})))
        send_to_requester(request, portal, submission, kind=ACKNOWLEDGEMENT, subject=subject,
                          text="\n\n".join(lines), event_key=f"request-received:{submission.number}", link=link)
    else:
        lines.append(t(_("Follow its progress in the \u00ab Mes Demandes \u00bb tab of your account.")))
        send_to_requester(request, portal, submission, kind=ACKNOWLEDGEMENT, subject=subject,
                          text="\n\n".join(lines), event_key=f"request-received:{submission.number}")


def send_to_requester(request, portal, submission: Submission, *, kind: str, subject: str, text: str,
                      event_key: str, send_after=None, link: str | None = None) -> list:
    """Queue a message to whoever filed the request: the household by its preference, or the anonymous
    requester's e-mail. Returns the messages queued (empty when nobody can be reached)."""
    if submission.household_id:
        household = portal["households"].get(submission.household_id)
        if household is None:
            return []
        return notify_household(request, portal, household, kind=kind, subject=subject, text=text,
                                event_key=event_key, request_number=submission.number, send_after=send_after,
                                registry=request.registry)
    if not submission.requester_email:
        return []
    from ..notification.rendering import render_message
    rendered = render_message(request, kind, subject, text, request_number=submission.number, link=link)
    return [queue_message(portal, event_key=event_key, kind=kind, subject=rendered.subject, text=rendered.text,
                          html=rendered.html, email=submission.requester_email, channel="email",
                          request_number=submission.number, send_after=send_after, registry=request.registry,
                          body=text)]


def cancel_message(portal, message) -> None:
    """Cancel a message still waiting (e.g. a reminder that no longer applies)."""
    outbox = portal["outbox"]
    if message.state == "queued":
        outbox.set_state(message, CANCELLED)


# --- tracking without an account --------------------------------------------------------------------------

def find_tracked(portal, number: str, token: str) -> Submission | None:
    """The anonymous request whose number and token match (compared in constant time), or None."""
    submission = submissions(portal).get(number or "")
    if submission is None or not submission.tracking_hash or not token:
        return None
    if not hmac.compare_digest(submission.tracking_hash, hash_token(token)):
        return None
    return submission


# --- moving a request along ---------------------------------------------------------------------------

def change_status(request, portal, submission: Submission, code: str) -> Status:
    procedure, workflow = workflow_of(request, submission)
    status = next((s for s in workflow if s.code == code), None)
    if status is None:
        raise KeyError(code)
    old = submission.status
    if old == code:
        return status
    submissions(portal).set_status(submission, status.code, status.step)
    submission.log(EV_STATUS, translator(request)(status.title), actor_of(request), status.code)
    if procedure is not None and procedure.on_status is not None:
        procedure.on_status(request, submission, old, code)
    _journal(request, portal, "request.status", submission.number, f"{old} -> {code}")
    return status


def record_decision(request, portal, submission: Submission, decision: str, motive: str) -> Status:
    """Accord or refus with its motive: moves to the decision status and tells the requester."""
    t = translator(request)
    procedure, workflow = workflow_of(request, submission)
    target = procedure.decision_status(decision) if procedure is not None else next(
        (s for s in workflow if s.code == decision), None)
    if target is None:
        raise KeyError(decision)
    submission.decision = decision
    submission.decision_motive = motive
    submission.decided_at = utcnow()
    status = change_status(request, portal, submission, target.code)
    mapping = {"procedure": submission.procedure_title, "number": submission.number, "motive": motive}
    if decision == ACCEPTED:
        text = t(_("Your request \u00ab ${procedure} \u00bb (number ${number}) is accepted.", mapping=mapping))
        if motive:
            text += "\n\n" + motive
        label = t(_("Request accepted"))
    else:
        text = t(_("Your request \u00ab ${procedure} \u00bb (number ${number}) is refused.", mapping=mapping))
        text += "\n\n" + t(_("Motive: ${motive}", mapping=mapping))
        label = t(_("Request refused"))
    submission.log(EV_DECISION, f"{label}. {motive}".strip(), actor_of(request), status.code)
    send_to_requester(request, portal, submission, kind=DECISION,
                      subject=t(_("Decision on your request ${number}", mapping=mapping)), text=text,
                      event_key=f"request-decision:{submission.number}:{len(submission.history)}")
    _journal(request, portal, "request.decision", submission.number, decision)
    return status


def ask_documents(request, portal, submission: Submission, codes: list[str], comment: str = "") -> list:
    """Ask the requester to come to the counter with documents (information message)."""
    t = translator(request)
    titles = [submission.documents[c].title for c in codes if c in submission.documents]
    lines = [t(_("To go on with your request \u00ab ${procedure} \u00bb (number ${number}), please come to the "
                 "counter of the city hall with the following documents:",
                 mapping={"procedure": submission.procedure_title, "number": submission.number}))]
    lines.append("\n".join(f"- {title}" for title in titles) if titles else "")
    if comment:
        lines.append(comment)
    text = "\n\n".join(line for line in lines if line)
    submission.log(EV_DOCUMENTS_ASKED, ", ".join(titles) + (f" — {comment}" if comment else ""),
                   actor_of(request))
    _procedure, workflow = workflow_of(request, submission)
    if any(s.code == "waiting_documents" for s in workflow):
        change_status(request, portal, submission, "waiting_documents")
    messages = send_to_requester(request, portal, submission, kind=INFORMATION,
                                 subject=t(_("Documents to bring for your request ${number}",
                                             mapping={"number": submission.number})),
                                 text=text, event_key=f"request-documents:{submission.number}:"
                                                      f"{len(submission.history)}")
    _journal(request, portal, "request.ask_documents", submission.number, ",".join(codes))
    return messages


def send_information(request, portal, submission: Submission, text: str, send_after=None) -> list:
    """A free information message to the requester, now or on a later date (a reminder)."""
    t = translator(request)
    messages = send_to_requester(request, portal, submission, kind=INFORMATION,
                                 subject=t(_("Information about your request ${number}",
                                             mapping={"number": submission.number})),
                                 text=text, send_after=send_after,
                                 event_key=f"request-information:{submission.number}:{len(submission.history)}")
    submission.log("information", text, actor_of(request))
    _journal(request, portal, "request.information", submission.number,
             f"send_after={send_after:%Y-%m-%d}" if send_after else "")
    return messages


def mark_paper_received(request, portal, submission: Submission, code: str) -> None:
    state = submission.documents[code]
    state.received_at = utcnow()
    state.received_by = actor_of(request)
    submission._p_changed = True  # a RequestDocument lives in the submission's record
    submission.log(EV_PAPER_RECEIVED, state.title, actor_of(request))
    _journal(request, portal, "request.paper_received", submission.number, code)


def add_note(request, portal, submission: Submission, text: str) -> None:
    submission.add_note(text, actor_of(request))
    _journal(request, portal, "request.note", submission.number)


def purge_drafts(portal, now: datetime.datetime | None = None) -> int:
    return drafts(portal).purge(now or utcnow())
