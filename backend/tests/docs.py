"""The docs' code blocks, for the tests that run them or compare them with the code: what an operator copies from
docs/ is what these tests check."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def code_blocks(document: str, heading: str, language: str) -> list[str]:
    """The fenced blocks of the language in the section `## heading` of docs/<document> (up to the next `## `)."""
    text = (DOCS / document).read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end >= 0 else len(text)]
    return re.findall(rf"^```{language}\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
