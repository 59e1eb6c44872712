"""``compte-citoyen [INI] new-plugin NAME [--dest DIR] [--title TITLE]``: start a procedure-theme plugin.

Works without an ini file (it does not open the database); with one, the plugin folder goes to the ``plugins/``
folder next to the ini file unless ``--dest`` says otherwise.
"""
from __future__ import annotations

import os

from ..cli import CommandError, command
from . import ScaffoldError, generate, plugin_names


def _new_plugin_args(parser):
    parser.add_argument("name", help="the plugin's name (lower-case, e.g. bibliotheque): its entry-point name, "
                                     "the one listed in compte_citoyen.plugins")
    parser.add_argument("--dest", help="the folder that receives compte_citoyen_theme_NAME/ (default: plugins/ "
                                       "next to the ini file, or in the current folder without one)")
    parser.add_argument("--title", help="the theme title shown to citizens (default: the name, capitalised)")


@command("new-plugin", "create a procedure-theme plugin from the template (no ini file needed)", _new_plugin_args)
def new_plugin(env, args) -> int:
    from ..plugins import discover
    try:
        names = plugin_names(args.name, args.title)
    except ScaffoldError as exc:
        raise CommandError(str(exc)) from exc
    if names.name in discover():
        raise CommandError(f"a plugin named {names.name!r} is already installed: choose another name")
    dest = args.dest
    if dest is None:
        ini = getattr(args, "ini", None)
        base = os.path.dirname(os.path.abspath(ini)) if ini and ini != "-" else os.getcwd()
        dest = os.path.join(base, "plugins")
    try:
        target = generate(names.name, dest, names.title)
    except ScaffoldError as exc:
        raise CommandError(str(exc)) from exc
    print(f"created {target}")
    print("next steps:")
    print(f"  .venv/bin/pip install --no-build-isolation --config-settings editable_mode=compat -e {target}")
    print(f"  add '{names.name}' to compte_citoyen.plugins in your ini file")
    print("  compte-citoyen INI plugins   (lists it as active)")
    print(f"  cd {target} && pytest        (runs its tests)")
    return 0
