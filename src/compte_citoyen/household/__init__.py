"""Households, members, profile, communication preference and account validation."""


def create_households_folder(portal, registry):
    """Create the households folder."""
    from .models import HouseholdFolder
    portal.ensure_folder("households", HouseholdFolder)


def includeme(config):
    config.add_evolve_step("core:0003-households", create_households_folder)
