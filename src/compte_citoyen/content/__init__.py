"""Editorial content (FAQ, terms, privacy, accessibility) kept as text per locale.

The markup is deliberately tiny: ``# section``, ``## question``, ``- bullet``, ``1. numbered item``,
any other line is a paragraph. Long editorial texts are translated as whole documents (one file per
locale), not sentence by sentence.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from importlib import resources


@dataclass
class Block:
    kind: str  # 'p', 'ul' or 'ol'
    text: str = ""
    items: list[str] = field(default_factory=list)


@dataclass
class Entry:
    question: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Section:
    title: str
    entries: list[Entry] = field(default_factory=list)


def slugify(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60]


def parse(text: str) -> list[Section]:
    sections: list[Section] = []
    entry: Entry | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("## "):
            if not sections:
                sections.append(Section(""))
            entry = Entry(line[3:].strip(), slugify(line[3:]))
            sections[-1].entries.append(entry)
        elif line.startswith("# "):
            sections.append(Section(line[2:].strip()))
            entry = None
        else:
            if entry is None:
                if not sections:
                    sections.append(Section(""))
                entry = Entry("", "intro")
                sections[-1].entries.append(entry)
            kind, content = "p", line
            if line.startswith("- "):
                kind, content = "ul", line[2:].strip()
            elif re.match(r"^\d+\. ", line):
                kind, content = "ol", line.split(". ", 1)[1].strip()
            if kind == "p":
                entry.blocks.append(Block("p", text=content))
            elif entry.blocks and entry.blocks[-1].kind == kind:
                entry.blocks[-1].items.append(content)
            else:
                entry.blocks.append(Block(kind, items=[content]))
    return sections


@functools.lru_cache(maxsize=None)
def load_document(name: str, locale: str = "fr") -> list[Section]:
    folder = resources.files(__name__)
    path = folder / f"{name}.{locale}.txt"
    if not path.is_file():
        path = folder / f"{name}.fr.txt"
    return parse(path.read_text(encoding="utf-8"))


def load_faq(locale: str = "fr") -> list[Section]:
    return load_document("faq", locale)
