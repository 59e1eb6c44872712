"""Every French catalogue of the core and of the plugins is complete: no empty or fuzzy translation, and no
translation that drops or invents a ``${placeholder}`` (the value would silently vanish from the page).

Only catalogues that exist are checked: each area ships its own ``locale/fr/LC_MESSAGES/compte_citoyen.po``.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def catalogues() -> list[Path]:
    found = list((ROOT / "src").glob("**/locale/*/LC_MESSAGES/*.po"))
    found += list((ROOT / "plugins").glob("**/locale/*/LC_MESSAGES/*.po"))
    return sorted(p for p in found if ".venv" not in p.parts)


CATALOGUES = catalogues()


def test_the_core_catalogue_exists():
    assert ROOT / "src/compte_citoyen/locale/fr/LC_MESSAGES/compte_citoyen.po" in CATALOGUES


@pytest.mark.parametrize("po_path", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_catalogue_is_complete(po_path):
    with open(po_path, "rb") as po_file:
        catalog = read_po(po_file)
    assert catalog.domain in (None, "compte_citoyen") and po_path.stem == "compte_citoyen", \
        "catalogues use the single domain compte_citoyen"
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
        strings = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
        where = f"{po_path.relative_to(ROOT)}:{message.lineno}: {ids[0]!r}"
        if not all(strings):
            problems.append(f"{where}: empty translation")
            continue
        if message.fuzzy:
            problems.append(f"{where}: fuzzy (not used once compiled)")
        expected = set().union(*(PLACEHOLDER.findall(text) for text in ids))
        for string in strings:
            found = set(PLACEHOLDER.findall(string))
            # a plural form may leave out the count ("un élément"), never invent a name
            if (found != expected) if len(ids) == 1 else not found <= expected:
                problems.append(f"{where}: placeholders {sorted(expected)} not kept in {string!r}")
    assert not problems, "\n".join(problems)


def test_one_translation_per_message_across_catalogues():
    """Pyramid merges the catalogues of the domain: a message id translated two ways shows either one,
    depending on the order the directories were registered (the nav tab "My requests" must read "Mes Demandes"
    everywhere). A plugin that needs another wording uses a more specific message id."""
    variants: dict[str, dict[str, list[str]]] = {}
    for po_path in CATALOGUES:
        with open(po_path, "rb") as po_file:
            catalog = read_po(po_file)
        for message in catalog:
            if message.id and message.string and not isinstance(message.id, (list, tuple)):
                variants.setdefault(message.id, {}).setdefault(message.string, []).append(
                    str(po_path.relative_to(ROOT)).split("/locale/")[0])
    conflicts = [f"{msgid!r}: " + "; ".join(f"{string!r} in {', '.join(owners)}" for string, owners in found.items())
                 for msgid, found in sorted(variants.items()) if len(found) > 1]
    assert not conflicts, "\n".join(conflicts)
