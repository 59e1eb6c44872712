"""Régies (billing authorities), declared by plugins through ``compte_citoyen_register_regies``."""
from __future__ import annotations

from dataclasses import dataclass, field

from pyramid.exceptions import ConfigurationError


@dataclass(frozen=True)
class BasketRules:
    max_invoices: int = 10
    min_amount: int = 100          # cents
    max_amount: int = 1_000_000    # cents
    lifetime_minutes: int = 30


@dataclass
class Regie:
    code: str
    label: str
    domains: list[str]
    basket_rules: BasketRules = field(default_factory=BasketRules)
    payment_backend: str = "dummy"
    payment_options: dict = field(default_factory=dict)
    plugin: str = ""


def build_regies(pm, settings) -> dict[str, Regie]:
    regies: dict[str, Regie] = {}
    for impl in reversed(pm.hook.compte_citoyen_register_regies.get_hookimpls()):
        plugin_name = pm.get_name(impl.plugin)
        for regie in impl.function(settings=settings) or []:
            if regie.code in regies:
                raise ConfigurationError(
                    f"régie code {regie.code!r} is declared by both {regies[regie.code].plugin!r} and {plugin_name!r}")
            regie.plugin = plugin_name
            regies[regie.code] = regie
    return regies


def get_regies(registry) -> dict[str, Regie]:
    regies = getattr(registry, "compte_citoyen_regies", None)
    if regies is None:
        regies = registry.compte_citoyen_regies = build_regies(registry.compte_citoyen_plugins, registry.settings)
    return regies
