"""The Ville régie: invoices of the school, after-school and early-childhood services.

Settings (prefix ``compte_citoyen_regie_ville.``): ``payment.backend`` (an eopayment backend; without it, outside
production, payments go through the portal's local simulator) and ``payment.<option>`` for the backend's
options (``env:NAME`` reads a secret from the environment); ``basket.max_invoices``, ``basket.min_amount`` and
``basket.max_amount`` (cents), ``basket.lifetime_minutes``; ``code`` and ``label`` to rename the régie.
"""
from compte_citoyen.billing.regie import BasketRules, regie_from_settings
from compte_citoyen.i18n import _
from compte_citoyen.plugins import hookimpl

PREFIX = "compte_citoyen_regie_ville"
CODE = "ville"
DOMAINS = ["scolaire", "periscolaire", "petite_enfance"]
RULES = BasketRules(max_invoices=10, min_amount=100, max_amount=300_000, lifetime_minutes=30)


@hookimpl
def compte_citoyen_register_regies(settings):
    """The Ville régie, with its payment provider read from this plugin's settings."""
    return [regie_from_settings(settings, PREFIX, CODE, _("City régie (school, after-school, early childhood)"),
                                DOMAINS, RULES)]


@hookimpl
def compte_citoyen_configure(config):
    config.add_translation_dirs("compte_citoyen_regie_ville:locale/")
