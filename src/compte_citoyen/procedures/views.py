"""Citizen side of the procedures: "Les Services", the guided forms, "Mes Demandes", PDFs, tracking.

The guided form is a sequence of pages: the procedure's own form pages, then "Pièces justificatives" when
documents are expected, then "Vérification et envoi". What is typed is kept in a ``Draft`` in the database
(the session is a small signed cookie), so "Précédent" keeps it, a refused file keeps the rest, and
"Enregistrer le brouillon" keeps it for later. Nothing is filed until "Envoyer la demande".
"""
from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from typing import Callable

import colander
import deform
import peppercorn
from pyramid.httpexceptions import HTTPForbidden, HTTPFound, HTTPNotFound
from pyramid.renderers import render_to_response
from pyramid.response import Response
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from ..forms import bind_fresh, csrf_node
from ..household.workdays import local_today
from ..i18n import _
from ..security import hash_token, new_token
from . import uploads
from .models import DOC_FILE, DOC_MISSING, DOC_PAPER, Attachment, Draft, new_draft_id, utcnow
from .registry import STEP_COUNT, STEPS, Procedure, get_registry
from .schemas import MEMBER_FIELD, describe, eligible_members, member_kinds_label, member_node
from .workflow import (
    drafts, file_submission, find_tracked, local_date, status_of, submissions,
)

DRAFT_LIFETIME = datetime.timedelta(days=1)          # a form left half-way
SAVED_DRAFT_LIFETIME = datetime.timedelta(days=60)   # "Enregistrer le brouillon"
ANON_SESSION_KEY = "procedures.anon"
PAGE_SIZE = 20
DEFAULT_ANONYMOUS_PER_HOUR = 5
FORM_ID = "procedure-form"


# --- who is filling the form ---------------------------------------------------------------------------------

def current_citizen(request):
    """(account, household) of the logged-in citizen, or (None, None)."""
    identity = request.identity
    if identity is None or getattr(identity, "kind", None) != "citizen":
        return None, None
    household = request.app_root["households"].get(identity.household_id)
    return identity, household


def anonymous_owner(request, create: bool = False) -> str | None:
    """The owner key of an anonymous visitor's drafts: a random key kept in their session (hashed here)."""
    key = request.session.get(ANON_SESSION_KEY)
    if key is None and create:
        key = request.session[ANON_SESSION_KEY] = new_token(16)
    return f"anon:{hash_token(key)}" if key else None


def household_owner(household) -> str:
    return f"household:{household.id}"


# --- the pages of a guided form -----------------------------------------------------------------------------------

FORM, DOCUMENTS, REVIEW = "form", "documents", "review"


@dataclass
class Page:
    kind: str
    title: object
    index: int
    factory: Callable | None = None


def pages_of(procedure: Procedure) -> list[Page]:
    pages = [Page(FORM, title, i, factory) for i, (title, factory) in enumerate(procedure.steps)]
    if procedure.documents:
        pages.append(Page(DOCUMENTS, _("Supporting documents"), len(pages)))
    pages.append(Page(REVIEW, _("Check and send"), len(pages)))
    return pages


def _plain(value):
    """Answers are stored as plain values (sets become sorted lists)."""
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return value


class Wizard:
    """One guided form being filled by one person (a citizen's household, or an anonymous visitor)."""

    def __init__(self, request, procedure: Procedure, draft: Draft | None = None):
        self.request = request
        self.procedure = procedure
        self.draft = draft
        self.portal = request.app_root
        self.account, self.household = current_citizen(request)
        self.pages = pages_of(procedure)
        self.t = request.translate

    # --- helpers ---------------------------------------------------------------------------------------------

    @property
    def citizen(self) -> bool:
        return self.household is not None

    def member(self, member_id: str | None = None):
        """The member concerned: the one chosen on the first page, or the only one the procedure may concern."""
        if self.household is None or not self.procedure.needs_member:
            return None
        member_id = member_id or (self.draft.member_id if self.draft is not None else None)
        if member_id:
            return self.household.members.get(member_id)
        members = eligible_members(self.household, self.procedure.member_kinds)
        return members[0] if len(members) == 1 else None

    def page_url(self, index: int) -> str:
        if self.draft is None:
            return self.request.route_url("procedure", theme=self.procedure.theme_code,
                                          procedure=self.procedure.code)
        return self.request.route_url("draft_resume", draft_id=self.draft.id, _query={"etape": index + 1})

    def schema(self, page: Page, member=None) -> colander.SchemaNode:
        node = page.factory(self.request)
        if page.index == 0 and self.procedure.needs_member and self.household is not None:
            node.insert(0, member_node(self.procedure, self.household))
        node.add(csrf_node())
        return bind_fresh(node, request=self.request, portal=self.portal, household=self.household,
                          account=self.account, member=member if member is not None else self.member(),
                          procedure=self.procedure, today=local_today())

    def buttons(self, page: Page) -> list:
        buttons = [deform.Button("next", _("Next"))]
        if page.index > 0:
            buttons.append(deform.Button("previous", _("Previous")))
        if self.citizen:
            buttons.append(deform.Button("save_draft", _("Save the draft")))
        return buttons

    def form(self, page: Page, member=None) -> deform.Form:
        return deform.Form(self.schema(page, member), buttons=self.buttons(page), formid=FORM_ID,
                           action=self.page_url(page.index))

    def _stored_pstruct(self, page: Page) -> dict | None:
        return dict(self.draft.pages[page.index]) if self.draft is not None and page.index in self.draft.pages \
            else None

    @staticmethod
    def _keep(schema, pstruct: dict) -> dict:
        names = {child.name for child in schema.children if child.name != "csrf_token"}
        return {key: value for key, value in pstruct.items() if key in names}

    def validate_page(self, page: Page, pstruct: dict, member=None) -> tuple[dict | None, deform.Form]:
        """A stored page validated again (``collect``); its form is never shown: no buttons, no action URL."""
        form = deform.Form(self.schema(page, member), formid=FORM_ID)
        try:
            return form.validate_pstruct(pstruct), form
        except deform.ValidationFailure:
            return None, form

    def view_values(self, page: Page, **extra) -> dict:
        procedure = self.procedure
        theme = get_registry(self.request.registry).theme(procedure.theme_code)
        values = {
            "page_title": self.t(procedure.title),
            "procedure": procedure,
            "theme": theme,
            "page": page,
            "pages": self.pages,
            "page_number": page.index + 1,
            "page_count": len(self.pages),
            "draft": self.draft,
            "citizen": self.citizen,
            "form": None,
            "documents": [],
            "summary": [],
            "captcha_token": None,
            "captcha_macros": None,
            "captcha_error": None,
            "general_error": None,
            "previous_url": self.page_url(page.index - 1) if page.index > 0 else None,
            "theme_url": (self.request.route_url("theme", theme=procedure.theme_code) if self.citizen
                          else self.request.route_url("home")),
            "step_links": [(p, self.page_url(p.index) if self.draft is not None and p.index <= self.draft.furthest
                            and p.index != page.index else None) for p in self.pages],
            "max_size": uploads.human_size(uploads.max_upload_bytes(self.request.registry.settings)),
            "accept": uploads.ACCEPT,
            "member_kinds_label": member_kinds_label(procedure.member_kinds),
            "saved_drafts": self.saved_drafts() if self.draft is None else [],
        }
        values.update(extra)
        return values

    def saved_drafts(self) -> list[Draft]:
        """Drafts of this procedure the household kept, offered when it starts the procedure again."""
        if not self.citizen:
            return []
        return [d for d in drafts(self.portal).for_owner(household_owner(self.household))
                if d.saved and d.procedure_code == self.procedure.code]

    def render(self, page: Page, status: int = 200, **extra):
        response = render_to_response("compte_citoyen.procedures:templates/wizard.pt",
                                      self.view_values(page, **extra), request=self.request)
        response.status_int = status
        return response

    # --- drafts ----------------------------------------------------------------------------------------------

    def ensure_draft(self) -> Draft:
        if self.draft is not None:
            return self.draft
        folder = drafts(self.portal)
        folder.purge(utcnow(), limit=20)
        draft_id = new_draft_id()
        while draft_id in folder:
            draft_id = new_draft_id()
        if self.citizen:
            owner, household_id = household_owner(self.household), self.household.id
        else:
            owner, household_id = anonymous_owner(self.request, create=True), None
        self.draft = folder.add_draft(Draft(draft_id, self.procedure.code, self.procedure.theme_code, owner,
                                            household_id, utcnow() + DRAFT_LIFETIME))
        return self.draft

    def touch(self, saved: bool = False) -> None:
        draft = self.draft
        draft.updated = utcnow()
        if saved:
            draft.saved = True
        lifetime = SAVED_DRAFT_LIFETIME if draft.saved else DRAFT_LIFETIME
        drafts(self.portal).set_expiry(draft, utcnow() + lifetime)

    def keep_draft(self) -> None:
        """ "Enregistrer le brouillon": keep the draft for weeks and say where to find it."""
        self.touch(saved=True)
        self.request.session.flash(self.t(_("Your draft is saved: resume it whenever you like from the "
                                             "\u00ab Mes Demandes \u00bb tab.")))

    def store(self, page: Page, pstruct: dict, valid: bool, member_id: str | None = None) -> None:
        draft = self.ensure_draft()
        schema = self.schema(page)
        draft.set_page(page.index, self._keep(schema, pstruct), valid)
        if page.index == 0 and member_id is not None:
            draft.member_id = member_id
        draft.current = page.index
        self.touch()

    # --- request handling ---------------------------------------------------------------------------------------

    def handle(self, index: int):
        page = self.pages[index]
        if self.request.method == "POST":
            if "discard" in self.request.POST and self.draft is not None:
                drafts(self.portal).remove_draft(self.draft)
                self.request.session.flash(self.t(_("The draft is deleted.")))
                return HTTPFound(self.request.route_url("my_requests" if self.citizen else "home"))
            if page.kind == FORM:
                return self.post_form(page)
            if page.kind == DOCUMENTS:
                return self.post_documents(page)
            return self.post_review(page)
        if self.draft is not None:
            self.draft.current = index
        if page.kind == FORM:
            return self.show_form(page)
        if page.kind == DOCUMENTS:
            return self.render(page, documents=self.document_rows({}))
        return self.show_review(page)

    def go(self, index: int):
        return HTTPFound(self.page_url(index))

    def show_form(self, page: Page, failure: deform.ValidationFailure | None = None, status: int = 200):
        if failure is not None:
            html = failure.render()
        else:
            form = self.form(page)
            stored = self._stored_pstruct(page)
            if stored is not None:
                stored["csrf_token"] = self.request.session.get_csrf_token()
                form.set_pstruct(stored)
                html = form.render()
            else:
                html = form.render({})
        return self.render(page, status=status, form=html, form_error=failure is not None)

    def post_form(self, page: Page):
        post = self.request.POST
        pstruct = peppercorn.parse(list(post.items()))
        member_id = pstruct.get(MEMBER_FIELD) if page.index == 0 else None
        member = self.member(member_id) if member_id else None
        form = self.form(page, member)
        try:
            appstruct = form.validate_pstruct(pstruct)
            failure = None
        except deform.ValidationFailure as exc:
            appstruct, failure = None, exc
        valid = appstruct is not None
        if "previous" in post and page.index > 0:
            self.store(page, pstruct, valid, member_id if valid else None)
            return self.go(page.index - 1)
        if "save_draft" in post and self.citizen:
            self.store(page, pstruct, valid, member_id if valid else None)
            self.keep_draft()
            return self.go(page.index)
        # "Suivant" (and Enter in a field)
        if failure is not None:
            if self.draft is not None:
                self.store(page, pstruct, False)
            return self.show_form(page, failure)
        self.store(page, pstruct, True, member_id)
        self.draft.current = page.index + 1
        return self.go(page.index + 1)

    # --- supporting documents ---------------------------------------------------------------------------------

    def document_rows(self, errors: dict) -> list[dict]:
        rows = []
        draft = self.draft
        for document in self.procedure.documents:
            attachment = draft.attachments.get(document.code) if draft is not None else None
            rows.append({
                "document": document,
                "code": document.code,
                "attachment": attachment,
                "size": uploads.human_size(attachment.size) if attachment is not None else "",
                "paper": bool(draft.paper.get(document.code)) if draft is not None else False,
                "error": errors.get(document.code),
            })
        return rows

    def take_uploads(self) -> dict:
        """Store the files posted and the paper choices; return the errors by document code."""
        post = self.request.POST
        draft = self.ensure_draft()
        errors = {}
        limit = uploads.max_upload_bytes(self.request.registry.settings)
        removed = post.get("remove")
        if removed:
            draft.detach(removed)
        for document in self.procedure.documents:
            code = document.code
            upload = post.get(f"file-{code}")
            if upload is not None and getattr(upload, "filename", None):
                try:
                    checked = uploads.check_upload(upload, upload.filename, limit)
                except uploads.UploadRefused as exc:
                    errors[code] = self.t(exc.message)
                else:
                    draft.attach(code, Attachment(code, checked.filename, checked.content_type, checked.data))
            draft.set_paper(code, code not in draft.attachments and bool(post.get(f"paper-{code}")))
        return errors

    def missing_documents(self) -> dict:
        draft = self.draft
        missing = {}
        for document in self.procedure.documents:
            if document.required and document.code not in draft.attachments and not draft.paper.get(document.code):
                missing[document.code] = self.t(_("Attach this document, or tick \u00ab Je l'apporterai au "
                                                  "guichet \u00bb."))
        return missing

    def post_documents(self, page: Page):
        post = self.request.POST
        errors = self.take_uploads()
        draft = self.draft
        self.touch()
        if "previous" in post:
            return self.go(page.index - 1)
        if "save_draft" in post and self.citizen:
            self.keep_draft()
            if not errors:
                return self.go(page.index)
        if "next" in post and not errors:
            errors = self.missing_documents()
            if not errors:
                draft.set_valid(page.index, True)
                draft.current = page.index + 1
                return self.go(page.index + 1)
        if not errors and "remove" in post:
            return self.go(page.index)
        draft.set_valid(page.index, False)
        return self.render(page, documents=self.document_rows(errors), form_error=bool(errors))

    # --- review and submission ------------------------------------------------------------------------------------

    def collect(self):
        """Validate every page again from what is stored; return (answers, summary, documents) or the index
        of the first page to correct."""
        answers, summary = {}, []
        member = self.member()
        for page in self.pages:
            if page.kind == FORM:
                pstruct = self._stored_pstruct(page)
                if pstruct is None:
                    return page.index
                pstruct["csrf_token"] = self.request.session.get_csrf_token()
                appstruct, form = self.validate_page(page, pstruct, member)
                if appstruct is None:
                    self.draft.set_valid(page.index, False)
                    return page.index
                appstruct.pop("csrf_token", None)
                if page.index == 0 and MEMBER_FIELD in appstruct:
                    member = self.member(appstruct[MEMBER_FIELD])
                    if self.draft.member_id != appstruct[MEMBER_FIELD]:  # unchanged: the draft is not written
                        self.draft.member_id = appstruct[MEMBER_FIELD]
                answers[page.index] = {k: _plain(v) for k, v in appstruct.items()}
                summary.append((self.t(page.title), describe(form.schema, appstruct, self.t)))
            elif page.kind == DOCUMENTS and self.missing_documents():
                self.draft.set_valid(page.index, False)
                return page.index
        documents = []
        for document in self.procedure.documents:
            attachment = self.draft.attachments.get(document.code)
            if attachment is not None:
                documents.append((document, DOC_FILE, attachment))
            elif self.draft.paper.get(document.code):
                documents.append((document, DOC_PAPER, None))
            else:
                documents.append((document, DOC_MISSING, None))
        return answers, summary, documents

    def document_summary(self, documents) -> list[tuple[str, str]]:
        lines = []
        for document, mode, attachment in documents:
            if mode == DOC_FILE:
                text = self.t(_("File attached: ${name}", mapping={"name": attachment.filename}))
            elif mode == DOC_PAPER:
                text = self.t(_("I will bring it to the counter"))
            else:
                text = self.t(_("Not given (optional)"))
            lines.append((self.t(document.title), text))
        return lines

    def show_review(self, page: Page, status: int = 200, **extra):
        collected = self.collect()
        if isinstance(collected, int):
            self.request.session.flash(self.t(_("Complete or correct this step before sending the request.")))
            return self.go(collected)
        _answers, summary, documents = collected
        values = {"summary": summary, "document_summary": self.document_summary(documents)}
        if self.procedure.captcha:
            from ..authentication import captcha
            values["captcha_token"] = captcha.new_challenge(self.request)
            values["captcha_macros"] = captcha.captcha_macros()
        values.update(extra)
        return self.render(page, status=status, **values)

    def anonymous_limit(self) -> int:
        try:
            return int(self.request.registry.settings.get("compte_citoyen.procedures.anonymous_per_hour",
                                                          DEFAULT_ANONYMOUS_PER_HOUR))
        except (TypeError, ValueError):
            return DEFAULT_ANONYMOUS_PER_HOUR

    def post_review(self, page: Page):
        post = self.request.POST
        if "previous" in post:
            return self.go(page.index - 1)
        if "save_draft" in post and self.citizen:
            self.keep_draft()
            return self.go(page.index)
        enter_in_captcha = "captcha_new" in post and (post.get("captcha_answer") or "").strip()
        if "submit" not in post and not enter_in_captcha:
            return self.show_review(page)  # "Nouvelle image" of the cryptogramme, or an unknown button
        collected = self.collect()
        if isinstance(collected, int):
            self.request.session.flash(self.t(_("Complete or correct this step before sending the request.")))
            return self.go(collected)
        answers, summary, documents = collected
        if self.procedure.captcha:
            from ..authentication import captcha
            if not captcha.check_posted(self.request):
                return self.show_review(page, captcha_error=self.t(_(
                    "The characters typed do not match the cryptogramme (or it has expired): copy the new "
                    "image shown.")))
        submissions_folder = submissions(self.portal)
        address = self.request.client_addr or ""
        now = utcnow()
        if not self.citizen:
            if submissions_folder.count_recent(address, now) >= self.anonymous_limit():
                return self.show_review(page, status=429, general_error=self.t(_(
                    "Too many requests were sent from your connection in the last hour: try again in an hour, "
                    "or contact the city hall.")))
            submissions_folder.record_attempt(address, now)
        summary = summary + [(self.t(_("Supporting documents")), self.document_summary(documents))] \
            if documents else summary
        submission, token = file_submission(
            self.request, self.portal, self.procedure, answers=answers, summary=summary, documents=documents,
            household=self.household, account=self.account, member=self.member(), client_addr=address)
        drafts(self.portal).close_draft(self.draft, now, DRAFT_LIFETIME)
        if self.citizen:
            self.request.session.flash(self.t(_(
                "Your request is sent under the number ${number}. An acknowledgement of receipt is sent to you "
                "by e-mail.", mapping={"number": submission.number})))
            return HTTPFound(self.request.route_url("request_detail", number=submission.number))
        return render_to_response("compte_citoyen.procedures:templates/submitted.pt", {
            "page_title": self.t(_("Your request is sent")),
            "submission": submission,
            "track_url": self.request.route_url("track", number=submission.number, token=token),
        }, request=self.request)


# --- "Les Services" -------------------------------------------------------------------------------------------

def visible_procedures(theme, citizen: bool) -> list[Procedure]:
    return [p for p in theme.procedures if citizen or not p.account_required]


@view_config(route_name="services", renderer="templates/services.pt")
def services_view(request):
    registry = get_registry(request.registry)
    _account, household = current_citizen(request)
    themes = [t for t in registry.themes.values() if visible_procedures(t, True)]
    saved = []
    if household is not None:
        saved = sorted((d for d in drafts(request.app_root).for_owner(household_owner(household)) if d.saved),
                       key=lambda d: d.updated, reverse=True)
    return {"page_title": request.translate(_("Services")), "themes": themes,
            "drafts": [(d, registry.get(d.procedure_code)) for d in saved if registry.get(d.procedure_code)]}


@view_config(route_name="theme", renderer="templates/theme.pt")
def theme_view(request):
    registry = get_registry(request.registry)
    theme = registry.theme(request.matchdict["theme"])
    if theme is None:
        raise HTTPNotFound()
    request.nav_section = "services"
    return {"page_title": request.translate(theme.title), "theme": theme,
            "procedures": visible_procedures(theme, True)}


def _procedure_or_404(request) -> Procedure:
    procedure = get_registry(request.registry).get(request.matchdict["procedure"])
    if procedure is None or procedure.theme_code != request.matchdict["theme"]:
        raise HTTPNotFound()
    return procedure


def _check_access(request, procedure: Procedure) -> None:
    account, household = current_citizen(request)
    if procedure.account_required and household is None:
        raise HTTPForbidden()


@view_config(route_name="procedure", permission=NO_PERMISSION_REQUIRED)
def procedure_view(request):
    procedure = _procedure_or_404(request)
    _check_access(request, procedure)
    request.nav_section = "services"
    wizard = Wizard(request, procedure)
    if wizard.citizen and procedure.needs_member and not eligible_members(wizard.household,
                                                                         procedure.member_kinds):
        return render_to_response("compte_citoyen.procedures:templates/no_member.pt", {
            "page_title": request.translate(procedure.title), "procedure": procedure,
            "member_kinds_label": member_kinds_label(procedure.member_kinds),
        }, request=request)
    return wizard.handle(0)


def _draft_or_404(request) -> Draft:
    folder = drafts(request.app_root)
    draft = folder.get(request.matchdict["draft_id"])
    if draft is None or draft.expires < utcnow() or not folder.is_open(draft):
        raise HTTPNotFound()
    _account, household = current_citizen(request)
    owner = household_owner(household) if household is not None else anonymous_owner(request)
    if owner is None or draft.owner != owner:
        raise HTTPNotFound()
    return draft


@view_config(route_name="draft_resume", permission=NO_PERMISSION_REQUIRED)
def draft_view(request):
    draft = _draft_or_404(request)
    procedure = get_registry(request.registry).get(draft.procedure_code)
    if procedure is None:
        raise HTTPNotFound()
    _check_access(request, procedure)
    request.nav_section = "services"
    wizard = Wizard(request, procedure, draft)
    try:
        index = int(request.params.get("etape", draft.current + 1)) - 1
    except ValueError:
        index = draft.current
    index = max(0, min(index, draft.furthest, len(wizard.pages) - 1))
    return wizard.handle(index)


# --- "Mes Demandes" -----------------------------------------------------------------------------------------------

SORTS = {
    "date": lambda s: (s.created, s.number),
    "numero": lambda s: s.number,
    "demarche": lambda s: (s.procedure_title.casefold(), s.created),
}
SORT_LABELS = {"date": _("Date"), "numero": _("Number"), "demarche": _("Procedure")}


def household_of(request):
    _account, household = current_citizen(request)
    if household is None:
        raise HTTPForbidden()
    return household


@view_config(route_name="my_requests", renderer="templates/my_requests.pt")
def my_requests(request):
    household = household_of(request)
    folder = submissions(request.app_root)
    sort = request.params.get("tri", "date")
    if sort not in SORTS:
        sort = "date"
    order = request.params.get("ordre", "desc" if sort == "date" else "asc")
    if order not in ("asc", "desc"):
        order = "asc"
    keys = folder.keys_for_household(household.id)
    total = len(keys)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    try:
        page = min(max(1, int(request.params.get("page", 1))), pages)
    except ValueError:
        page = 1
    if sort == "date":
        # read only the page asked for, straight from the household's date-ordered index
        ordered = keys.keys()
        indexes = range(total - 1, -1, -1) if order == "desc" else range(total)
        indexes = list(indexes)[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        rows = [folder.data[ordered[i][1]] for i in indexes]
    else:
        every = folder.newest(keys)
        every.sort(key=SORTS[sort], reverse=(order == "desc"))
        rows = every[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    registry = get_registry(request.registry)
    saved = sorted((d for d in drafts(request.app_root).for_owner(household_owner(household)) if d.saved),
                   key=lambda d: d.updated, reverse=True)

    def sort_url(column):
        """The current column toggles its order; another column starts newest first for dates, else A to Z."""
        if column == sort:
            next_order = "asc" if order == "desc" else "desc"
        else:
            next_order = "desc" if column == "date" else "asc"
        return request.route_url("my_requests", _query={"tri": column, "ordre": next_order})

    columns = [{"key": key, "label": SORT_LABELS[key], "url": sort_url(key),
                "current": key == sort, "order": order} for key in ("numero", "demarche", "date")]
    return {
        "page_title": request.translate(_("My requests")),
        "rows": rows, "total": total, "page": page, "pages": pages, "sort": sort, "order": order,
        "columns": {c["key"]: c for c in columns},
        "page_url": lambda n: request.route_url("my_requests", _query={"tri": sort, "ordre": order, "page": n}),
        "local_date": local_date,
        "drafts": [(d, registry.get(d.procedure_code)) for d in saved if registry.get(d.procedure_code)],
    }


def own_submission(request):
    """The household's own request, or 404 (another household's request does not exist for them)."""
    household = household_of(request)
    submission = submissions(request.app_root).get(request.matchdict["number"])
    if submission is None or submission.household_id != household.id:
        raise HTTPNotFound()
    return submission


def messages_about(request, submission) -> list:
    from ..notification import messages_for_request
    return list(reversed(messages_for_request(request.app_root, submission.number, 100)))


@view_config(route_name="request_detail", renderer="templates/request_detail.pt")
def request_detail(request):
    submission = own_submission(request)
    request.nav_section = "my_requests"
    return {"page_title": request.translate(_("Request ${number}", mapping={"number": submission.number})),
            "submission": submission, "status": status_of(request, submission),
            "messages": messages_about(request, submission), "local_date": local_date,
            "steps": STEPS, "step_count": STEP_COUNT}


@view_config(route_name="request_pdf")
def request_pdf(request):
    submission = own_submission(request)
    from .pdf import submission_pdf
    body = submission_pdf(request, submission, messages_about(request, submission))
    response = Response(body=body, content_type="application/pdf")
    response.content_disposition = f'inline; filename="demande-{submission.number}.pdf"'
    return response


@view_config(route_name="track", renderer="templates/track.pt", permission=NO_PERMISSION_REQUIRED)
def track(request):
    submission = find_tracked(request.app_root, request.matchdict["number"], request.matchdict["token"])
    if submission is None:
        raise HTTPNotFound()
    return {"page_title": request.translate(_("Follow-up of request ${number}",
                                              mapping={"number": submission.number})),
            "submission": submission, "status": status_of(request, submission),
            "local_date": local_date, "messages": messages_about(request, submission)}
