"""A plugin implementing every hook of Compte Citoyen with small, real behaviour (for the test suite).

Entry point ``test_plugin`` in the group ``compte_citoyen``; settings under ``compte_citoyen_test_plugin.``.
What each hook does, so a test can see its effect:

- ``compte_citoyen_configure``: a public page at ``/extension-de-test/bonjour`` (route ``test_plugin_hello``,
  template ``templates/hello.pt``) and the evolve step ``test_plugin:0001-notes`` creating the ``test_plugin_notes``
  folder of ``Note`` objects (``uninstall(portal)`` removes it again).
- ``compte_citoyen_register_themes``: the theme ``test_theme`` with the procedure ``test_procedure``.
- ``compte_citoyen_register_regies``: the régie ``test_regie``.
- ``compte_citoyen_register_channels``: the channel ``test_channel``, which records what it sends in ``SENT``.
- ``compte_citoyen_register_invoice_sources``: the source ``test_source`` yielding two invoices of ``test_regie``
  for the account ``compte_citoyen_test_plugin.source_account`` (default ``jdupont``).
- ``compte_citoyen_demo_data``: one demonstration note, and the lines printed by ``init --demo``.
"""
from __future__ import annotations

import datetime

import colander
from persistent import Persistent
from pyramid.security import NO_PERMISSION_REQUIRED

from compte_citoyen.billing.regie import BasketRules, Regie
from compte_citoyen.billing.sources import InvoiceData, InvoiceLineData, InvoiceSource
from compte_citoyen.household.workdays import local_today
from compte_citoyen.notification.channels import Channel, DeliveryError
from compte_citoyen.plugins import hookimpl
from compte_citoyen.procedures.registry import (
    ANY_MEMBER, STEP_DECIDED, STEP_DONE, STEP_IN_PROGRESS, STEP_RECEIVED, Document, Procedure, Status, Theme,
)
from compte_citoyen.resources import Folder

PREFIX = "compte_citoyen_test_plugin."
NOTES = "test_plugin_notes"
EVOLVE_STEP = "test_plugin:0001-notes"
DEFAULT_GREETING = "Bonjour de l'extension de test"

#: What the recording channel sent: (recipient, subject, text), in order.
SENT: list[tuple[str, str, str]] = []


# --- persistent objects owned by the plugin (created by an evolve step, removed by ``uninstall``) -------

class Note(Persistent):
    """A tiny persistent class of the plugin: the reason it needs an evolve step and an uninstall path."""

    pinned = False  # an attribute added after the first release gets a class-level default

    def __init__(self, text: str):
        self.text = text
        self.created = datetime.datetime.now(datetime.timezone.utc)


def create_notes(portal, registry) -> None:
    """Create the folder of the test plugin's notes."""
    portal.ensure_folder(NOTES, Folder)


def uninstall(portal) -> int:
    """Remove every object of the plugin from the database (run before uninstalling the distribution).

    Returns how many notes were removed. The evolve step's record is dropped too, so re-installing the
    plugin creates the folder again.
    """
    removed = 0
    if NOTES in portal:
        removed = len(portal[NOTES])
        portal.remove(NOTES)
    portal.evolved.pop(EVOLVE_STEP, None)
    return removed


# --- compte_citoyen_configure: a route, a view, a template and an evolve step ---------------------------

def hello(request) -> dict:
    """A public page showing the plugin's greeting (a setting) and how many notes are stored."""
    notes = request.app_root.get(NOTES)
    return {
        "page_title": "Extension de test",
        "greeting": request.registry.settings[PREFIX + "greeting"],
        "note_count": len(notes) if notes is not None else 0,
    }


@hookimpl
def compte_citoyen_configure(config):
    settings = config.get_settings()
    settings.setdefault(PREFIX + "greeting", DEFAULT_GREETING)
    config.add_route("test_plugin_hello", "/extension-de-test/bonjour")
    config.add_view(hello, route_name="test_plugin_hello", permission=NO_PERMISSION_REQUIRED,
                    renderer="compte_citoyen_test_plugin:templates/hello.pt")
    config.add_evolve_step(EVOLVE_STEP, create_notes)


# --- compte_citoyen_register_themes: one theme, one procedure --------------------------------------------

class RequestSchema(colander.Schema):
    subject = colander.SchemaNode(colander.String(), title="Objet de la demande",
                                  validator=colander.Length(min=3, max=200))
    wanted_on = colander.SchemaNode(colander.Date(), title="Date souhaitée")


def request_schema(request=None) -> colander.SchemaNode:
    return RequestSchema(name="test_request")


WORKFLOW = (
    Status("received", "Received", STEP_RECEIVED),
    Status("checking", "Being checked", STEP_IN_PROGRESS),
    Status("granted", "Granted", STEP_DECIDED),
    Status("refused", "Refused", STEP_DECIDED),
    Status("closed", "Closed", STEP_DONE),
)


@hookimpl
def compte_citoyen_register_themes(settings):
    procedure = Procedure(
        code="test_procedure",
        title="Démarche de test",
        description="Une démarche qui n'existe que pour les tests.",
        steps=[("Votre demande", request_schema)],
        documents=[Document("proof", "Justificatif", required=False)],
        account_required=True,
        captcha=False,
        service="test_service",
        member_kinds=ANY_MEMBER,
        workflow=WORKFLOW,
    )
    return [Theme("test_theme", "Thème de test", [procedure], description="Démarches de test")]


# --- compte_citoyen_register_regies ----------------------------------------------------------------------

@hookimpl
def compte_citoyen_register_regies(settings):
    return [Regie(
        code="test_regie",
        label="Régie de test",
        domains=["test"],
        basket_rules=BasketRules(max_invoices=3, min_amount=100, max_amount=50_000, lifetime_minutes=15),
        payment_backend=settings.get(PREFIX + "payment.backend", "dummy"),
        payment_options={"origin": "test_plugin"},
    )]


# --- compte_citoyen_register_channels: a channel that records what it sends -------------------------------

class RecordingChannel(Channel):
    """Records each message instead of delivering it; ``compte_citoyen_test_plugin.channel_down = true``
    makes it fail like a gateway outage (a temporary ``DeliveryError``)."""

    name = "test_channel"

    def __init__(self, down: bool = False):
        self.down = down

    def send(self, message, registry) -> None:
        recipient = getattr(message, "phone", None) or getattr(message, "email", None)
        if not recipient:
            raise DeliveryError("no recipient", permanent=True)
        if self.down:
            raise DeliveryError("test channel is down")
        SENT.append((recipient, message.subject, getattr(message, "sms_text", None) or message.text))


@hookimpl
def compte_citoyen_register_channels(settings):
    down = str(settings.get(PREFIX + "channel_down", "false")).lower() in ("true", "1", "yes", "on")
    return [RecordingChannel(down=down)]


# --- compte_citoyen_register_invoice_sources: a source yielding records -----------------------------------

#: (number, label, amount in cents, days before today it was issued), for the household whose account has the
#: code d'accès ``compte_citoyen_test_plugin.source_account`` (default ``jdupont``).
INVOICES = [
    ("T-0001", "Cantine du mois", 4250, 10),
    ("T-0002", "Garderie du mois", 1800, 9),
]


def fetch_invoices(registry, since=None):
    """The source's ``fetch``: the invoices issued after ``since`` (a datetime, or None for all)."""
    account = registry.settings.get(PREFIX + "source_account", "jdupont")
    today = local_today()
    for number, label, amount, days_ago in INVOICES:
        issued = today - datetime.timedelta(days=days_ago)
        if since is not None and issued <= _as_date(since):
            continue
        yield InvoiceData(number=number, issue_date=issued, due_date=issued + datetime.timedelta(days=30),
                          lines=[InvoiceLineData(label, amount)], account=account, label=label)


def _as_date(value) -> datetime.date:
    return value.date() if isinstance(value, datetime.datetime) else value


@hookimpl
def compte_citoyen_register_invoice_sources(settings):
    return [InvoiceSource(name="test_source", regie="test_regie", fetch=fetch_invoices,
                          description="Factures de test")]


# --- compte_citoyen_demo_data ----------------------------------------------------------------------------

@hookimpl
def compte_citoyen_demo_data(portal, registry):
    portal[NOTES].add("demo", Note("Note de démonstration"))
    return ["test_plugin: 1 demonstration note in test_plugin_notes"]
