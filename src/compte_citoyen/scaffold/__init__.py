"""The plugin template: ``compte-citoyen new-plugin NAME`` writes a working procedure-theme plugin.

The template lives in ``template/``: every file is copied with the placeholders ``@@name@@``, ``@@package@@``,
``@@dist@@`` and ``@@title@@`` replaced, in file contents and in path segments; a path segment ending in
``.tmpl`` loses that suffix (so the template itself is never imported, collected by pytest or taken for a
catalogue of the portal).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent / "template"
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
MAX_NAME_LENGTH = 40
SUFFIX = ".tmpl"


class ScaffoldError(ValueError):
    """The plugin cannot be generated; the message says what to change."""


@dataclass(frozen=True)
class PluginNames:
    name: str       # the entry-point name, listed in ``compte_citoyen.plugins``
    package: str    # the import name, also the settings prefix
    dist: str       # the distribution (and folder) name
    title: str      # the theme title shown to citizens

    def replacements(self) -> dict[str, str]:
        return {"@@name@@": self.name, "@@package@@": self.package, "@@dist@@": self.dist,
                "@@title@@": self.title}


def plugin_names(name: str, title: str | None = None) -> PluginNames:
    """Check ``name`` and derive the package, distribution and default title from it."""
    if not NAME_RE.match(name or "") or len(name) > MAX_NAME_LENGTH:
        raise ScaffoldError(
            f"invalid plugin name {name!r}: use lower-case letters, digits and single underscores, "
            f"starting with a letter, at most {MAX_NAME_LENGTH} characters (for example: bibliotheque)")
    title = (title or name.replace("_", " ").capitalize()).strip()
    if not title or any(char in title for char in '"\\\n\r'):
        raise ScaffoldError("invalid title: give a non-empty title without quotes, backslashes or line breaks")
    package = f"compte_citoyen_theme_{name}"
    return PluginNames(name=name, package=package, dist=package, title=title)


def template_files() -> list[Path]:
    return sorted(p for p in TEMPLATE_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _render(text: str, replacements: dict[str, str]) -> str:
    for placeholder, value in replacements.items():
        text = text.replace(placeholder, value)
    return text


def _target_path(relative: Path, replacements: dict[str, str]) -> Path:
    parts = []
    for part in relative.parts:
        part = _render(part, replacements)
        if part.endswith(SUFFIX):
            part = part[: -len(SUFFIX)]
        parts.append(part)
    return Path(*parts)


def generate(name: str, dest: str | Path, title: str | None = None) -> Path:
    """Write the plugin ``compte_citoyen_theme_NAME`` into the folder ``dest``; return the plugin's folder.

    Refuses to overwrite: an existing folder is left untouched.
    """
    names = plugin_names(name, title)
    target = Path(dest) / names.dist
    if target.exists():
        raise ScaffoldError(f"{target} already exists: choose another name or remove that folder first")
    replacements = names.replacements()
    written = []
    for source in template_files():
        path = target / _target_path(source.relative_to(TEMPLATE_DIR), replacements)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_render(source.read_text(encoding="utf-8"), replacements), encoding="utf-8")
        written.append(path)
    leftovers = [str(p) for p in written if "@@" in p.read_text(encoding="utf-8") or "@@" in str(p)]
    if leftovers:  # pragma: no cover - a template bug, caught by the scaffold tests
        raise ScaffoldError(f"unreplaced placeholders in {', '.join(leftovers)}")
    return target
