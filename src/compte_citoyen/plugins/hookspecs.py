"""The hooks a Compte Citoyen plugin may implement (pluggy project name ``compte_citoyen``).

A plugin is a module (or object) whose functions carry ``@hookimpl`` (``from compte_citoyen.plugins import
hookimpl``) and bear these names. It is found through the setuptools entry-point group ``compte_citoyen`` and
activated only when its entry-point name is listed in the ini setting ``compte_citoyen.plugins``. The core
registers its own defaults as plugins too (see ``compte_citoyen.plugins.CORE_PLUGINS``), before any external
plugin, so the hook API is used by the core itself.

pluggy passes arguments by name: an implementation may take fewer parameters than the spec (only those it
uses), never others. Hooks are called for every active plugin; ``register_*`` hooks each return a list, and
the core concatenates the lists. Every hook is documented in ``docs/plugins.md`` and exercised by the test
plugin in ``tests/plugins/compte_citoyen_test_plugin`` (``tests/functional/test_plugins.py`` checks both).
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("compte_citoyen")


@hookspec
def compte_citoyen_configure(config):
    """Let the plugin extend the Pyramid application: routes, views, templates, translations, evolve steps.

    Called once per process, at start-up, after the core and its domain packages are configured and before the
    WSGI application is made (so also before ``compte-citoyen INI COMMAND`` runs its command). The core's
    evolve steps are registered before any plugin's; do not rely on the order between two plugins.

    :param config: the ``pyramid.config.Configurator`` of the application. A plugin adds its routes and views
        (``config.add_route``, ``config.add_view`` or ``config.scan``; views are secure by default, so a public
        view says ``permission=NO_PERMISSION_REQUIRED``), its templates (asset specs
        ``my_plugin:templates/x.pt``, using the portal's ``layout`` macro) and static assets, its translation
        directory (``config.add_translation_dirs("my_plugin:locale/")``, domain ``compte_citoyen``) and its
        evolve steps (``config.add_evolve_step("my_plugin:0001-name", func)``: ``func(portal, registry)`` runs
        once per database, when the database is created or by ``compte-citoyen INI evolve``, so the plugin's
        persistent objects are created and migrated). Settings are read from ``config.get_settings()`` under
        the plugin's own prefix (its import name followed by a dot).
    :returns: nothing (the return value is ignored).
    """


@hookspec
def compte_citoyen_register_themes(settings):
    """Declare procedure themes and their procedures (the "Les Services" tab).

    Called once per process, the first time the procedure registry is needed
    (``compte_citoyen.procedures.registry.get_registry``); the result is kept for the life of the process.

    :param settings: the application settings (a dict); read your own options under your plugin's prefix.
    :returns: a list of ``compte_citoyen.procedures.registry.Theme`` objects. A theme has a ``code``, a ``title``,
        a ``description`` and ``procedures``: a list of ``Procedure`` descriptors, each with its ``code`` (unique in
        the portal), ``title``, ``description``, ``steps`` (a list of ``(title, schema factory)``, one per page of
        the guided form; ``factory(request)`` returns a flat colander mapping schema, bound with ``request``,
        ``portal``, ``household``, ``account``, ``member``, ``procedure`` and ``today``), ``documents``
        (``Document(code, title, required, description)``), ``account_required``, ``captcha``, ``service`` (the
        code of the service that handles it), ``member_kinds`` (which household members it may concern:
        ``adults``, ``children``, ``any`` or ``none``), ``workflow`` (a tuple of ``Status(code, title, step,
        decision)``, each mapped onto one of the 4 steps 1 to 4 citizens see; the first is the initial status),
        and optional callbacks ``on_submitted(request, submission)`` / ``on_status(request, submission, old, new)``
        run in the transaction of the change (to schedule reminders, say). Two plugins declaring the same
        procedure code is a configuration error naming both; two plugins may add procedures to one theme code.
    """


@hookspec
def compte_citoyen_register_regies(settings):
    """Declare billing authorities (régies).

    Called once per process, the first time the régies are needed (``compte_citoyen.billing.regie.get_regies``);
    the result is kept for the life of the process.

    :param settings: the application settings; the régie's payment provider and its options are read from the
        plugin's own prefix (for example ``compte_citoyen_regie_ville.payment.backend = payfip_ws``);
        ``compte_citoyen.billing.regie.regie_from_settings(settings, prefix, code, label, domains)`` does it.
    :returns: a list of ``compte_citoyen.billing.regie.Regie`` objects: ``code``, ``label``, ``domains`` billed
        (e.g. scolaire, périscolaire, petite enfance), ``basket_rules`` (``BasketRules(max_invoices, min_amount,
        max_amount, lifetime_minutes)``, amounts in cents), ``payment_backend`` (an eopayment backend name) and
        ``payment_options`` (that backend's options). Two régies with the same code are a configuration error
        naming both plugins.
    """


@hookspec
def compte_citoyen_register_channels(settings):
    """Declare notification channels (the core's e-mail channel is declared through this hook too).

    Called once per process, the first time a message is delivered (the outbox worker's
    ``compte_citoyen.notification.worker.get_channels``); the channels are kept for the life of the process.

    :param settings: the application settings; a gateway reads its URL, credentials and sender from its own
        prefix.
    :returns: a list of ``compte_citoyen.notification.channels.Channel`` objects, each with a ``name`` (``email``,
        ``sms``...) and a ``send(message, registry)`` method that delivers one message or raises
        ``DeliveryError(reason, permanent=False)`` (``permanent=True`` when retrying is pointless). ``message`` is
        a plain snapshot (``subject``, ``text``, ``html``, ``sms_text``, ``email``, ``phone``, ``kind``, ``id``...),
        sent outside any transaction, after the change that queued it has committed. SMS messages go to the
        channel named by ``compte_citoyen.sms_channel`` (default ``sms``).
    """


@hookspec
def compte_citoyen_register_invoice_sources(settings):
    """Declare invoice sources: systems that deliver invoices for a régie (a billing software export, say).

    Called when invoices are imported from a source (``compte-citoyen INI import-invoices --source NAME``).

    :param settings: the application settings; a source reads its URL, credentials or folder from its own
        prefix.
    :returns: a list of ``compte_citoyen.billing.sources.InvoiceSource`` objects, each with a ``name``, the
        ``regie`` code it feeds and a ``fetch(registry, since)`` method returning an iterable of
        ``InvoiceData`` records (``since``: the date of the last import, or None for everything);
        ``compte-citoyen INI import-invoices --source NAME`` imports them with the same checks as a CSV file.
    """


@hookspec
def compte_citoyen_demo_data(portal, registry):
    """Add demonstration data to a new database (``compte-citoyen INI init --demo``, run by ``make run``).

    Called once per database, inside the command's transaction, after the portal root exists and every evolve
    step ran (so the plugin's folders exist); not called again once the demonstration data is recorded.

    :param portal: the portal root (``compte_citoyen.resources.Portal``), inside the command's transaction.
    :param registry: the application registry (settings, the plugin manager, the procedure registry...).
    :returns: a list of human-readable lines (logins, what was created) printed by the command, or None.
    """
