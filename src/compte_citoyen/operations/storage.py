"""Which storage an ini file uses, and where its files are: what backup, restore and pack need to know."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

FILE = "filestorage"
ZEO = "zeo"
RELSTORAGE = "relstorage"
MEMORY = "memory"


@dataclass
class StorageInfo:
    """The storage of a deployment: its kind and, for FileStorage (direct or behind ZEO), its files."""

    kind: str
    uri: str
    data_fs: str | None = None
    blob_dir: str | None = None
    dsn: str | None = None

    @property
    def has_files(self) -> bool:
        return self.data_fs is not None


def parse_zeo_conf(path: str) -> tuple[str | None, str | None]:
    """The ``path`` and ``blob-dir`` of the first ``<filestorage>`` section of a ZEO server configuration.

    Read as text on purpose: loading it with ZEO's ZConfig schema checks that the pid and log directories exist,
    which they do not on a machine that only runs backups.
    """
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    match = re.search(r"<filestorage[^>]*>(.*?)</filestorage>", text, re.S | re.I)
    if not match:
        return None, None
    values = {}
    for line in match.group(1).splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            key, _, value = line.partition(" ")
            values[key.lower()] = value.strip()
    return values.get("path"), values.get("blob-dir")


def _zeo(settings: dict, uri: str) -> StorageInfo:
    """A ZEO client: the server's files are named in its configuration (``compte_citoyen.zeo_conf``)."""
    conf = settings.get("compte_citoyen.zeo_conf")
    data_fs = blob_dir = None
    if conf and os.path.exists(conf):
        data_fs, blob_dir = parse_zeo_conf(conf)
    return StorageInfo(ZEO, uri, data_fs=data_fs, blob_dir=blob_dir)


def storage_info(settings: dict) -> StorageInfo:
    """Describe the storage named by ``zodbconn.uri`` (and ``compte_citoyen.zeo_conf`` for ZEO)."""
    uri = settings.get("zodbconn.uri", "memory://")
    scheme = uri.split(":", 1)[0].lower()
    if scheme == "file":
        parts = urlsplit(uri)
        query = dict(parse_qsl(parts.query))
        return StorageInfo(FILE, uri, data_fs=parts.path, blob_dir=query.get("blobstorage_dir"))
    if scheme == "zeo":
        return _zeo(settings, uri)
    if scheme == "zconfig":
        from zodburi import resolve_uri
        factory, _dbkw = resolve_uri(uri)
        config = getattr(getattr(factory, "__self__", None), "config", None)
        if hasattr(config, "server") and hasattr(config, "server_sync"):  # <clientstorage>: a ZEO client
            return _zeo(settings, uri)
        adapter = getattr(config, "adapter", None)
        if adapter is not None and hasattr(adapter.config, "dsn"):
            return StorageInfo(RELSTORAGE, uri, dsn=adapter.config.dsn, blob_dir=config.blob_dir)
        path = getattr(getattr(config, "config", None), "path", None) or getattr(config, "path", None)
        if path:
            return StorageInfo(FILE, uri, data_fs=path, blob_dir=getattr(config, "blob_dir", None))
        raise ValueError(f"unsupported storage in {uri}")
    if scheme in ("postgres", "postgresql"):
        parts = urlsplit(uri)
        dsn = " ".join(f"{k}={v}" for k, v in (("dbname", parts.path.lstrip("/")), ("host", parts.hostname),
                                               ("port", parts.port), ("user", parts.username),
                                               ("password", parts.password)) if v)
        return StorageInfo(RELSTORAGE, uri, dsn=dsn)
    return StorageInfo(MEMORY, uri)
