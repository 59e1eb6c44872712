"""Citizen accounts: creation with cryptogramme, login, lost password, sessions."""


def create_accounts_folder(portal, registry):
    """Create the citizen accounts folder."""
    from .models import AccountFolder
    portal.ensure_folder("accounts", AccountFolder)


def create_security_stores(portal, registry):
    """Create the cryptogramme challenges store and the login failure counters."""
    from .captcha import create_captcha_store
    from .throttle import create_throttle_store
    create_captcha_store(portal, registry)
    create_throttle_store(portal, registry)


def count_pending_accounts(portal, registry):
    """Add the counter of accounts waiting for validation (the back office's queue and dashboard)."""
    create_accounts_folder(portal, registry)
    portal["accounts"].count_pending()


def includeme(config):
    config.add_evolve_step("core:0002-accounts", create_accounts_folder)
    config.add_evolve_step("core:0021-captchas-throttle", create_security_stores)
    config.add_evolve_step("core:0074-accounts-pending-count", count_pending_accounts)
    config.add_translation_dirs("compte_citoyen.authentication:locale/")
