"""Every page template renders a standards-mode HTML5 document with no inline script or style."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PAGE_TEMPLATES = sorted(p for base in ("src", "plugins") for p in (ROOT / base).rglob("*.pt")
                        if "use-macro=\"layout" in p.read_text(encoding="utf-8") and ".venv" not in p.parts)
ALL_TEMPLATES = sorted(p for base in ("src", "plugins") for p in (ROOT / base).rglob("*.pt") if ".venv" not in p.parts)


@pytest.mark.parametrize("path", PAGE_TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_template_starts_with_doctype(path):
    assert path.read_text(encoding="utf-8").lstrip().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("path", ALL_TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_inline_script_style_or_handler(path):
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script> (CSP forbids it)"
    assert not re.search(r"\sstyle=\"", text), "inline style attribute (CSP forbids it)"
    assert not re.search(r"\son[a-z]+=\"", text), "inline event handler (CSP forbids it)"
    assert not re.search(r"(src|href)=\"(https?:)?//", text), "external asset"
