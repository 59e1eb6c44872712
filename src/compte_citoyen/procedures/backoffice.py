"""Back office for requests: the queue of a service, one request, and what an agent does with it.

An agent sees only the procedures of their services (``StaffMember.services``); an administrator sees all.
A request of another service does not exist for an agent (404). Lists and searches read the indexes of
``SubmissionFolder`` (never every request); every opening of a request and every action is journaled.
"""
from __future__ import annotations

import datetime
import re
from urllib.parse import quote

from pyramid.httpexceptions import HTTPFound, HTTPNotFound
from pyramid.response import Response
from pyramid.view import view_config

from .. import security
from ..backoffice.models import journal
from ..forms import parse_date
from ..household.workdays import PARIS, local_date, local_today
from ..i18n import _
from ..indexes import Pager, page_number
from .models import DOC_FILE, DOC_PAPER
from .registry import ACCEPTED, REFUSED, STEPS, get_registry
from .workflow import (
    add_note, ask_documents, change_status, mark_paper_received, record_decision, send_information, status_of,
    submissions, workflow_of,
)

PAGE_SIZE = 30
NUMBER_RE = re.compile(r"^\d{4}-\d{6}$")
MAX_TEXT = 4000


def visible_services(request) -> list[str] | None:
    """The services whose requests the staff member handles; None means every service (administrator)."""
    staff = request.identity
    if staff.has_role(security.ROLE_ADMIN):
        return None
    return list(staff.services)


def can_see(request, submission) -> bool:
    services = visible_services(request)
    return services is None or submission.service in services


def received_count(request) -> int:
    """Requests at step 1 ("Reçue") in the staff member's services (for the dashboard), from counters."""
    services = visible_services(request)
    return submissions(request.app_root).queue_count(services=services, step=1)


def _parse_date(value: str | None) -> datetime.date | None:
    """A filter date as the date picker sends it, or typed JJ/MM/AAAA; None when empty or unreadable."""
    try:
        return parse_date(value) if value else None
    except ValueError:
        return None


def _day_start(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(0), PARIS).astimezone(datetime.timezone.utc)


@view_config(route_name="bo_requests", renderer="templates/bo_requests.pt", permission=security.PROCESS_REQUESTS)
def requests_queue(request):
    portal = request.app_root
    folder = submissions(portal)
    registry = get_registry(request.registry)
    services = visible_services(request)
    procedures = registry.procedures_of_services(services) if services is not None else \
        list(registry.procedures.values())
    themes = {}
    for procedure in procedures:
        theme = registry.theme(procedure.theme_code)
        if theme is not None:
            themes[theme.code] = theme
    params = request.params
    theme_code = params.get("theme") or ""
    step = params.get("etape") or ""
    query = (params.get("q") or "").strip()[:100]
    date_from, date_to = _parse_date(params.get("du")), _parse_date(params.get("au"))
    errors = {}
    if params.get("du") and date_from is None:
        errors["du"] = request.translate(_("Enter a valid date, for example 14/07/2025."))
    if params.get("au") and date_to is None:
        errors["au"] = request.translate(_("Enter a valid date, for example 14/07/2025."))

    if query and NUMBER_RE.match(query):
        submission = folder.get(query)
        if submission is not None and can_see(request, submission):
            return HTTPFound(request.route_url("bo_request", number=submission.number))
    filters = {"services": services}
    if theme_code in themes:
        filters["procedures"] = [p.code for p in themes[theme_code].procedures
                                 if services is None or p.service in services]
    if step.isdigit() and int(step) in STEPS:
        filters["step"] = int(step)
    if query:
        filters["name"] = query
    if date_from:
        filters["date_from"] = _day_start(date_from)
    if date_to:
        filters["date_to"] = _day_start(date_to + datetime.timedelta(days=1)) - datetime.timedelta(microseconds=1)
    page = page_number(request)
    rows, total, more = folder.queue_page(**filters, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    pager = Pager(page, PAGE_SIZE, total=total, has_next=more)
    if total is not None and page > pager.pages:  # past the end: the last page
        pager.clamp()
        rows, total, more = folder.queue_page(**filters, offset=pager.offset, limit=PAGE_SIZE)
    query_args = {k: v for k, v in (("theme", theme_code), ("etape", step), ("q", query),
                                    ("du", params.get("du") or ""), ("au", params.get("au") or "")) if v}
    pager.build(lambda n: request.route_url("bo_requests", _query={**query_args, "page": n}))
    return {
        "page_title": request.translate(_("Requests")),
        "rows": rows, "total": total, "page": pager.page, "pages": pager.pages, "pager": pager,
        "themes": sorted(themes.values(), key=lambda t: request.translate(t.title)),
        "steps": STEPS, "theme_code": theme_code, "step": step, "query": query,
        "date_from": params.get("du") or "", "date_to": params.get("au") or "", "errors": errors,
        "page_url": lambda n: request.route_url("bo_requests", _query={**query_args, "page": n}),
        "local_date": local_date, "status_of": lambda s: status_of(request, s),
        "services": services,
    }


def _visible_submission(request):
    submission = submissions(request.app_root).get(request.matchdict["number"])
    if submission is None or not can_see(request, submission):
        raise HTTPNotFound()
    return submission


def _detail(request, submission, errors=None, values=None, status=200):
    from ..notification import messages_for_request
    procedure, workflow = workflow_of(request, submission)
    household = request.app_root["households"].get(submission.household_id) if submission.household_id else None
    request.response.status_int = status
    return {
        "page_title": request.translate(_("Request ${number}", mapping={"number": submission.number})),
        "submission": submission, "procedure": procedure, "workflow": workflow,
        "status": status_of(request, submission), "household": household,
        "messages": messages_for_request(request.app_root, submission.number, 100),
        "local_date": local_date, "errors": errors or {}, "values": values or {},
        "local_time": lambda moment: f"{moment.astimezone(PARIS):%d/%m/%Y %H:%M}",
        "paper_documents": [d for d in submission.documents.values() if d.mode == DOC_PAPER],
        "DOC_FILE": DOC_FILE, "DOC_PAPER": DOC_PAPER, "steps": STEPS,
    }


@view_config(route_name="bo_request", renderer="templates/bo_request.pt", permission=security.PROCESS_REQUESTS)
def request_view(request):
    submission = _visible_submission(request)
    request.bo_section = "bo_requests"
    if request.method != "POST":
        journal(request, "request.view", submission.number)
        return _detail(request, submission)
    portal = request.app_root
    post = request.POST
    action = post.get("action", "")
    t = request.translate
    errors, done = {}, None
    if action == "status":
        code = post.get("status", "")
        _procedure, workflow = workflow_of(request, submission)
        if code not in [s.code for s in workflow]:
            errors["status"] = t(_("Choose a status of the list."))
        else:
            new = change_status(request, portal, submission, code)
            done = t(_("The request is now \u00ab ${status} \u00bb.", mapping={"status": t(new.title)}))
    elif action == "decision":
        decision = post.get("decision", "")
        motive = (post.get("motive") or "").strip()[:MAX_TEXT]
        if decision not in (ACCEPTED, REFUSED):
            errors["decision"] = t(_("Choose accord or refus."))
        elif decision == REFUSED and not motive:
            errors["motive"] = t(_("A refusal needs its motive: the citizen receives it."))
        else:
            try:
                record_decision(request, portal, submission, decision, motive)
            except KeyError:
                errors["decision"] = t(_("This procedure has no status for this decision."))
            else:
                done = t(_("The decision is recorded and sent to the requester."))
    elif action == "ask_documents":
        codes = [c for c in post.getall("documents") if c in submission.documents]
        comment = (post.get("comment") or "").strip()[:MAX_TEXT]
        if not codes and not comment:
            errors["documents"] = t(_("Choose the documents to bring, or write which ones in the comment."))
        else:
            ask_documents(request, portal, submission, codes, comment)
            done = t(_("The requester is asked to come to the counter with the documents."))
    elif action == "paper_received":
        code = post.get("document", "")
        state = submission.documents.get(code)
        if state is None or state.mode != DOC_PAPER:
            errors["document"] = t(_("Choose a document expected at the counter."))
        else:
            mark_paper_received(request, portal, submission, code)
            done = t(_("The paper document \u00ab ${title} \u00bb is marked as received.",
                       mapping={"title": state.title}))
    elif action == "note":
        text = (post.get("note") or "").strip()[:MAX_TEXT]
        if not text:
            errors["note"] = t(_("Write the note."))
        else:
            add_note(request, portal, submission, text)
            done = t(_("The internal note is added."))
    elif action == "information":
        text = (post.get("text") or "").strip()[:MAX_TEXT]
        send_on = _parse_date(post.get("send_on"))
        if not text:
            errors["text"] = t(_("Write the message."))
        elif post.get("send_on") and (send_on is None or send_on < local_today()):
            errors["send_on"] = t(_("Choose a date from today on, or leave it empty to send now."))
        else:
            send_information(request, portal, submission, text, send_after=send_on)
            done = t(_("The information message is queued."))
    else:
        errors["action"] = t(_("Unknown action."))
    if errors:
        return _detail(request, submission, errors, dict(post), status=400)
    request.session.flash(done)
    return HTTPFound(request.route_url("bo_request", number=submission.number))


@view_config(route_name="bo_request_attachment", permission=security.PROCESS_REQUESTS)
def attachment_download(request):
    submission = _visible_submission(request)
    state = submission.documents.get(request.matchdict["code"])
    if state is None or state.mode != DOC_FILE or state.attachment is None:
        raise HTTPNotFound()
    attachment = state.attachment
    journal(request, "request.attachment", submission.number, state.code)
    response = Response(body=attachment.read(), content_type=attachment.content_type)
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{attachment.filename.encode('ascii', 'replace').decode().replace('?', '_')}\"; "
        f"filename*=UTF-8''{quote(attachment.filename)}")
    return response
