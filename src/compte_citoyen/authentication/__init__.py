"""Citizen accounts: creation with cryptogramme, login, lost password, sessions."""


def create_accounts_folder(portal, registry):
    """Create the citizen accounts folder."""
    from .models import AccountFolder
    portal.ensure_folder("accounts", AccountFolder)


def includeme(config):
    config.add_evolve_step("core:0002-accounts", create_accounts_folder)
