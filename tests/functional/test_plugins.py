"""The plugin system: discovery through entry points, activation from the ini, every hook documented,
implemented by the test plugin and exercised here, core defaults registered as plugins, and the
``compte-citoyen INI plugins`` listing.

The test plugin is ``tests/plugins/compte_citoyen_test_plugin`` (entry point ``test_plugin``), installed in the
venv like any plugin (``make install``) and inactive unless a test lists it in ``compte_citoyen.plugins``.
"""
from __future__ import annotations

import datetime
import inspect
import re
from pathlib import Path

import pytest

import compte_citoyen_test_plugin as test_plugin
from compte_citoyen import cli
from compte_citoyen.plugins import CORE_PLUGINS, ENTRY_POINT_GROUP, discover, hooks_of, hookspecs
from compte_citoyen.resources import Folder
from compte_citoyen.testing import activate_plugin, base_settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugins.md"
PLUGIN = "test_plugin"
HOOKS = sorted(name for name, func in vars(hookspecs).items()
               if name.startswith("compte_citoyen_") and inspect.isfunction(func))
EVOLVE_STEP = "test_plugin:0001-notes"

#: hook name -> the tests of this module that exercise it (filled by ``@exercises``; checked to cover all)
EXERCISED: dict[str, list[str]] = {}


def exercises(*hooks: str):
    def mark(func):
        for hook in hooks:
            assert hook in HOOKS, f"{hook} is not a hookspec"
            EXERCISED.setdefault(hook, []).append(func.__qualname__)
        return func
    return mark


# --- helpers: a temporary ini file and the command line, in-process --------------------------------------

def write_ini(directory: Path, *, active: bool, **overrides) -> str:
    """An ini file for the command line, on its own database in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    settings = base_settings(directory, **overrides)
    if active:
        activate_plugin(settings, PLUGIN)
    body = "\n".join(f"{key} = {value}".replace("\n", "\n    ") for key, value in settings.items())
    path = directory / "test.ini"
    path.write_text("[app:main]\nuse = egg:compte_citoyen\n" + body + "\n", encoding="utf-8")
    return str(path)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def inspect_db(ini: str, func):
    """Run ``func(portal)`` against the database of ``ini`` (in a transaction that commits) and return its result."""
    env = cli.load_env(ini)
    try:
        with env.transaction() as (tm, portal):
            return func(portal)
    finally:
        env.closer()
        for db in getattr(env.registry, "_zodb_databases", {}).values():
            db.close()


def section(markdown: str, hook: str) -> str:
    """The text of the docs section whose heading names ``hook``, up to the next heading of the same level."""
    match = re.search(rf"^(#+) [^\n]*`{hook}[`(][^\n]*$", markdown, re.MULTILINE)
    assert match, f"docs/plugins.md has no section headed with `{hook}`"
    level = len(match.group(1))
    rest = markdown[match.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


# --- every hook: documented, implemented, exercised ------------------------------------------------------

def test_hookspecs_exist():
    assert set(HOOKS) >= {"compte_citoyen_configure", "compte_citoyen_register_themes",
                          "compte_citoyen_register_regies", "compte_citoyen_register_channels",
                          "compte_citoyen_register_invoice_sources", "compte_citoyen_demo_data"}


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_documented_in_docstring_and_docs(hook):
    func = getattr(hookspecs, hook)
    doc = inspect.getdoc(func) or ""
    params = list(inspect.signature(func).parameters)
    for param in params:
        assert f":param {param}:" in doc, f"{hook}: parameter {param} is not described in the docstring"
    assert ":returns:" in doc, f"{hook}: the docstring does not say what is returned"
    text = section(DOCS.read_text(encoding="utf-8"), hook)
    for param in params:
        assert f"`{param}`" in text, f"docs/plugins.md, {hook}: parameter {param} is not described"
    assert re.search(r"\*\*Returns?\*\*|Returns?:", text), f"docs/plugins.md, {hook}: no Returns"
    assert re.search(r"\*\*Called\*\*|Called:", text), f"docs/plugins.md, {hook}: does not say when it is called"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_implemented_by_the_test_plugin(hook):
    impl = getattr(test_plugin, hook, None)
    assert impl is not None, f"the test plugin does not implement {hook}"
    assert getattr(impl, "compte_citoyen_impl", None) is not None, f"{hook} lacks @hookimpl"
    # pluggy passes arguments by name: the implementation takes a subset of the spec's parameters
    assert set(inspect.signature(impl).parameters) <= set(inspect.signature(getattr(hookspecs, hook)).parameters)


def test_every_hook_is_exercised_by_a_test():
    # the decorators below ran at import: each hook has at least one test showing its effect
    assert sorted(EXERCISED) == HOOKS, f"hooks without a test: {sorted(set(HOOKS) - set(EXERCISED))}"
    for names in EXERCISED.values():
        for qualname in names:
            owner, _, name = qualname.rpartition(".")
            test = getattr(globals()[owner], name) if owner else globals()[name]
            assert callable(test) and name.startswith("test_"), qualname


# --- discovery and activation ----------------------------------------------------------------------------

def test_discovery_lists_the_test_plugin_through_its_entry_point():
    entry_point = discover()[PLUGIN]
    assert entry_point.group == ENTRY_POINT_GROUP == "compte_citoyen"
    assert entry_point.value == "compte_citoyen_test_plugin"
    assert entry_point.dist.name == "compte_citoyen_test_plugin"
    assert entry_point.load() is test_plugin


def test_installed_plugin_is_inactive_unless_listed(registry, testapp, portal_tx):
    from compte_citoyen.billing.regie import get_regies
    from compte_citoyen.notification.worker import get_channels
    from compte_citoyen.procedures.registry import get_registry
    pm = registry.compte_citoyen_plugins
    assert PLUGIN not in registry.settings["compte_citoyen.plugins"]
    assert pm.get_plugin(PLUGIN) is None
    assert get_registry(registry).get("test_procedure") is None
    assert "test_theme" not in get_registry(registry).themes
    assert "test_regie" not in get_regies(registry)
    assert "test_channel" not in get_channels(registry)
    testapp.get("/extension-de-test/bonjour", status=404)
    with portal_tx() as portal:
        assert EVOLVE_STEP not in portal.evolved
        assert test_plugin.NOTES not in portal


def test_core_defaults_are_registered_as_plugins(registry):
    from compte_citoyen.notification.channels import EmailChannel
    from compte_citoyen.notification.worker import get_channels
    pm = registry.compte_citoyen_plugins
    core = {name for name, _plugin in pm.list_name_plugin() if name.startswith("core:")}
    assert core == {f"core:{dotted}" for dotted in CORE_PLUGINS}
    channels_module = pm.get_plugin("core:compte_citoyen.notification.channels")
    assert "compte_citoyen_register_channels" in hooks_of(pm, channels_module)
    # the e-mail channel reaches the notification worker through the hook, like any plugin's channel
    assert isinstance(get_channels(registry)["email"], EmailChannel)


class TestActivePlugin:
    """With ``test_plugin`` listed in ``compte_citoyen.plugins``, each hook has its effect."""

    @pytest.fixture
    def settings(self, settings):
        settings["compte_citoyen.plugins"] += "\ntest_plugin"
        settings["compte_citoyen_test_plugin.greeting"] = "Bonjour Clairval"  # the plugin's own prefix
        settings["compte_citoyen.sms_channel"] = "test_channel"
        return settings

    @pytest.fixture(autouse=True)
    def clear_sent(self):
        test_plugin.SENT.clear()
        yield
        test_plugin.SENT.clear()

    def test_registered_under_its_entry_point_name(self, registry):
        pm = registry.compte_citoyen_plugins
        assert pm.get_plugin(PLUGIN) is test_plugin
        assert hooks_of(pm, test_plugin) == HOOKS

    @exercises("compte_citoyen_register_themes")
    def test_theme_and_procedure_in_the_registry(self, registry):
        from compte_citoyen.procedures.registry import STEPS, get_registry
        procedures = get_registry(registry)
        theme = procedures.themes["test_theme"]
        assert theme.title == "Thème de test" and theme.plugin == PLUGIN
        procedure = procedures.get("test_procedure")
        assert procedure in theme.procedures
        assert (procedure.plugin, procedure.theme_code, procedure.service) == (PLUGIN, "test_theme", "test_service")
        assert [(d.code, d.required) for d in procedure.documents] == [("proof", False)]
        assert {status.step for status in procedure.workflow} == set(STEPS)
        # the schema factory of the single step really validates
        title, factory = procedure.steps[0]
        assert title == "Votre demande"
        schema = factory(None)
        assert schema.deserialize({"subject": "Un objet", "wanted_on": "2026-05-04"}) == {
            "subject": "Un objet", "wanted_on": datetime.date(2026, 5, 4)}
        import colander
        with pytest.raises(colander.Invalid) as info:
            schema.deserialize({"subject": "x", "wanted_on": "pas une date"})
        assert set(info.value.asdict()) == {"test_request.subject", "test_request.wanted_on"}

    @exercises("compte_citoyen_register_regies")
    def test_regie_in_get_regies(self, registry):
        from compte_citoyen.billing.regie import get_regies
        regie = get_regies(registry)["test_regie"]
        assert regie.label == "Régie de test" and regie.plugin == PLUGIN
        assert regie.domains == ["test"]
        assert (regie.basket_rules.max_invoices, regie.basket_rules.lifetime_minutes) == (3, 15)
        assert regie.payment_backend == "dummy"

    @exercises("compte_citoyen_register_channels")
    def test_channel_registered_and_used_by_the_worker(self, registry, portal_tx):
        from compte_citoyen.notification import INFORMATION, queue_message
        from compte_citoyen.notification.worker import channel_for, deliver_due, get_channels
        channel = get_channels(registry)["test_channel"]
        assert isinstance(channel, test_plugin.RecordingChannel)
        assert channel_for(registry, "sms") is channel  # compte_citoyen.sms_channel = test_channel
        assert isinstance(get_channels(registry)["email"], type(channel_for(registry, "email")))
        with portal_tx() as portal:
            message = queue_message(portal, event_key="test-plugin:sms:1", kind=INFORMATION, channel="sms",
                                    phone="0611223344", subject="Collecte", text="Collecte demain",
                                    sms_text="Collecte des encombrants demain")
            message_id = message.id
        stats = deliver_due(registry, now=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
            minutes=1))
        assert stats.get("sent") == 1, stats
        assert test_plugin.SENT == [("0611223344", "Collecte", "Collecte des encombrants demain")]
        with portal_tx() as portal:
            assert portal["outbox"][message_id].state == "sent"

    @exercises("compte_citoyen_register_channels")
    def test_channel_outage_is_retried_not_lost(self, registry, portal_tx):
        from compte_citoyen.notification import INFORMATION, queue_message
        from compte_citoyen.notification.worker import deliver_due, get_channels
        channel = get_channels(registry)["test_channel"]
        with portal_tx() as portal:
            message_id = queue_message(portal, event_key="test-plugin:sms:2", kind=INFORMATION, channel="sms",
                                       phone="0611223344", subject="Rappel", text="Rappel").id
        now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
        channel.down = True  # the channel raises a temporary DeliveryError
        try:
            assert deliver_due(registry, now=now).get("retry") == 1
        finally:
            channel.down = False
        assert test_plugin.SENT == []
        with portal_tx() as portal:
            assert portal["outbox"][message_id].state == "queued"
        assert deliver_due(registry, now=now + datetime.timedelta(hours=7)).get("sent") == 1
        assert test_plugin.SENT == [("0611223344", "Rappel", "Rappel")]

    @exercises("compte_citoyen_configure")
    def test_configure_adds_a_route_a_view_and_a_template(self, testapp):
        response = testapp.get("/extension-de-test/bonjour", status=200)
        html = response.text
        assert html.count("<h1") == 1 and "Extension de test</h1>" in html
        assert "Bonjour Clairval" in html  # read from the plugin's settings prefix
        assert '<html lang="fr"' in html  # rendered inside the portal's layout
        assert '<span class="test-plugin-notes">0</span>' in html

    @exercises("compte_citoyen_configure")
    def test_configure_adds_an_evolve_step_applied_to_a_new_database(self, registry, portal_tx):
        from compte_citoyen.evolution import get_steps
        names = [step.name for step in get_steps(registry)]
        assert EVOLVE_STEP in names
        assert names.index("core:0001-outbox") < names.index(EVOLVE_STEP)  # core steps first
        with portal_tx() as portal:
            assert EVOLVE_STEP in portal.evolved
            assert isinstance(portal[test_plugin.NOTES], Folder)
            portal[test_plugin.NOTES].add("n1", test_plugin.Note("Une note"))
        with portal_tx() as portal:
            assert portal[test_plugin.NOTES]["n1"].text == "Une note"
            assert portal[test_plugin.NOTES]["n1"].pinned is False  # class-level default

    @exercises("compte_citoyen_register_invoice_sources")
    def test_invoice_source_declared_and_yielding_records(self, registry):
        from compte_citoyen.billing.sources import InvoiceData, get_sources
        source = get_sources(registry)["test_source"]
        assert (source.regie, source.plugin) == ("test_regie", PLUGIN)
        records = list(source.fetch(registry, None))
        assert [record.number for record in records] == ["T-0001", "T-0002"]
        assert all(isinstance(record, InvoiceData) for record in records)
        assert (records[0].account, records[0].lines[0].amount) == ("jdupont", 4250)
        # ``since``: only what was issued after the last import
        assert list(source.fetch(registry, datetime.datetime.now(datetime.timezone.utc))) == []


# --- the command line: init --demo, evolve on an existing database, uninstall, plugins listing ------------

@exercises("compte_citoyen_demo_data")
def test_demo_hook_lines_printed_by_init_demo(tmp_path, capsys):
    ini = write_ini(tmp_path / "cli", active=True)
    code, out, err = run_cli(capsys, ini, "init", "--demo")
    assert code == 0, err
    assert "test_plugin: 1 demonstration note in test_plugin_notes" in out
    assert inspect_db(ini, lambda portal: portal[test_plugin.NOTES]["demo"].text) == "Note de démonstration"
    code, out, _err = run_cli(capsys, ini, "init", "--demo")
    assert "demonstration data already present" in out and "test_plugin:" not in out


@exercises("compte_citoyen_configure")
def test_activating_on_an_existing_database_then_uninstalling(tmp_path, capsys):
    inactive = write_ini(tmp_path / "cli", active=False)
    assert run_cli(capsys, inactive, "init")[0] == 0
    assert inspect_db(inactive, lambda portal: test_plugin.NOTES in portal) is False
    # the plugin is activated later: its step is pending, applied once by `evolve`
    active = write_ini(tmp_path / "cli", active=True)
    code, out, _err = run_cli(capsys, active, "evolve", "--dry-run")
    assert code == 0 and f"would apply: {EVOLVE_STEP}" in out
    assert inspect_db(active, lambda portal: test_plugin.NOTES in portal) is False
    code, out, _err = run_cli(capsys, active, "evolve")
    assert code == 0 and f"applied: {EVOLVE_STEP}" in out
    assert "nothing to evolve" in run_cli(capsys, active, "evolve")[1]

    inspect_db(active, lambda portal: portal[test_plugin.NOTES].add("n1", test_plugin.Note("À supprimer")))
    # the uninstall path removes the plugin's persistent objects before the distribution goes away
    assert inspect_db(active, test_plugin.uninstall) == 1
    assert inspect_db(inactive, lambda portal: (test_plugin.NOTES in portal, EVOLVE_STEP in portal.evolved)) == (
        False, False)


@exercises("compte_citoyen_register_invoice_sources")
def test_import_invoices_from_the_plugin_source(tmp_path, capsys):
    from compte_citoyen.testing import create_citizen
    ini = write_ini(tmp_path / "cli", active=True)
    assert run_cli(capsys, ini, "init")[0] == 0
    household_id = inspect_db(ini, lambda portal: create_citizen(portal, code="jdupont", validated=True)[1].id)
    code, out, err = run_cli(capsys, ini, "import-invoices", "--source", "test_source")
    assert code == 0, err
    assert "2 invoice(s) imported" in out

    def stored(portal):
        invoice = portal["invoices"].get_invoice("test_regie", "T-0001")
        return invoice.household_id, invoice.total, invoice.source

    assert inspect_db(ini, stored) == (household_id, 4250, "source:test_source")
    # a second import only fetches what was issued since the first one: nothing new, nothing twice
    code, out, err = run_cli(capsys, ini, "import-invoices", "--source", "test_source")
    assert code == 0 and "0 invoice(s) imported" in out, err


def test_inactive_plugin_source_is_unknown(tmp_path, capsys):
    ini = write_ini(tmp_path / "cli", active=False)
    assert run_cli(capsys, ini, "init")[0] == 0
    code, _out, err = run_cli(capsys, ini, "import-invoices", "--source", "test_source")
    assert code == 2 and "unknown invoice source 'test_source'" in err


def test_plugins_command_lists_core_installed_inactive(tmp_path, capsys):
    ini = write_ini(tmp_path / "cli", active=False)
    code, out, err = run_cli(capsys, ini, "plugins")
    assert code == 0, err
    core, _, installed = out.partition("installed plugins (entry-point group compte_citoyen):")
    assert core.startswith("core plugins:")
    assert "compte_citoyen.notification.channels: compte_citoyen_register_channels" in core
    line = next(line for line in installed.splitlines() if line.strip().startswith(f"{PLUGIN} "))
    assert "[inactive]" in line and "compte_citoyen_test_plugin" in line


def test_plugins_command_lists_active_plugin_with_its_hooks(tmp_path, capsys):
    ini = write_ini(tmp_path / "cli", active=True)
    code, out, err = run_cli(capsys, ini, "plugins")
    assert code == 0, err
    line = next(line for line in out.splitlines() if line.strip().startswith(f"{PLUGIN} "))
    assert "[active]" in line
    assert line.strip().endswith(": " + ", ".join(HOOKS))


def test_plugins_command_help_is_listed(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "plugins" in out and "new-plugin" in out


def test_docs_cover_the_integrator_topics():
    text = DOCS.read_text(encoding="utf-8")
    for needle in ["entry_points", "compte_citoyen.plugins", "compte-citoyen development.ini plugins",
                   "new-plugin", "add_evolve_step", "uninstall", "add_translation_dirs", "compte_citoyen.testing",
                   "Theme", "Procedure", "Document", "Status", "Regie", "BasketRules", "Channel", "DeliveryError",
                   "InvoiceSource", "InvoiceData", "pip install"]:
        assert needle in text, needle
