"""Households, members, profile, communication preference and account validation."""


def create_households_folder(portal, registry):
    """Create the households folder."""
    from .models import HouseholdFolder
    portal.ensure_folder("households", HouseholdFolder)


def create_closure_index(portal, registry):
    """Add the index of account-closure requests to the households folder."""
    from BTrees.OOBTree import OOTreeSet
    folder = portal["households"]
    if getattr(folder, "closure_requests", None) is None:
        folder.closure_requests = OOTreeSet()


def progress_macro(request=None):
    """The 4-square progress bar macro (``household/templates/progress.pt``), for every list of requests.

    Use: ``<tal:p define="step 2; step_title 'En cours'"><metal:m use-macro="request.progress_macro"/></tal:p>``.
    """
    from pyramid.renderers import get_renderer
    return get_renderer("compte_citoyen.household:templates/progress.pt").implementation().macros["progress"]


def includeme(config):
    config.add_evolve_step("core:0003-households", create_households_folder)
    config.add_evolve_step("core:0031-household-closure-requests", create_closure_index)
    config.add_translation_dirs("compte_citoyen.household:locale/")
    config.add_request_method(progress_macro, "progress_macro", reify=True)
