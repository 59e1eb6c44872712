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
    """The 4-square progress bar macro (``household/templates/progress.pt``), for plugins' templates.

    Use: ``<tal:p define="step 2; step_title 'En cours'"><metal:m use-macro="request.progress_macro"/></tal:p>``.
    It renders ``request.progress_bar(step, step_title)``, which lists call directly (cheaper than a macro).
    """
    from pyramid.renderers import get_renderer
    return get_renderer("compte_citoyen.household:templates/progress.pt").implementation().macros["progress"]


_PROGRESS_BARS: dict = {}  # (language, filled squares, step title) -> HTML


def progress_bar(request, step, step_title) -> str:
    """The 4-square progress bar of a request (all filled = fully processed) with its text equivalent, as HTML:
    ``${structure: request.progress_bar(req.step, req.step_title)}``.

    Lists show one per request: rendered once per step, title and language and reused (the macro it replaces,
    ``progress_macro``, cost a fifth of the "Accueil" page).
    """
    filled = max(0, min(4, int(step or 0)))
    key = (getattr(request, "locale_name", None), filled, step_title)
    html = _PROGRESS_BARS.get(key)
    if html is None:
        from html import escape

        from ..i18n import _
        text = request.localizer.translate(_("step ${step} of 4: ${title}",
                                             mapping={"step": filled, "title": step_title}))
        squares = "".join('<span class="progress__square%s"></span>' % (" progress__square--filled" if n <= filled
                                                                         else "") for n in range(1, 5))
        html = (f'<span class="progress-bar"><span class="progress" aria-hidden="true">{squares}</span> '
                f'<span class="progress__text">{escape(text)}</span></span>')
        if len(_PROGRESS_BARS) < 1000:
            _PROGRESS_BARS[key] = html
    return html


def includeme(config):
    config.add_evolve_step("core:0003-households", create_households_folder)
    config.add_evolve_step("core:0031-household-closure-requests", create_closure_index)
    config.add_translation_dirs("compte_citoyen.household:locale/")
    config.add_request_method(progress_macro, "progress_macro", reify=True)
    config.add_request_method(progress_bar, "progress_bar")
