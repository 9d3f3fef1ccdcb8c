"""Response headers that keep browsers safe with a JSON API, CORS closed unless configured, and the
client address taken from X-Forwarded-For only when a trusted reverse proxy sent it."""

from __future__ import annotations

import re

from flask import Flask, Response, request
from flask_cors import CORS

from .config import Settings
from .errors import ApiError
from .proxies import TrustedProxyFix

# The API serves JSON only: nothing may be framed, sniffed, scripted or leaked through the referrer.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


# The longest request target and header field (name, ": " and value) the API reads. gunicorn's own
# limits (gunicorn.conf.py) are above these, so that the app answers first, with the JSON envelope.
MAX_REQUEST_TARGET = 4096
MAX_HEADER_FIELD = 8190


def refuse_oversized_request() -> None:
    """414 for a request target, 431 for a header field, over the API's limits."""
    # gunicorn's RAW_URI is the target as sent; Werkzeug's test client leaves the query out of it.
    if max(len(request.environ.get("RAW_URI", "")), len(request.full_path)) > MAX_REQUEST_TARGET:
        raise ApiError(414)
    if any(len(name) + 2 + len(value) > MAX_HEADER_FIELD for name, value in request.headers.items()):
        raise ApiError(431)


def _exact(origin: str) -> re.Pattern[str]:
    # flask-cors matches its patterns with re.match (unanchored at the end), and strings holding
    # regex characters (an IPv6 "[::1]") as patterns: each origin becomes an escaped, anchored one.
    return re.compile(re.escape(origin) + r"\Z", re.IGNORECASE)


def init_app(app: Flask, settings: Settings) -> None:
    """Add the security headers to every response; allow cross-origin calls only from configured origins;
    believe X-Forwarded-For and X-Forwarded-Proto from trusted proxies only."""
    if settings.trusted_proxies:
        app.wsgi_app = TrustedProxyFix(app.wsgi_app, settings.trusted_proxy_networks)  # type: ignore[method-assign]
    app.before_request(refuse_oversized_request)

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    if settings.cors_origins:
        CORS(
            app,
            resources={r"/api/*": {"origins": [_exact(origin) for origin in settings.cors_origins]}},
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
