"""Keep the French catalogues up to date: ``make i18n`` (or ``python -m compte_citoyen.i18n_tools``).

Each folder that has a ``locale/`` sub-folder owns the messages of its files (a domain package of the core or a
plugin); the core's own ``locale/`` owns the rest of ``src/compte_citoyen``. Messages are extracted with lingua
into ``locale/compte_citoyen.pot`` and merged into ``locale/fr/LC_MESSAGES/compte_citoyen.po`` with Babel, so
translations already made are kept; new messages arrive empty and are listed by ``--check``.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

DOMAIN = "compte_citoyen"
ROOT = Path(__file__).resolve().parents[2]


def owners() -> list[Path]:
    dirs = [p.parent for p in ROOT.glob("src/compte_citoyen/**/locale") if p.is_dir()]
    dirs += [p.parent for p in ROOT.glob("plugins/*/*/locale") if p.is_dir()]
    return sorted(set(dirs))


def sources(owner: Path, all_owners: list[Path]) -> list[str]:
    nested = [o for o in all_owners if o != owner and owner in o.parents]
    files = []
    for path in owner.rglob("*"):
        if path.suffix not in (".py", ".pt") or any(n in path.parents for n in nested):
            continue
        files.append(str(path.relative_to(ROOT)))
    return sorted(files)


def update(owner: Path, all_owners: list[Path]) -> list[str]:
    locale = owner / "locale"
    pot = locale / f"{DOMAIN}.pot"
    files = sources(owner, all_owners)
    subprocess.run([str(Path(sys.executable).parent / "pot-create"), "-d", DOMAIN, "-o", str(pot), *files],
                   check=True, capture_output=True, cwd=ROOT)
    po_path = locale / "fr" / "LC_MESSAGES" / f"{DOMAIN}.po"
    po_path.parent.mkdir(parents=True, exist_ok=True)
    with open(pot, "rb") as f:
        template = read_po(f)
    if po_path.exists():
        with open(po_path, "rb") as f:
            catalog = read_po(f, locale="fr")
        catalog.update(template, no_fuzzy_matching=True)
    else:
        catalog = template
        catalog.locale = "fr"
    catalog.fuzzy = False
    catalog.project = "Compte Citoyen"
    catalog.version = "1"
    with open(po_path, "wb") as f:
        write_po(f, catalog, width=120, omit_header=False, ignore_obsolete=True)
    return [m.id for m in catalog if m.id and not m.string]


def translate(table_path: str) -> int:
    """Fill empty translations of every catalogue from a file of ``msgid<TAB>msgstr`` lines."""
    table = {}
    for line in Path(table_path).read_text(encoding="utf-8").splitlines():
        if "\t" in line:
            msgid, msgstr = line.split("\t", 1)
            table[msgid] = msgstr
    for po_path in ROOT.glob("**/locale/fr/LC_MESSAGES/*.po"):
        if ".venv" in po_path.parts:
            continue
        with open(po_path, "rb") as f:
            catalog = read_po(f, locale="fr")
        changed = False
        for message in catalog:
            if message.id and not message.string and message.id in table:
                message.string = table[message.id]
                changed = True
        if changed:
            catalog.fuzzy = False
            with open(po_path, "wb") as f:
                write_po(f, catalog, width=120, ignore_obsolete=True)
    return 0


def main(argv=None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    if "--translate" in argv:
        return translate(argv[argv.index("--translate") + 1])
    all_owners = owners()
    missing_total = 0
    for owner in all_owners:
        missing = update(owner, all_owners)
        missing_total += len(missing)
        for msgid in missing:
            print(f"{owner.relative_to(ROOT)}: untranslated: {msgid}")
    return 1 if ("--check" in argv and missing_total) else 0


if __name__ == "__main__":
    sys.exit(main())
