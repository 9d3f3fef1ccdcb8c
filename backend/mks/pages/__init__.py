"""The web pages: Japanese, server-rendered, over the same services, permissions and errors as the API."""

from __future__ import annotations

from flask import Flask

from ..errors import ERROR_PAGES, UNROUTED
from . import account, admin, attachments, catalog, knowledge  # noqa: F401 - each adds its routes to the blueprint
from .common import bp, error_page


def init_app(app: Flask) -> None:
    """Serve the pages, and answer a page request's errors (and a browser's request for an address nothing
    serves) with a Japanese page instead of the JSON envelope."""
    app.register_blueprint(bp)
    renderers = app.extensions.setdefault(ERROR_PAGES, {})
    renderers[bp.name] = renderers[UNROUTED] = error_page
