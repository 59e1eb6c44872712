"""SMS channels for Compte Citoyen: a generic HTTP SMS gateway, and a development folder.

Declares one notification channel named ``sms`` through ``compte_citoyen_register_channels``; which backend it
uses is chosen by ``compte_citoyen_sms_gateway.backend`` (``folder`` or ``http``). See README.md for settings.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request

from pyramid.exceptions import ConfigurationError

from compte_citoyen.notification.channels import Channel, DeliveryError
from compte_citoyen.plugins import hookimpl

log = logging.getLogger(__name__)

PREFIX = "compte_citoyen_sms_gateway."
BACKENDS = ("folder", "http")
#: a message longer than three SMS segments is cut
MAX_LENGTH = 459


def setting(settings, name: str, default: str = "") -> str:
    """A plugin setting; ``env:NAME`` reads the environment (secrets never sit in the ini)."""
    value = settings.get(PREFIX + name, default)
    if isinstance(value, str) and value.startswith("env:"):
        value = os.environ.get(value[4:], "")
    return value if value is not None else default


def international_number(number: str, country_code: str = "33") -> str:
    """A French mobile number in E.164 form; DeliveryError(permanent) when it cannot be one."""
    digits = re.sub(r"[\s.\-()]", "", number or "")
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("0") and len(digits) == 10:
        digits = f"+{country_code}{digits[1:]}"
    if not re.fullmatch(r"\+\d{8,15}", digits):
        raise DeliveryError(f"invalid mobile number {number!r}", permanent=True)
    return digits


def sms_text(message) -> str:
    text = " ".join((getattr(message, "sms_text", None) or message.text or "").split())
    return text if len(text) <= MAX_LENGTH else text[: MAX_LENGTH - 1] + "…"


class FolderSmsChannel(Channel):
    """Development: each SMS becomes a small text file in a folder (nothing leaves the machine)."""

    name = "sms"

    def __init__(self, folder: str, sender: str = ""):
        self.folder = folder
        self.sender = sender

    def send(self, message, registry) -> None:
        if not message.phone:
            raise DeliveryError("no mobile number", permanent=True)
        to = international_number(message.phone)
        try:
            os.makedirs(self.folder, exist_ok=True)
            path = os.path.join(self.folder, f"sms-{message.id}.txt")
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as out:
                out.write(f"To: {to}\nFrom: {self.sender}\nReference: {message.id}\n\n{sms_text(message)}\n")
            os.replace(tmp, path)  # a reader never sees half a file; the same message rewrites one file
        except OSError as exc:
            raise DeliveryError(f"SMS folder {self.folder}: {exc}") from exc


class HttpSmsChannel(Channel):
    """A generic HTTP SMS gateway: one POST per SMS, with Basic or bearer credentials."""

    name = "sms"

    def __init__(self, url: str, sender: str = "", username: str = "", password: str = "", token: str = "",
                 body_format: str = "json", timeout: float = 10.0):
        self.url = url
        self.sender = sender
        self.username = username
        self.password = password
        self.token = token
        self.body_format = body_format
        self.timeout = timeout

    def request_for(self, message) -> urllib.request.Request:
        fields = {"from": self.sender, "to": international_number(message.phone), "text": sms_text(message),
                  "reference": message.id}
        headers = {"Idempotency-Key": message.id, "User-Agent": "compte-citoyen-sms-gateway/0.1"}
        if self.body_format == "form":
            body = urllib.parse.urlencode(fields).encode("utf-8")
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(fields).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.username:
            pair = f"{self.username}:{self.password}".encode("utf-8")
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return urllib.request.Request(self.url, data=body, headers=headers, method="POST")

    def send(self, message, registry) -> None:
        if not message.phone:
            raise DeliveryError("no mobile number", permanent=True)
        request = self.request_for(message)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - URL from the ini
                response.read()
        except urllib.error.HTTPError as exc:
            temporary = exc.code in (408, 429) or exc.code >= 500
            raise DeliveryError(f"SMS gateway answered HTTP {exc.code}", permanent=not temporary) from exc
        except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"SMS gateway unreachable: {reason}") from exc


def make_channel(settings) -> Channel:
    """The channel the settings ask for (raises ConfigurationError when they are incomplete)."""
    backend = setting(settings, "backend", "folder") or "folder"
    if backend not in BACKENDS:
        raise ConfigurationError(f"{PREFIX}backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    sender = setting(settings, "sender", "")
    if backend == "folder":
        folder = (setting(settings, "folder") or settings.get("compte_citoyen.sms_folder")
                  or os.path.join("var", "sms"))
        return FolderSmsChannel(folder, sender)
    url = setting(settings, "url")
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"{PREFIX}url must be the gateway's http(s) address when {PREFIX}backend = http")
    body_format = setting(settings, "format", "json") or "json"
    if body_format not in ("json", "form"):
        raise ConfigurationError(f"{PREFIX}format must be json or form")
    return HttpSmsChannel(url, sender, setting(settings, "username"), setting(settings, "password"),
                          setting(settings, "token"), body_format, float(setting(settings, "timeout", "10") or 10))


class MisconfiguredSmsChannel(Channel):
    """Stands in for a gateway whose settings are incomplete: every SMS fails for good, so the worker sends
    the message by e-mail instead, and the reason is shown to staff on each message."""

    name = "sms"

    def __init__(self, reason: str):
        self.reason = reason

    def send(self, message, registry) -> None:
        raise DeliveryError(f"SMS gateway not configured: {self.reason}", permanent=True)


def channel_from_settings(settings) -> Channel:
    try:
        return make_channel(settings)
    except ConfigurationError as exc:
        return MisconfiguredSmsChannel(str(exc))


@hookimpl
def compte_citoyen_configure(config):
    """Say at start-up when the gateway settings are incomplete (the application still starts: SMS then fall
    back to e-mail, so an SMS outage never stops the portal)."""
    channel = channel_from_settings(config.get_settings())
    if isinstance(channel, MisconfiguredSmsChannel):
        log.error("SMS gateway not configured, SMS will be sent by e-mail instead: %s", channel.reason)


@hookimpl
def compte_citoyen_register_channels(settings):
    return [channel_from_settings(settings)]
