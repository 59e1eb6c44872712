"""``python -m compte_citoyen.operations INI restore --from DIR [--date D]``: restore without starting the app.

With ZEO the server must be stopped during a restore, and the normal command line tool would try to connect to
it; this entry point only reads the ini file's settings.
"""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compte_citoyen.operations")
    parser.add_argument("ini")
    sub = parser.add_subparsers(dest="command", required=True)
    restore_parser = sub.add_parser("restore", help="restore the database and blobs from a backup")
    restore_parser.add_argument("--from", dest="source", required=True)
    restore_parser.add_argument("--date", default=None)
    args = parser.parse_args(argv)
    from pyramid.paster import get_appsettings

    from .backup import BackupError
    from .commands import restore
    settings = get_appsettings(args.ini)
    try:
        for line in restore(settings, args.source, args.date):
            print(line)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
