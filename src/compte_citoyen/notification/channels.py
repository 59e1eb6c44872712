"""Notification channels. The core's e-mail channel is itself declared through the channel hook.

A channel receives a plain snapshot of the message (attributes ``id``, ``event_key``, ``kind``, ``channel``,
``subject``, ``text``, ``html``, ``sms_text``, ``email``, ``phone``, ``household_id``, ``request_number``),
never the persistent object: it runs outside any transaction, after the worker has claimed the message.
"""
from __future__ import annotations

import mailbox
import os
import smtplib

from pyramid_mailer.interfaces import IMailer
from pyramid_mailer.message import Message as MailMessage

from ..plugins import hookimpl


class DeliveryError(Exception):
    """A message could not be delivered; ``permanent`` means retrying is pointless."""

    def __init__(self, reason: str, permanent: bool = False):
        super().__init__(reason)
        self.permanent = permanent

    @property
    def reason(self) -> str:
        return str(self)


class Channel:
    """Base class of a channel: a ``name`` and ``send(message, registry)``."""

    name = ""

    def send(self, message, registry) -> None:  # pragma: no cover - interface
        raise NotImplementedError


def _smtp_permanent(exc: Exception) -> bool:
    """5xx answers about the recipient or the content will not change by retrying; the rest may."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _msg in exc.recipients.values())
    if isinstance(exc, (smtplib.SMTPDataError, smtplib.SMTPSenderRefused)):
        return exc.smtp_code >= 500
    return False


def build_mail(message, registry) -> MailMessage:
    """The MIME mail of a message: text and HTML parts, marked as automatic (no replies, no auto-replies)."""
    return MailMessage(subject=message.subject, recipients=[message.email], body=message.text,
                       html=message.html or None, sender=registry.settings.get("mail.default_sender"),
                       extra_headers={"Auto-Submitted": "auto-generated",
                                      "X-Auto-Response-Suppress": "All",
                                      "X-Compte-Citoyen-Message": message.id})


class EmailChannel(Channel):
    """E-mail through pyramid_mailer (SMTP), sent by the worker after the causing transaction.

    With ``compte_citoyen.mail_delivery = folder`` (development), mail is written to the maildir
    ``compte_citoyen.mail_folder`` instead (``var/mail/new/*``), readable with any mail client or ``cat``.
    """

    name = "email"

    def send(self, message, registry) -> None:
        if not message.email:
            raise DeliveryError("no e-mail address", permanent=True)
        mail = build_mail(message, registry)
        settings = registry.settings
        if settings.get("compte_citoyen.mail_delivery", "smtp") == "folder":
            folder = settings.get("compte_citoyen.mail_folder") or os.path.join("var", "mail")
            try:
                for sub in ("tmp", "new", "cur"):  # Maildir(create=True) skips them when the folder exists
                    os.makedirs(os.path.join(folder, sub), exist_ok=True)
                mailbox.Maildir(folder, create=True).add(mail.to_message().as_bytes())
            except OSError as exc:
                raise DeliveryError(f"mail folder {folder}: {exc}") from exc
            return
        mailer = registry.getUtility(IMailer)
        try:
            smtp = getattr(mailer, "smtp_mailer", None)
            if smtp is None:  # a test double (pyramid_mailer.testing.DummyMailer)
                mailer.send_immediately(mail, fail_silently=False)
            else:
                sender, recipients, mime = mailer._message_args(mail)
                # repoze.sendmail hands smtplib bytes with bare LF line ends; RFC 5321 wants CRLF
                # (strict servers such as aiosmtpd refuse the mail otherwise)
                mime.policy = mime.policy.clone(linesep="\r\n")
                smtp.send(sender, recipients, mime)
        except Exception as exc:  # SMTP errors, refused connections, timeouts
            raise DeliveryError(f"{type(exc).__name__}: {exc}", permanent=_smtp_permanent(exc)) from exc


@hookimpl
def compte_citoyen_register_channels(settings):
    return [EmailChannel()]
