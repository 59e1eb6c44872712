"""The registry of procedure themes, fed by plugins through ``compte_citoyen_register_themes``."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from pyramid.exceptions import ConfigurationError

# The 4 steps citizens see (progress squares); every workflow status maps onto one of them.
STEP_RECEIVED = 1
STEP_IN_PROGRESS = 2
STEP_DECIDED = 3
STEP_DONE = 4
STEPS = {
    STEP_RECEIVED: "Received",
    STEP_IN_PROGRESS: "Being processed",
    STEP_DECIDED: "Decision taken",
    STEP_DONE: "Completed",
}

ADULTS = "adults"
CHILDREN = "children"
ANY_MEMBER = "any"
NO_MEMBER = "none"


@dataclass(frozen=True)
class Document:
    """A supporting document a procedure asks for."""
    code: str
    title: str
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class Status:
    """A workflow status and the citizen-visible step (1 to 4) it maps onto."""
    code: str
    title: str
    step: int


DEFAULT_WORKFLOW = (
    Status("received", "Received", STEP_RECEIVED),
    Status("in_progress", "Being processed", STEP_IN_PROGRESS),
    Status("waiting_documents", "Waiting for documents at the counter", STEP_IN_PROGRESS),
    Status("accepted", "Accepted", STEP_DECIDED),
    Status("refused", "Refused", STEP_DECIDED),
    Status("done", "Completed", STEP_DONE),
)


@dataclass
class Procedure:
    """A procedure a citizen (or an anonymous visitor) can submit."""
    code: str
    title: str
    steps: list[tuple[str, Callable]]  # (step title, colander schema factory(request) -> SchemaNode)
    description: str = ""
    documents: list[Document] = field(default_factory=list)
    account_required: bool = True
    captcha: bool = False
    service: str = ""
    member_kinds: str = ANY_MEMBER
    workflow: tuple[Status, ...] = DEFAULT_WORKFLOW
    on_submitted: Callable | None = None   # f(request, submission) after a submission is stored
    on_status: Callable | None = None      # f(request, submission, old_status, new_status)
    theme_code: str = ""
    plugin: str = ""

    def status(self, code: str) -> Status:
        for status in self.workflow:
            if status.code == code:
                return status
        raise KeyError(code)


@dataclass
class Theme:
    code: str
    title: str
    procedures: list[Procedure]
    description: str = ""
    plugin: str = ""


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
            procedure.theme_code = theme.code
            procedure.plugin = plugin
            self.procedures[procedure.code] = procedure
            if target is not theme:
                target.procedures.append(procedure)

    def public_procedures(self) -> list[Procedure]:
        return [p for p in self.procedures.values() if not p.account_required]

    def get(self, code: str) -> Procedure | None:
        return self.procedures.get(code)


def build_registry(pm, settings) -> ProcedureRegistry:
    registry = ProcedureRegistry()
    for impl in reversed(pm.hook.compte_citoyen_register_themes.get_hookimpls()):
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
