"""The hooks a Compte Citoyen plugin may implement (pluggy project name ``compte_citoyen``).

A plugin is a module (or object) whose functions carry ``@hookimpl`` and bear these names. It is found through
the setuptools entry-point group ``compte_citoyen`` and activated only when its entry-point name is listed in the
ini setting ``compte_citoyen.plugins``. The core registers its own defaults as plugins too (see
``compte_citoyen.plugins.CORE_PLUGINS``), so every hook below is used from the core itself.

Every hook is documented in ``docs/plugins.md`` and exercised by the test plugin in
``tests/plugins/compte_citoyen_test_plugin``.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("compte_citoyen")


@hookspec
def compte_citoyen_configure(config):
    """Let the plugin extend the Pyramid application.

    Called once, at start-up, after the core is configured and before the WSGI app is made.

    :param config: the ``pyramid.config.Configurator`` of the application. A plugin adds its routes and views
        (``config.add_route``, ``config.add_view``, ``config.scan``), its templates and static assets, its
        translation directories and its evolve steps (``config.add_evolve_step(name, func)``: ``func(portal,
        registry)`` runs once per database, in its own upgrade, so a plugin's persistent objects migrate).
        Settings are read from ``config.get_settings()`` under the plugin's own prefix.
    :returns: nothing.
    """


@hookspec
def compte_citoyen_register_themes(settings):
    """Declare procedure themes and their procedures.

    :param settings: the application settings (a dict); read your own options under your plugin's prefix.
    :returns: a list of ``compte_citoyen.procedures.registry.Theme`` objects. A theme has a ``code``, a ``title``,
        a ``description`` and ``procedures``: a list of ``Procedure`` descriptors, each with its ``code`` (unique in
        the portal), ``title``, ``description``, ``steps`` (a list of ``(title, colander schema factory)``; one or
        several steps of a guided form), ``documents`` (``Document(code, title, required)``),
        ``account_required``, ``captcha``, ``service`` (the code of the service that handles it), ``member_kinds``
        (which household members it may concern: adults, children or both), ``workflow`` (statuses and the
        4-step progress each maps onto), and optional callbacks ``on_submitted`` / ``on_status`` to schedule
        reminders. Two plugins declaring the same procedure code is a configuration error naming both.
    """


@hookspec
def compte_citoyen_register_regies(settings):
    """Declare billing authorities (régies).

    :param settings: the application settings; the régie's payment provider and its options are read from the
        plugin's own prefix (for example ``compte_citoyen_regie_ville.payment.backend = dummy``).
    :returns: a list of ``compte_citoyen.billing.regie.Regie`` objects: ``code``, ``label``, ``domains`` billed
        (e.g. scolaire, périscolaire, petite enfance), ``basket_rules`` (``BasketRules``: most invoices per
        payment, minimum and maximum amount in cents, basket lifetime), and ``payment`` (the eopayment backend
        name and its options). Two régies with the same code are a configuration error.
    """


@hookspec
def compte_citoyen_register_channels(settings):
    """Declare notification channels (the core's e-mail channel is declared through this hook too).

    :param settings: the application settings; a gateway reads its URL, credentials and sender from its own
        prefix.
    :returns: a list of ``compte_citoyen.notification.channels.Channel`` objects, each with a ``name`` (``email``,
        ``sms``...) and a ``send(message, registry)`` method that delivers one message or raises
        ``DeliveryError`` (``permanent=True`` when retrying is pointless). The active channel for SMS is chosen by
        ``compte_citoyen.sms_channel``.
    """


@hookspec
def compte_citoyen_register_invoice_sources(settings):
    """Declare invoice sources: systems that deliver invoices for a régie (a billing software export, say).

    :param settings: the application settings.
    :returns: a list of ``compte_citoyen.billing.sources.InvoiceSource`` objects, each with a ``name``, the
        ``regie`` code it feeds and a ``fetch(registry, since)`` method returning an iterable of
        ``InvoiceData`` records; ``compte-citoyen INI import-invoices --source NAME`` imports them with the same
        checks as a CSV file.
    """


@hookspec
def compte_citoyen_demo_data(portal, registry):
    """Add demonstration data to a new database (``compte-citoyen INI init --demo``).

    :param portal: the portal root, inside the command's transaction.
    :param registry: the application registry.
    :returns: a list of human-readable lines (logins, what was created) printed by the command, or None.
    """
