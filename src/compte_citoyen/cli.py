"""The command-line tool: ``compte-citoyen INI COMMAND [options]``.

Commands live in the domain packages' ``commands`` modules and register themselves with ``@command``;
each receives an ``Env`` (registry, database, a request for URLs and translations) and its parsed arguments.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from typing import Callable

import transaction

COMMANDS: dict[str, tuple[Callable, Callable | None, str]] = {}

COMMAND_MODULES = [
    "compte_citoyen.commands",
    "compte_citoyen.authentication.commands",
    "compte_citoyen.household.commands",
    "compte_citoyen.backoffice.commands",
    "compte_citoyen.notification.commands",
    "compte_citoyen.procedures.commands",
    "compte_citoyen.billing.commands",
    "compte_citoyen.operations.commands",
    "compte_citoyen.scaffold.commands",
]

#: Commands that need no application (no ini file, no database): ``compte-citoyen new-plugin NAME`` works.
NO_APP_COMMANDS = {"new-plugin"}
#: Commands that read the ini themselves instead of loading the application (they run beside a server).
OWN_STORAGE_COMMANDS = {"staff-code"}


def command(name: str, help: str, arguments: Callable | None = None):  # noqa: A002
    """Register ``func(env, args) -> int`` as a sub-command; ``arguments(parser)`` adds its options."""
    def decorate(func):
        COMMANDS[name] = (func, arguments, help)
        return func
    return decorate


@dataclass
class Env:
    ini: str
    app: object
    registry: object
    request: object
    closer: Callable

    @property
    def settings(self):
        return self.registry.settings

    @property
    def db(self):
        from .database import get_database
        return get_database(self.registry)

    def transaction(self):
        """Open a connection with its own explicit transaction manager; yields (tm, portal)."""
        from contextlib import contextmanager

        from .database import ROOT_KEY

        @contextmanager
        def manager():
            tm = transaction.TransactionManager(explicit=True)
            conn = self.db.open(transaction_manager=tm)
            try:
                with tm:
                    yield tm, conn.root()[ROOT_KEY]
            finally:
                conn.close()
        return manager()


def load_env(ini: str) -> Env:
    from pyramid.paster import get_app, setup_logging
    from pyramid.scripting import prepare
    setup_logging(ini)
    app = get_app(ini)
    registry = app.registry
    env = prepare(registry=registry)
    request = env["request"]
    public_url = registry.settings.get("compte_citoyen.public_url", "http://127.0.0.1:6543")
    from urllib.parse import urlsplit
    parts = urlsplit(public_url)
    request.scheme = parts.scheme or "http"
    request.host = parts.netloc
    return Env(ini, app, registry, request, env["closer"])


def load_commands() -> None:
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name.rsplit(".", 1)[0]) and importlib.util.find_spec(name):
            importlib.import_module(name)


def make_parser() -> argparse.ArgumentParser:
    load_commands()
    parser = argparse.ArgumentParser(prog="compte-citoyen", description="Compte Citoyen database and operations tool")
    parser.add_argument("ini", help="the ini file of the deployment, e.g. development.ini")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in sorted(COMMANDS):
        func, arguments, help_text = COMMANDS[name]
        p = sub.add_parser(name, help=help_text, description=help_text)
        if arguments is not None:
            arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in NO_APP_COMMANDS:
        argv.insert(0, "-")  # no ini file given
    parser = make_parser()
    args = parser.parse_args(argv)
    func = COMMANDS[args.command][0]
    if args.command in NO_APP_COMMANDS | OWN_STORAGE_COMMANDS:
        try:
            return func(None, args) or 0
        except CommandError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    env = load_env(args.ini)
    try:
        return func(env, args) or 0
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        env.closer()
        for db in getattr(env.registry, "_zodb_databases", {}).values():
            db.close()


class CommandError(Exception):
    """A command refused its input; the message says what to do."""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
