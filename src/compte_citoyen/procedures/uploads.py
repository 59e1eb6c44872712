"""Supporting documents: the checks an uploaded file must pass before it is stored as a ZODB blob.

The type is read from the content (magic bytes, and Pillow for images), never from the name or the browser's
``Content-Type``; the size is checked while reading (a huge upload is not read whole); the name is cleaned
(no folder, no control characters, the extension of the real type).
"""
from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass

from ..i18n import _

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
SETTING_MAX_BYTES = "compte_citoyen.procedures.max_upload_bytes"

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
EXTENSIONS = {PDF: "pdf", JPEG: "jpg", PNG: "png"}
ACCEPT = ".pdf,.jpg,.jpeg,.png,application/pdf,image/jpeg,image/png"


class UploadRefused(Exception):
    """A file that cannot be accepted; ``message`` is a translation string telling what to do."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


@dataclass
class CheckedUpload:
    filename: str
    content_type: str
    data: bytes


def max_upload_bytes(settings) -> int:
    try:
        return int(settings.get(SETTING_MAX_BYTES, DEFAULT_MAX_BYTES))
    except (TypeError, ValueError):
        return DEFAULT_MAX_BYTES


def human_size(size: int) -> str:
    """French-style size for messages ("5 Mo", "120 Ko")."""
    if size >= 1024 * 1024:
        value = size / (1024 * 1024)
        return (f"{value:.1f}".rstrip("0").rstrip(".") + " Mo").replace(".", ",")
    return f"{max(1, round(size / 1024))} Ko"


def sniff(data: bytes) -> str | None:
    """The real type of ``data`` (PDF, JPEG or PNG), or None for anything else."""
    if data.startswith(b"%PDF-"):
        if b"%%EOF" not in data[-2048:]:
            return None  # truncated or not really a PDF
        return PDF
    if data.startswith(b"\xff\xd8\xff") or data.startswith(b"\x89PNG\r\n\x1a\n"):
        try:
            from PIL import Image
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
                fmt = image.format
        except Exception:  # Pillow raises many kinds of errors on broken images
            return None
        return {"JPEG": JPEG, "PNG": PNG}.get(fmt)
    return None


_UNSAFE = re.compile(r"[^\w .()+,-]+", re.UNICODE)


def clean_filename(name: str, content_type: str) -> str:
    """A safe display/download name: last path component only, no control or odd characters, the
    extension of the detected type, at most 100 characters."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = _UNSAFE.sub("_", stem).strip(" ._") or "document"
    stem = stem[:90]
    return f"{stem}.{EXTENSIONS[content_type]}"


def read_limited(upload, limit: int) -> bytes:
    """Read an upload (cgi FieldStorage-like, or bytes) without reading more than ``limit + 1`` bytes."""
    if isinstance(upload, (bytes, bytearray)):
        return bytes(upload[: limit + 1])
    handle = getattr(upload, "file", None)
    if handle is None:
        return b""
    handle.seek(0)
    return handle.read(limit + 1)


def check_upload(upload, filename: str, max_bytes: int) -> CheckedUpload:
    """Return the checked file, or raise ``UploadRefused`` with a French message saying what to do."""
    data = read_limited(upload, max_bytes)
    if not data:
        raise UploadRefused(_("The file is empty: choose the file again."))
    if len(data) > max_bytes:
        raise UploadRefused(_("The file is too large (maximum ${size}): reduce it (scan in lower resolution) "
                              "or bring the document to the counter.", mapping={"size": human_size(max_bytes)}))
    content_type = sniff(data)
    if content_type is None:
        raise UploadRefused(_("This file is not a PDF, JPEG or PNG document (or it is damaged): only these "
                              "formats are accepted, whatever the file name."))
    return CheckedUpload(clean_filename(filename, content_type), content_type, data)
