"""Billing: régies from plugins, invoices, "Mes comptes", basket and card payment applied exactly once.

Régies come from plugins (hook ``compte_citoyen_register_regies``); their payment settings are checked at
start-up (production refuses eopayment's ``dummy`` backend, providers' test modes and the local simulator).
"""


def includeme(config):
    from .models import build_billing_indexes, create_billing_folders
    from .regie import check_regie, get_regies
    config.add_translation_dirs("compte_citoyen.billing:locale/")
    config.add_evolve_step("core:0070-billing", create_billing_folders)
    config.add_evolve_step("core:0071-billing-indexes", build_billing_indexes)
    settings = config.get_settings()
    for regie in get_regies(config.registry).values():
        check_regie(regie, settings)
