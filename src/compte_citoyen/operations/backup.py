"""Backups and restores.

FileStorage (directly or behind ZEO): ``repozo`` (shipped with ZODB) writes a full backup the first time and
incremental ones after, safely from a live storage (it copies up to the last committed transaction). Blob files
are then copied into a mirror: a blob file is never changed once committed, and every blob the backed-up
Data.fs references was committed before repozo ran, so copying them AFTER repozo gives a consistent pair.
The mirror never deletes (packing removes old blob revisions), so a restore to an earlier date finds its blobs.

RelStorage: ``pg_dump --format=custom`` of the database (blobs included: they live in PostgreSQL), restored with
``pg_restore --clean``.
"""
from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
from pathlib import Path

FILESTORAGE_DIR = "filestorage"
BLOBS_DIR = "blobs"
PG_DIR = "postgresql"


class BackupError(Exception):
    """A backup or restore could not be done; the message says why and what to do."""


def _run(argv: list[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{' '.join(argv[:4])}... failed ({result.returncode}): "
                          f"{(result.stderr or result.stdout).strip()[-2000:]}")
    return result.stdout


def repozo(*args: str) -> str:
    return _run([sys.executable, "-m", "ZODB.scripts.repozo", *args])


def copy_new_files(source: Path, target: Path, skip: tuple[str, ...] = ("tmp",)) -> int:
    """Copy the files of ``source`` missing (or of another size) in ``target``; return how many were copied."""
    copied = 0
    source = Path(source)
    for dirpath, dirnames, filenames in os.walk(source):
        rel = Path(dirpath).relative_to(source)
        if not rel.parts:
            dirnames[:] = [d for d in dirnames if d not in skip]  # blob uploads in progress
        out_dir = Path(target) / rel
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in filenames:
            src = Path(dirpath) / name
            dst = out_dir / name
            try:
                if dst.exists() and dst.stat().st_size == src.stat().st_size:
                    continue
                tmp = dst.with_name(dst.name + ".part")
                shutil.copy2(src, tmp)
                os.replace(tmp, dst)
                copied += 1
            except FileNotFoundError:
                continue  # removed by a pack meanwhile: it belonged to a revision no longer needed
    return copied


def backup_filestorage(data_fs: str, blob_dir: str | None, destination: str, full: bool = False) -> list[str]:
    """Back up a (possibly live) FileStorage and its blobs into ``destination``; return lines to print."""
    if not data_fs or not os.path.exists(data_fs):
        raise BackupError(f"no FileStorage at {data_fs!r}")
    dest = Path(destination)
    fs_dir = dest / FILESTORAGE_DIR
    fs_dir.mkdir(parents=True, exist_ok=True)
    args = ["-B", "-z", "-r", str(fs_dir), "-f", data_fs]
    if full:
        args.append("-F")
    repozo(*args)
    lines = [f"repozo backup of {data_fs} in {fs_dir}"]
    if blob_dir and os.path.isdir(blob_dir):
        copied = copy_new_files(Path(blob_dir), dest / BLOBS_DIR)
        lines.append(f"{copied} new blob file(s) copied to {dest / BLOBS_DIR}")
    return lines


def _remove_storage_files(data_fs: str) -> None:
    for suffix in ("", ".index", ".lock", ".tmp", ".old", ".pack"):
        path = data_fs + suffix
        if os.path.exists(path):
            os.remove(path)


def check_not_in_use(data_fs: str) -> None:
    """Refuse to restore over a FileStorage another process (ZEO, a worker) holds open."""
    if not os.path.exists(data_fs):
        return
    import zc.lockfile
    try:
        lock = zc.lockfile.LockFile(data_fs + ".lock")
    except zc.lockfile.LockError:
        raise BackupError(f"{data_fs} is open in another process: stop the application workers and the "
                          "ZEO server before restoring") from None
    lock.close()


def restore_filestorage(source: str, data_fs: str, blob_dir: str | None,
                        date: str | None = None) -> list[str]:
    """Replace ``data_fs`` (and ``blob_dir``) with the backup in ``source`` (as of ``date`` if given)."""
    src = Path(source)
    fs_dir = src / FILESTORAGE_DIR
    if not fs_dir.is_dir() or not any(fs_dir.iterdir()):
        raise BackupError(f"no repozo backup in {fs_dir}")
    check_not_in_use(data_fs)
    Path(data_fs).parent.mkdir(parents=True, exist_ok=True)
    restored = data_fs + ".restoring"
    if os.path.exists(restored):
        os.remove(restored)
    args = ["-R", "-r", str(fs_dir), "-o", restored]
    if date:
        args += ["-D", date]
    repozo(*args)
    lines = []
    if os.path.exists(data_fs):
        aside = f"{data_fs}.before-restore-{datetime.datetime.now():%Y%m%d-%H%M%S}"
        shutil.copy2(data_fs, aside)
        lines.append(f"previous database kept as {aside}")
    _remove_storage_files(data_fs)
    os.replace(restored, data_fs)
    lines.append(f"database restored to {data_fs}" + (f" as of {date}" if date else ""))
    blobs = src / BLOBS_DIR
    if blob_dir:
        if blobs.is_dir():
            staging = Path(blob_dir + ".restoring")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(blobs, staging)
            if os.path.isdir(blob_dir):
                shutil.rmtree(blob_dir)
            os.replace(staging, blob_dir)
            lines.append(f"blobs restored to {blob_dir}")
        else:
            lines.append("warning: the backup has no blobs directory; blobs left as they are")
    return lines


def backup_postgresql(dsn: str, destination: str) -> list[str]:
    """``pg_dump`` of the RelStorage database (objects and blobs) into ``destination/postgresql/``."""
    if not shutil.which("pg_dump"):
        raise BackupError("pg_dump is not installed (Debian package postgresql-client)")
    out_dir = Path(destination) / PG_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"compte_citoyen-{datetime.datetime.now():%Y%m%d-%H%M%S}.dump"
    _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", f"--dbname={dsn}"])
    return [f"pg_dump of the RelStorage database written to {target}"]


def latest_dump(source: str) -> Path:
    dumps = sorted((Path(source) / PG_DIR).glob("compte_citoyen-*.dump"))
    if not dumps:
        raise BackupError(f"no pg_dump file in {Path(source) / PG_DIR}")
    return dumps[-1]


def restore_postgresql(dsn: str, source: str) -> list[str]:
    """``pg_restore --clean`` the newest dump of ``source`` into the RelStorage database."""
    if not shutil.which("pg_restore"):
        raise BackupError("pg_restore is not installed (Debian package postgresql-client)")
    dump = Path(source) if Path(source).is_file() else latest_dump(source)
    _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
          f"--dbname={dsn}", str(dump)])
    return [f"RelStorage database restored from {dump}"]
