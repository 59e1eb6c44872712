"""Message templates: the same French wording for the text mail, the HTML mail and the SMS.

Rendered with Chameleon directly (not Pyramid's renderer pipeline): the ``BeforeRender`` subscribers of the
pages would otherwise run inside the calling view (and eat its flash messages), and the worker has no
request. Text is always in the portal's default language: a message reads the same whoever triggered it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from chameleon import PageTemplateFile, PageTextTemplateFile
from pyramid.i18n import TranslationString, make_localizer
from pyramid.interfaces import ILocalizer, ITranslationDirectories

from ..i18n import _
from .models import ACKNOWLEDGEMENT, DECISION, INFORMATION

HERE = os.path.join(os.path.dirname(__file__), "templates")

KIND_LABELS = {
    ACKNOWLEDGEMENT: _("Acknowledgement of receipt"),
    DECISION: _("Decision"),
    INFORMATION: _("Information"),
}
NO_REPLY = _("This message is sent automatically, please do not reply to it.")
#: three SMS segments at most
SMS_MAX = 459

_templates: dict[str, object] = {}


def _template(name: str):
    template = _templates.get(name)
    if template is None:
        factory = PageTemplateFile if name.endswith(".pt") else PageTextTemplateFile
        template = _templates[name] = factory(os.path.join(HERE, name), encoding="utf-8")
    return template


@dataclass
class RenderedMessage:
    subject: str
    text: str
    html: str
    sms: str


def localizer_for(registry):
    """The localizer of the portal's default language (cached on the registry, like Pyramid does)."""
    settings = getattr(registry, "settings", None) or {}
    locale = settings.get("pyramid.default_locale_name", "fr")
    localizer = registry.queryUtility(ILocalizer, name=locale) if registry is not None else None
    if localizer is None:
        dirs = registry.queryUtility(ITranslationDirectories, default=[]) if registry is not None else []
        localizer = make_localizer(locale, dirs)
        if settings:  # never cache on Pyramid's global registry (no app: no catalogues)
            registry.registerUtility(localizer, ILocalizer, name=locale)
    return localizer


def _registry_of(request_or_registry):
    if request_or_registry is None:
        from pyramid.threadlocal import get_current_registry
        return get_current_registry()
    return getattr(request_or_registry, "registry", request_or_registry)


def paragraphs(*body: str) -> list[list[str]]:
    """Split body text into paragraphs (blank lines) of lines."""
    out = []
    for chunk in body:
        for para in (chunk or "").replace("\r\n", "\n").split("\n\n"):
            lines = [line.rstrip() for line in para.strip("\n").split("\n") if line.strip()]
            if lines:
                out.append(lines)
    return out


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render_message(request_or_registry, kind: str, subject: str, *body: str,
                   request_number: str | None = None, link: str | None = None) -> RenderedMessage:
    """Wrap a plain French subject and body in the message templates of ``kind``.

    Returns the mail subject (prefixed with the kind, e.g. "Accusé de réception : ..."), the text and HTML
    mail bodies and a short SMS, each ending with the "no reply" notice. ``link`` is where the recipient
    follows the matter (an anonymous requester's tracking link); by default the portal's own address.
    """
    registry = _registry_of(request_or_registry)
    settings = getattr(registry, "settings", None) or {}
    localizer = localizer_for(registry)

    def translate(msgid, domain=None, mapping=None, context=None, target_language=None, default=None):
        if not isinstance(msgid, TranslationString):
            msgid = TranslationString(msgid, domain=domain or "compte_citoyen", default=default, mapping=mapping)
        return localizer.translate(msgid)

    def t(tstring, **mapping):
        return localizer.translate(tstring, mapping=mapping or None)

    kind_label = translate(KIND_LABELS[kind])
    subject = " ".join((subject or "").split())
    sms_subject = subject or kind_label  # an SMS is short: no kind prefix
    if not subject.casefold().startswith(kind_label.casefold()):
        subject = f"{kind_label} : {subject}" if subject else kind_label
    public_url = (settings.get("compte_citoyen.public_url") or "").rstrip("/")
    link = link or (public_url + "/" if public_url else "")
    city_name = settings.get("compte_citoyen.city_name", "")
    paras = paragraphs(*body)
    values = {
        "kind": kind,
        "kind_label": kind_label,
        "subject": subject,
        "paragraphs": paras,
        "body_text": "\n\n".join("\n".join(lines) for lines in paras),
        "request_number": request_number,
        "request_line": t(_("Request number: ${number}"), number=request_number) if request_number else "",
        "link": link,
        "follow_line": t(_("Follow your requests on My Citizen Account:")) if link else "",
        "greeting": t(_("Hello,")),
        "city_name": city_name,
        "signature": t(_("${city} — My Citizen Account"), city=city_name) if city_name else t(_("My Citizen Account")),
        "no_reply": translate(NO_REPLY),
    }
    text = _template("mail.txt")(translate=translate, **values)
    html = _template("mail.pt")(translate=translate, **values)
    prefix = f"{city_name} : " if city_name else ""
    suffix = " " + values["no_reply"]
    room = SMS_MAX - len(prefix) - len(sms_subject) - len(suffix) - len(values["request_line"]) - 6
    sms = _template("sms.txt")(translate=translate, prefix=prefix, subject=sms_subject,
                               body=shorten(" ".join(" ".join(lines) for lines in paras), max(room, 40)),
                               request_line=values["request_line"], no_reply=values["no_reply"])
    return RenderedMessage(subject, _tidy(text), _str(html), " ".join(_str(sms).split()))


def _str(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _tidy(text) -> str:
    """Collapse the blank lines a text template leaves around its conditions."""
    text = _str(text)
    lines, blank = [], False
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if not blank and lines:
                lines.append("")
            blank = True
            continue
        lines.append(line.rstrip())
        blank = False
    return "\n".join(lines).strip() + "\n"
