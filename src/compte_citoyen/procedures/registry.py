"""The registry of procedure themes, fed by plugins through ``compte_citoyen_register_themes``.

A plugin returns ``Theme`` objects holding ``Procedure`` descriptors; the registry is built once per
application (``get_registry(registry)``) and never stored in the database: a submission keeps the codes and
the titles it was filed under, so removing a plugin does not break the requests already filed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from pyramid.exceptions import ConfigurationError

from ..i18n import _

# The 4 steps citizens see (progress squares); every workflow status maps onto one of them.
STEP_RECEIVED = 1
STEP_IN_PROGRESS = 2
STEP_DECIDED = 3
STEP_DONE = 4
STEPS = {
    STEP_RECEIVED: _("Received"),
    STEP_IN_PROGRESS: _("Being processed"),
    STEP_DECIDED: _("Decision taken"),
    STEP_DONE: _("Completed"),
}
STEP_COUNT = len(STEPS)

ADULTS = "adults"
CHILDREN = "children"
ANY_MEMBER = "any"
NO_MEMBER = "none"

# decisions recorded by the back office
ACCEPTED = "accepted"
REFUSED = "refused"


@dataclass(frozen=True)
class Document:
    """A supporting document a procedure asks for (uploaded, or brought to the counter later)."""
    code: str
    title: str
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class Status:
    """A workflow status and the citizen-visible step (1 to 4) it maps onto.

    ``decision`` marks the statuses a decision leads to (``accepted`` or ``refused``): the back office's
    decision form moves the request to the first status of the workflow with that decision.
    """
    code: str
    title: str
    step: int
    decision: str = ""


DEFAULT_WORKFLOW = (
    Status("received", _("Received"), STEP_RECEIVED),
    Status("in_progress", _("Being processed"), STEP_IN_PROGRESS),
    Status("waiting_documents", _("Waiting for documents at the counter"), STEP_IN_PROGRESS),
    Status("accepted", _("Request accepted"), STEP_DECIDED, decision=ACCEPTED),
    Status("refused", _("Request refused"), STEP_DECIDED, decision=REFUSED),
    Status("done", _("Completed"), STEP_DONE),
)


@dataclass
class Procedure:
    """A procedure a citizen (or an anonymous visitor) can submit.

    ``steps`` are the pages of the guided form: ``(title, factory)`` where ``factory(request)`` returns a flat
    colander mapping schema, a new one at each call (the wizard adds nodes to it and binds it in place, see
    ``forms.bind_fresh``: no node may be shared between calls). The schema is bound with ``request``,
    ``portal``, ``household``, ``account``, ``member`` (the household member chosen on the first page),
    ``procedure`` and ``today``, so deferred defaults pre-fill it from the account (see
    ``compte_citoyen.procedures.schemas``).

    ``requester(answers) -> {"name": ..., "email": ...}`` tells who filed an anonymous request (by default
    the ``email``, ``family_name`` and ``first_names`` answers). ``on_submitted(request, submission)`` and
    ``on_status(request, submission, old_status, new_status)`` run in the transaction that stores the change
    (to schedule a reminder, say). ``member_title`` is the label of the member choice ("Enfant concerné").
    """
    code: str
    title: str
    steps: list[tuple[str, Callable]]
    description: str = ""
    documents: list[Document] = field(default_factory=list)
    account_required: bool = True
    captcha: bool = False
    service: str = ""
    member_kinds: str = ANY_MEMBER
    workflow: tuple[Status, ...] = DEFAULT_WORKFLOW
    on_submitted: Callable | None = None   # f(request, submission) after a submission is stored
    on_status: Callable | None = None      # f(request, submission, old_status, new_status)
    requester: Callable | None = None      # f(answers) -> {"name": str, "email": str} (anonymous requests)
    member_title: str = ""
    theme_code: str = ""
    plugin: str = ""

    def status(self, code: str) -> Status:
        for status in self.workflow:
            if status.code == code:
                return status
        raise KeyError(code)

    @property
    def initial_status(self) -> Status:
        return self.workflow[0]

    def decision_status(self, decision: str) -> Status | None:
        """The status a decision (``accepted`` / ``refused``) moves the request to."""
        for status in self.workflow:
            if status.decision == decision:
                return status
        for status in self.workflow:  # workflows written without ``decision``: match by code
            if status.code == decision:
                return status
        return None

    @property
    def needs_member(self) -> bool:
        return self.member_kinds != NO_MEMBER


@dataclass
class Theme:
    code: str
    title: str
    procedures: list[Procedure]
    description: str = ""
    plugin: str = ""


def check_procedure(procedure: Procedure, plugin: str) -> None:
    """Refuse a descriptor that cannot work, naming the plugin (better at start-up than on a citizen's page)."""
    if not procedure.steps:
        raise ConfigurationError(f"procedure {procedure.code!r} of {plugin!r} has no form step")
    if not procedure.workflow:
        raise ConfigurationError(f"procedure {procedure.code!r} of {plugin!r} has no workflow status")
    for status in procedure.workflow:
        if status.step not in STEPS:
            raise ConfigurationError(
                f"status {status.code!r} of procedure {procedure.code!r} ({plugin!r}) maps onto step "
                f"{status.step!r}; steps are 1 to {STEP_COUNT}")
    codes = [d.code for d in procedure.documents]
    if len(set(codes)) != len(codes):
        raise ConfigurationError(f"procedure {procedure.code!r} of {plugin!r} lists a document code twice")
    if not procedure.account_required and procedure.member_kinds != NO_MEMBER:
        # without an account there is no household to choose a member from
        procedure.member_kinds = NO_MEMBER


class ProcedureRegistry:
    def __init__(self):
        self.themes: dict[str, Theme] = {}
        self.procedures: dict[str, Procedure] = {}

    def add_theme(self, theme: Theme, plugin: str) -> None:
        theme.plugin = plugin
        existing = self.themes.get(theme.code)
        if existing is not None:
            # two plugins may contribute procedures to one theme; titles come from the first
            target = existing
        else:
            target = self.themes[theme.code] = theme
        for procedure in theme.procedures:
            other = self.procedures.get(procedure.code)
            if other is not None:
                raise ConfigurationError(
                    f"procedure code {procedure.code!r} is declared by both {other.plugin!r} and {plugin!r}")
            check_procedure(procedure, plugin)
            procedure.theme_code = theme.code
            procedure.plugin = plugin
            self.procedures[procedure.code] = procedure
            if target is not theme:
                target.procedures.append(procedure)

    def public_procedures(self) -> list[Procedure]:
        return [p for p in self.procedures.values() if not p.account_required]

    def get(self, code: str) -> Procedure | None:
        return self.procedures.get(code)

    def theme(self, code: str) -> Theme | None:
        return self.themes.get(code)

    def services(self) -> list[str]:
        """Every service code handling at least one procedure, sorted."""
        return sorted({p.service for p in self.procedures.values() if p.service})

    def procedures_of_services(self, services) -> list[Procedure]:
        wanted = set(services)
        return [p for p in self.procedures.values() if p.service in wanted]


def build_registry(pm, settings) -> ProcedureRegistry:
    registry = ProcedureRegistry()
    for impl in pm.hook.compte_citoyen_register_themes.get_hookimpls():  # ini order
        plugin_name = pm.get_name(impl.plugin)
        for theme in impl.function(settings=settings) or []:
            registry.add_theme(theme, plugin_name)
    return registry


def get_registry(registry) -> ProcedureRegistry:
    procedures = getattr(registry, "compte_citoyen_procedures", None)
    if procedures is None:
        procedures = registry.compte_citoyen_procedures = build_registry(
            registry.compte_citoyen_plugins, registry.settings)
    return procedures
