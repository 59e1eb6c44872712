"""Lost password ("Mot de passe oublié") and change of password.

Recovery: the code d'accès, then its secret question, the answer and "Confirmer"; an e-mail carries a
single-use link valid ``RESET_MINUTES`` minutes (a 256-bit random token, stored hashed) to a form that chooses
a new password. The pages never tell whether an account exists or whether the answer was right: an unknown
code gets a plausible question (derived from the code with the secret, so always the same one) and every
answer leads to the same final page. Every request counts in the throttle (right or wrong, known or not), so
the throttle tells nothing either and also limits the e-mails anyone can trigger to one account.

After a reset or a change: earlier links and the other sessions stop working, and a notice is e-mailed.
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
from ..i18n import _
from . import captcha, mails, throttle
from .models import CLOSED, code_key
from .passwords import hash_password, verify_answer, verify_password
from .schemas import change_password_schema, fake_question, reset_password_schema
from .views import LOGIN_SCOPE, MAX_PASSWORD_INPUT, is_citizen

RESET_MINUTES = 30
RECOVERY_SCOPE = "recovery"


def question_for(request, code: str) -> str:
    """The account's question, or the same plausible one every time for an unknown code."""
    account = request.app_root["accounts"].get_by_code(code)
    if account is not None and account.state != CLOSED and account.secret_question:
        question = account.secret_question
    else:
        question = fake_question(request.registry.settings["compte_citoyen.secret"], code)
    return request.translate(_(question))


@view_config(route_name="lost_password", renderer="templates/lost_password.pt", permission=NO_PERMISSION_REQUIRED)
def lost_password(request):
    """Ask for the code d'accès (or go straight to the question when it came from the login box)."""
    code = (request.params.get("code") or "").strip()[:200]
    if code:
        return HTTPFound(request.route_url("lost_password_question", _query={"code": code}))
    return {"page_title": request.translate(_("Forgotten password")),
            "error": request.translate(_("Enter your access code.")) if "code" in request.params else None}


def _question_page(request, code: str, error: str | None = None, need_captcha: bool = False,
                   captcha_error: str | None = None, answer_error: str | None = None) -> dict:
    return {
        "page_title": request.translate(_("Forgotten password")),
        "code": code,
        "question": question_for(request, code),
        "error": error,
        "answer_error": answer_error,
        "need_captcha": need_captcha,
        "captcha_token": captcha.new_challenge(request) if need_captcha else None,
        "captcha_error": captcha_error,
        "captcha_macros": captcha.captcha_macros() if need_captcha else None,
    }


@view_config(route_name="lost_password_question", renderer="templates/lost_password_question.pt",
             permission=NO_PERMISSION_REQUIRED)
def lost_password_question(request):
    code = (request.params.get("code") or "").strip()[:200]
    if not code:
        return HTTPFound(request.route_url("lost_password"))
    key = code_key(code)
    verdict = throttle.check(request, RECOVERY_SCOPE, key)
    if request.method != "POST":
        return _question_page(request, code, need_captcha=verdict.captcha)
    if captcha.REFRESH_BUTTON in request.POST and not request.POST.get("captcha_answer", "").strip():
        return _question_page(request, code, need_captcha=verdict.captcha)
    if verdict.wait:
        request.response.status = 429
        return _question_page(request, code, error=request.translate(_(
            "Too many attempts. Wait ${seconds} seconds, then try again.", mapping={"seconds": verdict.wait})))
    answer = request.POST.get("answer") or ""
    if not answer.strip():
        return _question_page(request, code, need_captcha=verdict.captcha,
                              answer_error=request.translate(_("Type the answer to your secret question.")))
    # every outcome from here on commits (counters, consumed cryptogramme): answer 200 or a redirect
    if verdict.captcha and not captcha.check_posted(request):
        return _question_page(request, code, need_captcha=True,
                              error=request.translate(_("For your security, copy the cryptogramme as well.")),
                              captcha_error=request.translate(_(
                                  "The characters typed do not match the cryptogramme (or it has expired): "
                                  "copy the new image shown.")))
    throttle.record_failure(request, RECOVERY_SCOPE, key)  # every request counts, see the module docstring
    accounts = request.app_root["accounts"]
    account = accounts.get_by_code(code)
    usable = account is not None and account.state != CLOSED
    right = verify_answer(account.secret_answer_hash if usable else None, answer[:MAX_PASSWORD_INPUT])
    if usable and right:
        token = security.new_token(32)
        expires = security.utcnow() + datetime.timedelta(minutes=RESET_MINUTES)
        accounts.add_reset_token(account, security.hash_token(token), expires)
        mails.queue_reset_link(request, account, token, expires, RESET_MINUTES)
        journal(request, "password-reset-requested", f"account:{account.key}")
    elif usable:
        journal(request, "password-reset-wrong-answer", f"account:{account.key}")
    else:
        journal(request, "password-reset-unknown-code", "", "unknown code d'accès")
    return HTTPFound(request.route_url("lost_password_sent"))


@view_config(route_name="lost_password_sent", renderer="templates/lost_password_sent.pt",
             permission=NO_PERMISSION_REQUIRED)
def lost_password_sent(request):
    """The same page whatever happened (no oracle on accounts or answers)."""
    return {"page_title": request.translate(_("Forgotten password")), "minutes": RESET_MINUTES}


@view_config(route_name="reset_password", renderer="templates/reset_password.pt", permission=NO_PERMISSION_REQUIRED)
class ResetPasswordView(FormView):
    """The form behind the e-mailed link: a new password, then every other way in is closed."""

    schema_factory = staticmethod(reset_password_schema)
    formid = "reset"
    buttons = (deform.Button("save", _("Save")),)

    def account(self):
        token = self.request.matchdict["token"]
        return self.request.app_root["accounts"].account_for_token(security.hash_token(token))

    def __call__(self):
        account = self.account()
        if account is None or account.state == CLOSED:
            self.request.response.status = 410
            return {"page_title": self.request.translate(_("This link is no longer valid")), "invalid": True,
                    "minutes": RESET_MINUTES}
        self._account = account
        return super().__call__()

    def page_values(self) -> dict:
        return {"page_title": self.request.translate(_("Choose a new password")), "invalid": False,
                "code": self._account.code}

    def make_schema(self):
        schema = super().make_schema()
        # the password must not be the code d'accès either
        base = schema.validator
        schema.validator = lambda form, value: base(form, value, self._account.code)
        return schema

    def save_success(self, appstruct: dict):
        request = self.request
        account = self._account
        accounts = request.app_root["accounts"]
        account.set_password(hash_password(appstruct["password"]), security.utcnow())
        accounts.clear_reset_tokens(account)
        account.close_all_sessions()
        throttle.record_success(request, LOGIN_SCOPE, account.key)
        mails.queue_password_changed(request, account, "reset")
        journal(request, "password-reset", f"account:{account.key}")
        if request.session.get("auth"):
            security.log_out(request)
        request.session.flash(request.translate(_("Your new password is saved. Log in with it.")))
        return HTTPFound(request.route_url("login", _query={"code": account.code}))


@view_config(route_name="change_password", renderer="templates/change_password.pt")
class ChangePasswordView(FormView):
    """Change of password from the account: the current password is required."""

    schema_factory = staticmethod(change_password_schema)
    formid = "change-password"
    buttons = (deform.Button("save", _("Save")),)

    def __call__(self):
        if not is_citizen(self.request):  # e.g. an administrator, who has every permission
            return HTTPFound(self.request.route_url("home"))
        return super().__call__()

    def page_values(self) -> dict:
        return {"page_title": self.request.translate(_("Change my password"))}

    def make_schema(self):
        schema = super().make_schema()
        base = schema.validator
        schema.validator = lambda form, value: base(form, value, self.request.identity.code)
        return schema

    def save_success(self, appstruct: dict):
        request = self.request
        account = request.identity
        verdict = throttle.check(request, LOGIN_SCOPE, account.key)
        current = appstruct["current_password"][:MAX_PASSWORD_INPUT]
        if verdict.wait or not verify_password(account.password_hash, current)[0]:
            if not verdict.wait:
                throttle.record_failure(request, LOGIN_SCOPE, account.key)
                journal(request, "password-change-failed", f"account:{account.key}")
            message = (request.translate(_("Too many attempts. Wait ${seconds} seconds, then try again.",
                                           mapping={"seconds": verdict.wait})) if verdict.wait
                       else request.translate(_("The current password is wrong.")))
            schema = self.make_schema()
            form = self.make_form(schema)
            form.set_appstruct({k: v for k, v in appstruct.items() if "password" not in k})
            form.error = None
            form["current_password"].error = _invalid(form["current_password"], message)
            return {"form": form.render(), "form_error": True}  # page_values() are added by FormView
        account.set_password(hash_password(appstruct["password"]), security.utcnow())
        request.app_root["accounts"].clear_reset_tokens(account)
        account.close_all_sessions(keep=security.current_sid(request))
        mails.queue_password_changed(request, account, "change")
        journal(request, "password-changed", f"account:{account.key}")
        request.session.flash(request.translate(_("Your password has been changed. A notice was sent to you "
                                                   "by e-mail.")))
        return HTTPFound(request.route_url("my_account"))


def _invalid(node_field, message):
    import colander
    return colander.Invalid(node_field.schema, message)
