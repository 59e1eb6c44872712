"""The e-mails of the accounts area, queued in the outbox within the request's transaction.

The wording is French paragraphs; ``notification.rendering.render_message`` wraps them in the portal's mail
templates (text and HTML parts from the same paragraphs, the kind in the subject, a closing notice saying no
reply is expected; the sender is the no-reply address). A password is never sent.
"""
from __future__ import annotations

import datetime

from pyramid.i18n import TranslationString

from ..i18n import _
from ..notification import ACKNOWLEDGEMENT, INFORMATION, queue_message
from ..notification.rendering import render_message
from ..security import hash_token


def _compose(request, kind: str, subject, paragraphs: list,
             link: str | None = None) -> tuple[str, str, str]:
    """(subject, text, html) through the notification templates (greeting, kind, no-reply notice)."""
    t = request.translate
    body = [t(p) if isinstance(p, TranslationString) else p for p in paragraphs]
    rendered = render_message(request, kind, t(subject), *body, link=link)
    return rendered.subject, rendered.text, rendered.html


def _recipient(request, account) -> tuple[str, str | None]:
    """(e-mail address, household id) of the account's holder."""
    household = request.app_root["households"].get(account.household_id)
    holder = household.holder if household is not None else None
    return (holder.email if holder is not None else ""), account.household_id


def queue_account_created(request, account) -> None:
    """Acknowledgement of the account creation."""
    email, household_id = _recipient(request, account)
    subject, text, html = _compose(request, ACKNOWLEDGEMENT, _("Your citizen account is created"), [
        _("Your account \"My Citizen Account\" has been created with the access code ${code}.",
          mapping={"code": account.code}),
        _("It is now waiting for validation by the city's services, usually within 2 working days. You can "
          "already do procedures online; changes to your account will be possible once it is validated."),
        _("Keep your access code and your password safe and never give them to anyone: the city will never "
          "ask you for your password."),
    ], request.route_url("home"))
    queue_message(request.app_root, event_key=f"account-created:{account.key}", kind=ACKNOWLEDGEMENT,
                  subject=subject, text=text, html=html, email=email, household_id=household_id)


def queue_reset_link(request, account, token: str, expires: datetime.datetime, minutes: int) -> None:
    """The single-use link to choose a new password (never a password)."""
    email, _household_id = _recipient(request, account)
    link = request.route_url("reset_password", token=token)
    subject, text, html = _compose(request, INFORMATION, _("Choose a new password"), [
        _("A new password was requested for your account \"My Citizen Account\" (access code ${code}).",
          mapping={"code": account.code}),
        _("To choose it, open this link within ${minutes} minutes (it can be used only once):",
          mapping={"minutes": minutes}),
        link,
        _("If you did not ask for it, ignore this message: your password does not change."),
    ], request.route_url("home"))
    # Not attached to the household (not listed in the portal's messages): the link is a credential, so the
    # outbox erases it once the mail is sent or has failed for good (``sensitive``).
    queue_message(request.app_root, event_key=f"password-reset-link:{account.key}:{hash_token(token)[:24]}",
                  kind=INFORMATION, subject=subject, text=text, html=html, email=email, household_id=None,
                  sensitive=True)


def queue_password_changed(request, account, how: str) -> None:
    """Notice after a change or a reset: the citizen learns about a change they did not make."""
    email, household_id = _recipient(request, account)
    when = account.password_changed_at or datetime.datetime.now(datetime.timezone.utc)
    subject, text, html = _compose(request, INFORMATION, _("Your password has been changed"), [
        _("The password of your account \"My Citizen Account\" (access code ${code}) has been changed.",
          mapping={"code": account.code}),
        _("The sessions open elsewhere have been closed and earlier password reset links no longer work."),
        _("If you did not make this change, use \"Forgotten password\" on the home page at once to choose a "
          "new password, and tell the city hall."),
    ], request.route_url("home"))
    queue_message(request.app_root, event_key=f"password-changed:{account.key}:{how}:{when.isoformat()}",
                  kind=INFORMATION, subject=subject, text=text, html=html, email=email,
                  household_id=household_id)
