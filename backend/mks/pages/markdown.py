"""Markdown as HTML a page can show, rendered by markdown-it-py, then sanitized by nh3: an entry's, and the
runbook's (with the anchors its links point at).

Raw HTML in the Markdown is escaped by the renderer, and whatever HTML comes out is cleaned to
an allow-list of tags and attributes (no script, no style attribute, no event handler) with
links only to http, https and mailto: an entry is written by one person and read by many.
"""

from __future__ import annotations

import functools
import itertools
import re

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

_RENDERER = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
_TAGS = {
    *("p", "br", "hr", "blockquote", "pre", "code", "em", "strong", "del", "a", "img"),
    *("h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li"),
    *("table", "thead", "tbody", "tr", "th", "td"),
}
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
}


def _clean(html: str, attributes: dict[str, set[str]], link_rel: str) -> str:
    return nh3.clean(
        html, tags=_TAGS, attributes=attributes, url_schemes={"http", "https", "mailto"}, link_rel=link_rel
    )


# Texts longer than this are rendered every time: the cache stays under about 12 MB per worker whatever is stored.
_REMEMBERED_CHARS = 20_000


def to_html(markdown: str) -> str:
    """The sanitized HTML of the Markdown."""
    return _clean(_RENDERER.render(markdown), _ATTRIBUTES, "noopener noreferrer nofollow")


_remembered_html = functools.lru_cache(maxsize=128)(to_html)


def entry_html(markdown: str) -> str:
    """to_html of a stored entry's text, remembered for the texts read most: the same few entries are opened
    again and again (the morning meeting's, a site's pinned ones), and a text changes only with a new version."""
    return _remembered_html(markdown) if len(markdown) <= _REMEMBERED_CHARS else to_html(markdown)


def heading_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading, which alerts' runbook_url and the docs link to."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchor_headings(state: StateCore) -> None:
    tokens = state.tokens
    for opening, inline in itertools.pairwise(tokens):
        if opening.type == "heading_open":
            words = "".join(child.content for child in inline.children or [] if child.type in ("text", "code_inline"))
            opening.attrSet("id", heading_anchor(words))


_DOCUMENT_RENDERER = MarkdownIt("commonmark", {"html": False}).enable("table")
_DOCUMENT_RENDERER.core.ruler.push("heading_anchors", _anchor_headings)


def document_html(markdown: str) -> str:
    """The sanitized HTML of a document of ours (the runbook), each heading with its anchor as id."""
    headings = {f"h{level}": {"id"} for level in range(1, 7)}
    return _clean(_DOCUMENT_RENDERER.render(markdown), _ATTRIBUTES | headings, "noopener noreferrer")
