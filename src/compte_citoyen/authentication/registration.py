"""Account creation, as the FAQ describes it: "Confirmer" on the home page, the general terms to accept,
the form (information, code d'accès, password, secret question, cryptogramme), "Enregistrer",
then "Votre compte est créé." and an acknowledgement e-mail.

The account starts waiting for validation by the city; its household is created with the holder as first
adult; the citizen is logged in straight away.
"""
from __future__ import annotations

import datetime

import deform
from pyramid.httpexceptions import HTTPFound
from pyramid.security import NO_PERMISSION_REQUIRED
from pyramid.view import view_config

from .. import security
from ..backoffice.models import journal
from ..forms import FormView
from ..household.models import ADULT, EMAIL, Member, new_id
from ..i18n import _
from . import mails
from .captcha import CaptchaFormMixin
from .models import PENDING, Account
from .passwords import hash_answer, hash_password
from .schemas import SECRET_QUESTIONS, normalise_phone, registration_schema
from .views import is_citizen

TERMS_SESSION_KEY = "terms_accepted_at"


@view_config(route_name="register", renderer="templates/register_terms.pt", permission=NO_PERMISSION_REQUIRED)
def register_terms(request):
    """Step 1: read and accept the general terms (refused without acceptance)."""
    if is_citizen(request):
        return HTTPFound(request.route_url("citizen_home"))
    from ..content import load_document
    error = None
    if request.method == "POST":
        if request.POST.get("accept") == "yes":
            request.session[TERMS_SESSION_KEY] = security.utcnow().isoformat()
            return HTTPFound(request.route_url("register_form"))
        error = request.translate(_("To create an account, you must accept the general terms: tick the box."))
    return {"page_title": request.translate(_("Create your account")),
            "sections": load_document("terms", request.locale_name), "error": error}


@view_config(route_name="register_form", renderer="templates/register_form.pt", permission=NO_PERMISSION_REQUIRED)
class RegisterView(CaptchaFormMixin, FormView):
    """Step 2: the information, the code d'accès, the password, the secret question, the cryptogramme."""

    schema_factory = staticmethod(registration_schema)
    formid = "register"

    @property
    def buttons(self):
        return (deform.Button("save", _("Save")),)

    def __call__(self):
        if is_citizen(self.request):
            return HTTPFound(self.request.route_url("citizen_home"))
        if not self.request.session.get(TERMS_SESSION_KEY):
            self.request.session.flash(self.request.translate(
                _("Please read and accept the general terms first.")))
            return HTTPFound(self.request.route_url("register"))
        return super().__call__()

    def page_values(self) -> dict:
        return {"page_title": self.request.translate(_("Create your account"))}

    def save_success(self, appstruct: dict):
        request = self.request
        portal = request.app_root
        now = security.utcnow()
        household = portal["households"].new_household(appstruct["family_name"])
        holder = Member(
            new_id(), ADULT, appstruct["family_name"], appstruct["first_names"], appstruct["birth_date"],
            civility=appstruct["civility"], relation="holder", email=appstruct["email"],
            phone=normalise_phone(appstruct["phone"]) or "" if appstruct["phone"] else "",
            mobile=normalise_phone(appstruct["mobile"]) or "" if appstruct["mobile"] else "")
        household.add_member(holder)
        household.holder_id = holder.id
        household.communication = EMAIL
        household.address = appstruct["address"]
        household.postcode = appstruct["postcode"]
        household.city = appstruct["city"]
        question = str(SECRET_QUESTIONS[int(appstruct["secret_question"])])  # the message id
        account = Account(appstruct["code"], hash_password(appstruct["password"]), household.id, holder.id,
                          question, hash_answer(appstruct["secret_answer"]), created=now)
        account.state = PENDING
        accepted = request.session.get(TERMS_SESSION_KEY)
        try:
            account.terms_accepted_at = datetime.datetime.fromisoformat(accepted)
        except (TypeError, ValueError):
            account.terms_accepted_at = now
        portal["accounts"].add_account(account)
        mails.queue_account_created(request, account)
        security.log_in(request, account, security.CITIZEN_KIND)  # new session: the terms flag goes too
        journal(request, "account-created", f"account:{account.key}")
        return HTTPFound(request.route_url("register_done"))


@view_config(route_name="register_done", renderer="templates/register_done.pt")
def register_done(request):
    """Step 3: "Votre compte est créé." (the citizen is logged in)."""
    if not is_citizen(request):  # e.g. an administrator, who has every permission
        return HTTPFound(request.route_url("home"))
    account = request.identity
    household = request.app_root["households"].get(account.household_id)
    holder = household.holder if household is not None else None
    return {"page_title": request.translate(_("Your account is created.")),
            "account": account, "email": holder.email if holder is not None else ""}
