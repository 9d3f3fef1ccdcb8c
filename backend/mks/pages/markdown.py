"""An entry's Markdown as HTML a page can show: rendered by markdown-it-py, then sanitized by nh3.

Raw HTML in the Markdown is escaped by the renderer, and whatever HTML comes out is cleaned to
an allow-list of tags and attributes (no script, no style attribute, no event handler) with
links only to http, https and mailto: an entry is written by one person and read by many.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

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


def to_html(markdown: str) -> str:
    """The sanitized HTML of the Markdown."""
    return nh3.clean(
        _RENDERER.render(markdown),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
