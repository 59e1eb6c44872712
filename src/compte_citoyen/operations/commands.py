"""Operations commands: backup, restore, pack, generate-data (``evolve`` is a core command)."""
from __future__ import annotations

import time

from ..cli import CommandError, command
from . import backup as ops
from .storage import FILE, MEMORY, RELSTORAGE, ZEO, storage_info


def _backup_args(parser):
    parser.add_argument("--to", dest="destination", required=True,
                        help="backup directory (repozo files and blob mirror, or pg_dump files)")
    parser.add_argument("--full", action="store_true", help="force a full backup instead of an incremental one")


@command("backup", "back up the database and its blobs (repozo for FileStorage/ZEO, pg_dump for RelStorage)",
         _backup_args)
def backup_command(env, args):
    info = storage_info(env.settings)
    try:
        if info.kind == RELSTORAGE:
            lines = ops.backup_postgresql(info.dsn, args.destination)
        elif info.has_files:
            lines = ops.backup_filestorage(info.data_fs, info.blob_dir, args.destination, full=args.full)
        elif info.kind == ZEO:
            raise CommandError("set compte_citoyen.zeo_conf to the ZEO server's configuration and run the "
                               "backup on the ZEO machine (it reads the server's Data.fs)")
        else:
            raise CommandError(f"{info.uri} cannot be backed up (in-memory storage)")
    except ops.BackupError as exc:
        raise CommandError(str(exc)) from exc
    for line in lines:
        print(line)
    return 0


def close_storage(db) -> None:
    """Release the storage (and its lock) the command-line app opened."""
    try:
        db.close()
    except Exception:  # pooled connections with explicit transaction managers refuse the abort; close below
        db.storage.close()


def _restore_args(parser):
    parser.add_argument("--from", dest="source", required=True, help="backup directory written by `backup`")
    parser.add_argument("--date", default=None,
                        help="restore the state as of this UTC date (YYYY-MM-DD[-HH[-MM[-SS]]]; repozo only)")


def restore(settings: dict, source: str, date: str | None = None) -> list[str]:
    """Restore the deployment's storage from ``source``; the storage must not be open anywhere."""
    info = storage_info(settings)
    if info.kind == RELSTORAGE:
        if date:
            raise ops.BackupError("--date is for repozo backups; choose the pg_dump file instead (--from FILE)")
        return ops.restore_postgresql(info.dsn, source)
    if not info.has_files:
        raise ops.BackupError(f"{info.uri}: nothing to restore into (set compte_citoyen.zeo_conf for ZEO)")
    return ops.restore_filestorage(source, info.data_fs, info.blob_dir, date)


@command("restore", "restore the database and its blobs from a backup (stop the workers first)", _restore_args)
def restore_command(env, args):
    info = storage_info(env.settings)
    if info.kind == ZEO:
        raise CommandError("with ZEO, stop the workers and the ZEO server, then run "
                           f"`python -m compte_citoyen.operations {env.ini} restore --from {args.source}` "
                           "(it does not connect to ZEO)")
    if info.kind == MEMORY:
        raise CommandError(f"{info.uri} cannot be restored (in-memory storage)")
    close_storage(env.db)  # this command's own connection would hold the storage open
    try:
        lines = restore(env.settings, args.source, args.date)
    except ops.BackupError as exc:
        raise CommandError(str(exc)) from exc
    for line in lines:
        print(line)
    print("restored: run `compte-citoyen INI evolve --dry-run` before starting an upgraded version")
    return 0


def _pack_args(parser):
    parser.add_argument("--days", type=float, default=7,
                        help="keep the history of the last N days (default 7; 0 keeps only current revisions)")


@command("pack", "remove old object revisions and unreferenced blobs, keeping N days of history", _pack_args)
def pack_command(env, args):
    if args.days < 0:
        raise CommandError("--days must be 0 or more")
    started = time.monotonic()
    size_before = env.db.getSize()
    env.db.pack(days=args.days)
    print(f"packed {storage_info(env.settings).kind} (kept {args.days:g} day(s) of history) in "
          f"{time.monotonic() - started:.1f}s; size {size_before} -> {env.db.getSize()} bytes")
    return 0


def _generate_args(parser):
    parser.add_argument("--households", type=int, required=True, help="number of households to create")
    parser.add_argument("--seed", type=int, default=1, help="random seed (the same seed gives the same people)")
    parser.add_argument("--batch", type=int, default=1000, help="households per transaction")
    parser.add_argument("--requests", type=int, default=10, help="requests per household (average)")
    parser.add_argument("--invoices", type=int, default=10, help="invoices per household (average)")
    parser.add_argument("--password", default="motdepasse-bench-2026",
                        help="password of every generated account (hashed once)")


@command("generate-data", "fill the database with realistic households, requests, messages and invoices",
         _generate_args)
def generate_data_command(env, args):
    from .generate import Generator
    if args.households <= 0:
        raise CommandError("--households must be positive")
    generator = Generator(env, seed=args.seed, requests_per_household=args.requests,
                          invoices_per_household=args.invoices, password=args.password)
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        elapsed = time.monotonic() - started
        print(f"  {done}/{total} households ({done / elapsed:.0f}/s)", flush=True)

    stats = generator.run(args.households, batch=args.batch, progress=progress)
    elapsed = time.monotonic() - started
    print(f"generated in {elapsed:.1f}s: " + ", ".join(f"{v} {k}" for k, v in stats.items()))
    return 0
