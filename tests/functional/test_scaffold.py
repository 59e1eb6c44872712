"""The plugin template: ``compte-citoyen [INI] new-plugin NAME`` writes a theme plugin that registers its hooks,
is listed as active once in ``compte_citoyen.plugins``, has a complete French catalogue and passes its own tests.
"""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pluggy
import pytest
from babel.messages.pofile import read_po

from compte_citoyen import cli
from compte_citoyen.plugins import PROJECT, hooks_of, hookspecs
from compte_citoyen.procedures.registry import STEPS, ProcedureRegistry
from compte_citoyen.scaffold import ScaffoldError, generate, plugin_names
from compte_citoyen.testing import activate_plugin, base_settings

NAME = "bibliotheque"
PACKAGE = f"compte_citoyen_theme_{NAME}"
VENV_BIN = Path(sys.executable).parent

EXPECTED_FILES = {
    "setup.py", "README.md", "MANIFEST.in", "pytest.ini",
    f"{PACKAGE}/__init__.py", f"{PACKAGE}/procedures.py", f"{PACKAGE}/schemas.py",
    f"{PACKAGE}/locale/fr/LC_MESSAGES/compte_citoyen.po",
    "tests/conftest.py", f"tests/test_{NAME}.py",
}


@pytest.fixture
def plugin_dir(tmp_path) -> Path:
    return generate(NAME, tmp_path / "plugins", "Bibliothèque")


@pytest.fixture
def plugin_module(plugin_dir, monkeypatch):
    """The generated package, imported from its folder (not installed)."""
    monkeypatch.syspath_prepend(str(plugin_dir))
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        monkeypatch.delitem(sys.modules, name)
    module = importlib.import_module(PACKAGE)
    yield module
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_generate_writes_a_complete_plugin(plugin_dir):
    assert plugin_dir.name == PACKAGE
    files = {str(p.relative_to(plugin_dir)) for p in plugin_dir.rglob("*") if p.is_file()}
    assert files == EXPECTED_FILES
    for path in plugin_dir.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert "@@" not in text and ".tmpl" not in str(path), path
            if path.suffix == ".py":
                compile(text, str(path), "exec")
    setup_py = (plugin_dir / "setup.py").read_text(encoding="utf-8")
    assert f'entry_points={{"compte_citoyen": ["{NAME} = {PACKAGE}"]}}' in setup_py
    readme = (plugin_dir / "README.md").read_text(encoding="utf-8")
    assert f"pip install --no-build-isolation --config-settings editable_mode=compat -e plugins/{PACKAGE}" in readme
    assert "compte_citoyen.plugins" in readme and "compte-citoyen development.ini plugins" in readme


def test_generated_catalogue_is_complete_and_matches_the_code(plugin_dir):
    po_path = plugin_dir / PACKAGE / "locale/fr/LC_MESSAGES/compte_citoyen.po"
    with open(po_path, "rb") as po_file:
        catalog = read_po(po_file, locale="fr")
    translations = {m.id: m.string for m in catalog if m.id}
    assert translations["Bibliothèque"] == "Bibliothèque"
    assert translations["Appointment request"] == "Demande de rendez-vous"
    assert all(translations.values()), [k for k, v in translations.items() if not v]
    # what `make i18n` would extract from the code is exactly what the catalogue holds
    pot = plugin_dir / "messages.pot"
    sources = sorted(str(p) for p in (plugin_dir / PACKAGE).rglob("*.py"))
    subprocess.run([str(VENV_BIN / "pot-create"), "-d", "compte_citoyen", "-o", str(pot), *sources],
                   check=True, capture_output=True)
    with open(pot, "rb") as pot_file:
        extracted = {m.id for m in read_po(pot_file) if m.id}
    assert extracted == set(translations)


def test_generated_module_registers_its_hooks(plugin_module):
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin_module, name=NAME)
    pm.check_pending()
    assert hooks_of(pm, plugin_module) == ["compte_citoyen_configure", "compte_citoyen_register_themes"]
    [themes] = pm.hook.compte_citoyen_register_themes(settings={})
    registry = ProcedureRegistry()
    for theme in themes:
        registry.add_theme(theme, NAME)  # the core's checks: steps, workflow mapped onto 1-4, documents
    procedure = registry.get(f"{NAME}_appointment")
    assert procedure.theme_code == NAME and procedure.service == NAME
    assert len(procedure.steps) == 2
    assert {status.step for status in procedure.workflow} == set(STEPS)
    assert [(d.code, d.required) for d in procedure.documents] == [("identity", True), ("other", False)]


def test_generated_plugin_is_listed_active_by_the_plugins_command(plugin_module, tmp_path, capsys, monkeypatch):
    settings = base_settings(tmp_path)
    activate_plugin(settings, NAME, PACKAGE, monkeypatch)
    import compte_citoyen.commands
    import compte_citoyen.plugins
    monkeypatch.setattr(compte_citoyen.commands, "discover", compte_citoyen.plugins.discover)
    ini = tmp_path / "test.ini"
    ini.write_text("[app:main]\nuse = egg:compte_citoyen\n" + "\n".join(
        f"{key} = {value}".replace("\n", "\n    ") for key, value in settings.items()) + "\n", encoding="utf-8")
    assert cli.main([str(ini), "plugins"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.strip().startswith(f"{NAME} "))
    assert "[active]" in line
    assert line.endswith(": compte_citoyen_configure, compte_citoyen_register_themes")


def test_generated_tests_pass(plugin_dir):
    """The plugin's own tests, run by pytest in its folder, before installation (PYTHONPATH)."""
    env = {**os.environ, "PYTHONPATH": str(plugin_dir)}
    env.pop("PYTEST_ADDOPTS", None)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore"],
                            cwd=plugin_dir, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout and "error" not in result.stdout
    # the conftest compiled the catalogue, as `make catalogs` does
    assert (plugin_dir / PACKAGE / "locale/fr/LC_MESSAGES/compte_citoyen.mo").exists()


# --- the command -------------------------------------------------------------------------------------------

def test_new_plugin_without_ini_writes_into_plugins_of_the_current_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["new-plugin", NAME]) == 0
    out = capsys.readouterr().out
    target = tmp_path / "plugins" / PACKAGE
    assert f"created {target}" in out
    assert f"add '{NAME}' to compte_citoyen.plugins" in out
    assert (target / PACKAGE / "__init__.py").exists()
    # the default title is the name, capitalised
    assert 'title=_("Bibliotheque")' in (target / PACKAGE / "__init__.py").read_text(encoding="utf-8")


def test_new_plugin_after_an_ini_writes_next_to_it_without_loading_the_app(tmp_path, capsys):
    deployment = tmp_path / "deployment"
    deployment.mkdir()
    ini = deployment / "development.ini"
    ini.write_text("[app:main]\nuse = egg:compte_citoyen\n", encoding="utf-8")  # no database, no secret
    assert cli.main([str(ini), "new-plugin", "piscine", "--title", "Piscine municipale"]) == 0
    target = deployment / "plugins" / "compte_citoyen_theme_piscine"
    assert (target / "setup.py").exists()
    po = (target / "compte_citoyen_theme_piscine/locale/fr/LC_MESSAGES/compte_citoyen.po").read_text("utf-8")
    assert 'msgid "Piscine municipale"' in po
    assert not (deployment / "var").exists()


def test_new_plugin_dest_option(tmp_path, capsys):
    assert cli.main(["new-plugin", "sport", "--dest", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "compte_citoyen_theme_sport" / "setup.py").exists()


@pytest.mark.parametrize("name", ["Bibliotheque", "1sport", "a-b", "a__b", "x" * 41, ""])
def test_new_plugin_refuses_a_bad_name(name, tmp_path, capsys):
    assert cli.main(["new-plugin", name, "--dest", str(tmp_path)]) == 2
    assert "invalid plugin name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_new_plugin_refuses_an_existing_folder_and_an_installed_name(tmp_path, capsys):
    assert cli.main(["new-plugin", NAME, "--dest", str(tmp_path)]) == 0
    setup_py = tmp_path / PACKAGE / "setup.py"
    setup_py.write_text("# changed by the integrator\n", encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["new-plugin", NAME, "--dest", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert setup_py.read_text(encoding="utf-8") == "# changed by the integrator\n"  # untouched
    assert cli.main(["new-plugin", "test_plugin", "--dest", str(tmp_path)]) == 2
    assert "already installed" in capsys.readouterr().err


def test_bad_titles_are_refused():
    with pytest.raises(ScaffoldError):
        plugin_names(NAME, 'Le "quai"')
    with pytest.raises(ScaffoldError):
        plugin_names(NAME, "   ")
    assert plugin_names("etat_civil").title == "Etat civil"
