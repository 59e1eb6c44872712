"""Notification channels. The core's e-mail channel is itself declared through the channel hook."""
from __future__ import annotations

from pyramid_mailer.interfaces import IMailer
from pyramid_mailer.message import Message as MailMessage

from ..plugins import hookimpl


class DeliveryError(Exception):
    """A message could not be delivered; ``permanent`` means retrying is pointless."""

    def __init__(self, reason: str, permanent: bool = False):
        super().__init__(reason)
        self.permanent = permanent


class Channel:
    """Base class of a channel: a ``name`` and ``send(message, registry)``."""

    name = ""

    def send(self, message, registry) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class EmailChannel(Channel):
    """E-mail through pyramid_mailer, sent immediately by the worker (after the causing transaction)."""

    name = "email"

    def send(self, message, registry) -> None:
        if not message.email:
            raise DeliveryError("no e-mail address", permanent=True)
        mailer = registry.getUtility(IMailer)
        mail = MailMessage(subject=message.subject, recipients=[message.email], body=message.text,
                           html=message.html, sender=registry.settings.get("mail.default_sender"),
                           extra_headers={"Auto-Submitted": "auto-generated",
                                          "X-Auto-Response-Suppress": "All"})
        try:
            mailer.send_immediately(mail, fail_silently=False)
        except Exception as exc:  # SMTP errors, refused connections, timeouts
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


@hookimpl
def compte_citoyen_register_channels(settings):
    return [EmailChannel()]
