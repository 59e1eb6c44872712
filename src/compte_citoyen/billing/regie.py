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
    for impl in pm.hook.compte_citoyen_register_regies.get_hookimpls():  # ini order
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


# --- reading a régie from the ini file ------------------------------------------------------------------

#: ``<prefix>.payment.service_url = simulator``: the local simulated provider of development and tests.
SIMULATOR = "simulator"
SIMULATOR_BACKEND = "systempayv2"
SIMULATOR_SITE_ID = "12345678"

#: Backend options that select a provider's test mode, with their test values (compared case-insensitively);
#: production refuses them, and the backend's own default counts when the option is not set.
TEST_MODE_OPTIONS = {"ctx_mode": {"test"}, "platform": {"test"}, "saisie": {"t", "x"}, "environment": {"test"}}
TEST_BACKENDS = {"dummy"}


def simulator_secret(settings: dict, code: str) -> str:
    """The test secret the simulator and the portal share for a régie (derived from the portal secret, so
    nobody outside the server knows it, and alphanumeric as SystemPay requires)."""
    import hashlib
    import hmac
    key = (settings.get("compte_citoyen.secret") or "").encode("utf-8")
    return hmac.new(key, f"payment-simulator:{code}".encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def _setting(settings: dict, key: str, default=None):
    from ..settings import _env_or_setting
    value = _env_or_setting(settings, key) if key in settings else None
    return value if value not in (None, "") else default


def regie_from_settings(settings: dict, prefix: str, code: str, label: str, domains: list[str],
                        rules: BasketRules | None = None) -> Regie:
    """Build a régie from its plugin's ini prefix; what a plugin's ``compte_citoyen_register_regies`` returns.

    Reads ``<prefix>.code``, ``<prefix>.label``, ``<prefix>.basket.max_invoices``, ``.basket.min_amount`` and
    ``.basket.max_amount`` (cents), ``.basket.lifetime_minutes``, ``<prefix>.payment.backend`` (an eopayment
    backend name) and every other ``<prefix>.payment.<option>`` as a backend option (``env:NAME`` reads the
    environment). Without a backend outside production, the régie pays through the local simulator.
    """
    code = _setting(settings, f"{prefix}.code", code)
    label = _setting(settings, f"{prefix}.label", label)
    rules = rules or BasketRules()
    rules = BasketRules(
        max_invoices=int(_setting(settings, f"{prefix}.basket.max_invoices", rules.max_invoices)),
        min_amount=int(_setting(settings, f"{prefix}.basket.min_amount", rules.min_amount)),
        max_amount=int(_setting(settings, f"{prefix}.basket.max_amount", rules.max_amount)),
        lifetime_minutes=int(_setting(settings, f"{prefix}.basket.lifetime_minutes", rules.lifetime_minutes)),
    )
    backend = _setting(settings, f"{prefix}.payment.backend")
    options: dict = {}
    payment_prefix = f"{prefix}.payment."
    for key in settings:
        if key.startswith(payment_prefix) and key != f"{prefix}.payment.backend":
            options[key[len(payment_prefix):]] = _setting(settings, key, "")
    if backend is None and not settings.get("compte_citoyen.production"):
        backend = SIMULATOR_BACKEND
        options.setdefault("service_url", SIMULATOR)
    if backend == SIMULATOR_BACKEND and options.get("service_url") == SIMULATOR:
        options.setdefault("site_id", SIMULATOR_SITE_ID)
        options.setdefault("ctx_mode", "TEST")
        options.setdefault("secret_test", simulator_secret(settings, code))
    return Regie(code=code, label=label, domains=list(domains), basket_rules=rules,
                 payment_backend=backend or "", payment_options=options)


def uses_simulator(regie: Regie) -> bool:
    return regie.payment_backend == SIMULATOR_BACKEND and regie.payment_options.get("service_url") == SIMULATOR


def check_regie(regie: Regie, settings: dict) -> None:
    """Refuse, at start-up, a régie whose payment settings are unsafe or unknown for the environment."""
    import eopayment
    if not regie.payment_backend:
        raise ConfigurationError(
            f"régie {regie.code!r}: no payment backend; set {regie.plugin or 'the plugin'}.payment.backend "
            f"(an eopayment backend such as payfip_ws, systempayv2, sips2, paybox)")
    try:
        backend_class = eopayment.get_backend(regie.payment_backend)
    except ImportError:
        raise ConfigurationError(
            f"régie {regie.code!r}: unknown payment backend {regie.payment_backend!r}") from None
    rules = regie.basket_rules
    if rules.max_invoices < 1 or rules.min_amount < 0 or rules.max_amount < rules.min_amount \
            or rules.lifetime_minutes < 1:
        raise ConfigurationError(f"régie {regie.code!r}: inconsistent basket rules {rules}")
    if not settings.get("compte_citoyen.production"):
        return
    if regie.payment_backend in TEST_BACKENDS:
        raise ConfigurationError(
            f"régie {regie.code!r}: the {regie.payment_backend!r} payment backend is for development only and "
            f"is refused in production")
    if uses_simulator(regie):
        raise ConfigurationError(
            f"régie {regie.code!r}: the local payment simulator is refused in production; set the bank's "
            f"service_url (or remove the option)")
    defaults = {p["name"]: p.get("default") for p in backend_class.description.get("parameters", [])}
    for name, test_values in TEST_MODE_OPTIONS.items():
        names = (name, f"vads_{name}")  # SystemPay spells its options with or without the vads_ prefix
        if not any(n in defaults or n in regie.payment_options for n in names):
            continue
        value = next((regie.payment_options[n] for n in names if regie.payment_options.get(n)), None) \
            or next((defaults[n] for n in names if defaults.get(n)), "")
        if str(value).lower() in test_values:
            raise ConfigurationError(
                f"régie {regie.code!r}: payment option {name} = {value!r} is a test mode, refused in production")
