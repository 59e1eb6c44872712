"""Billing commands: import-invoices (CSV file or invoice source), poll-payments."""
from __future__ import annotations

import sys
from pathlib import Path

from ..cli import CommandError, command


def _import_args(parser):
    parser.add_argument("file", nargs="?", help="the régie's CSV file (with --regie)")
    parser.add_argument("--regie", help="the régie code the CSV file belongs to")
    parser.add_argument("--source", help="an invoice source declared by a plugin (instead of a file)")


def print_errors(env, errors) -> None:
    for line, message in errors:
        text = env.request.translate(message)
        where = f"ligne {line} : " if line is not None else ""
        print(f"{where}{text}", file=sys.stderr)


@command("import-invoices", "import invoices from a régie's CSV file or from an invoice source (all or nothing)",
         _import_args)
def import_invoices(env, args):
    from .csvimport import import_csv
    from .regie import get_regies
    from .sources import InvoiceImportError, get_sources, import_from_source
    if bool(args.source) == bool(args.file):
        raise CommandError("give either --regie CODE FILE or --source NAME")
    try:
        with env.transaction() as (tm, portal):
            if args.source:
                if args.source not in get_sources(env.registry):
                    known = ", ".join(sorted(get_sources(env.registry))) or "none"
                    raise CommandError(f"unknown invoice source {args.source!r} (declared: {known})")
                invoices = import_from_source(portal, env.registry, args.source)
                origin = f"source {args.source}"
            else:
                if not args.regie or args.regie not in get_regies(env.registry):
                    known = ", ".join(sorted(get_regies(env.registry))) or "none"
                    raise CommandError(f"--regie must be one of the active régies: {known}")
                path = Path(args.file)
                if not path.is_file():
                    raise CommandError(f"no file {path}")
                invoices = import_csv(portal, args.regie, path.read_bytes(), path.name)
                origin = path.name
            portal["journal"].record("cli", "invoices-imported", f"regie:{args.regie or ''}",
                                     f"{len(invoices)} from {origin}")
    except InvoiceImportError as exc:
        print_errors(env, exc.errors)
        print(f"nothing imported: {len(exc.errors)} error(s)", file=sys.stderr)
        return 2
    print(f"{len(invoices)} invoice(s) imported")
    return 0


@command("poll-payments", "re-check pending card payments with their provider; expire those left without answer")
def poll_payments(env, args):
    from .payment import poll_pending
    with env.transaction() as (tm, portal):
        done = poll_pending(env.request, portal)
    for payment, state in done:
        print(f"payment {payment.id} ({payment.regie}, order {payment.order_id}): {state}")
    print(f"{len(done)} payment(s) settled")
    return 0
