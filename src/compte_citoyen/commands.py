"""Core commands: init, evolve, plugins."""
from __future__ import annotations

from .cli import command
from .database import create_root
from .evolution import evolve, pending_steps
from .plugins import discover, hooks_of


def _init_args(parser):
    parser.add_argument("--demo", action="store_true", help="add demonstration data (accounts, requests, invoices)")


@command("init", "create the database (and demonstration data with --demo)", _init_args)
def init(env, args):
    created = create_root(env.db, env.registry)
    print("database created" if created else "database ready")
    if args.demo:
        with env.transaction() as (tm, portal):
            if "demo" in portal.evolved:
                print("demonstration data already present")
                return 0
            lines = []
            for result in env.registry.compte_citoyen_plugins.hook.compte_citoyen_demo_data(
                    portal=portal, registry=env.registry):
                lines.extend(result or [])
            import datetime
            portal.evolved["demo"] = datetime.datetime.now(datetime.timezone.utc)
        for line in lines:
            print(line)
    return 0


def _evolve_args(parser):
    parser.add_argument("--dry-run", action="store_true", help="list the pending steps without applying them")


@command("evolve", "apply pending evolve steps to stored objects", _evolve_args)
def evolve_command(env, args):
    with env.transaction() as (tm, portal):
        pending = pending_steps(portal, env.registry)
        if not pending:
            print("nothing to evolve")
            return 0
        applied = evolve(portal, env.registry, dry_run=args.dry_run)
        verb = "would apply" if args.dry_run else "applied"
        for name in applied:
            print(f"{verb}: {name}")
    return 0


@command("plugins", "list the plugins found through entry points, which are active and their hooks")
def plugins(env, args):
    pm = env.registry.compte_citoyen_plugins
    active = env.settings["compte_citoyen.plugins"]
    print("core plugins:")
    for name, plugin in pm.list_name_plugin():
        if name.startswith("core:"):
            print(f"  {name[5:]}: {', '.join(hooks_of(pm, plugin))}")
    print("installed plugins (entry-point group compte_citoyen):")
    found = discover()
    if not found:
        print("  none")
    for name, ep in sorted(found.items()):
        state = "active" if name in active else "inactive"
        plugin = pm.get_plugin(name)
        hooks = ", ".join(hooks_of(pm, plugin)) if plugin is not None else ""
        dist = ep.dist.name if getattr(ep, "dist", None) else ""
        print(f"  {name} [{state}] ({dist} {ep.value}){': ' + hooks if hooks else ''}")
    return 0
