"""Response headers that keep browsers safe with a JSON API, and CORS closed unless configured."""

from __future__ import annotations

from flask import Flask, Response
from flask_cors import CORS

from .config import Settings

# The API serves JSON only: nothing may be framed, sniffed, scripted or leaked through the referrer.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def init_app(app: Flask, settings: Settings) -> None:
    """Add the security headers to every response; allow cross-origin calls only from configured origins."""

    @app.after_request
    def add_security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    if settings.cors_origins:
        CORS(
            app,
            resources={r"/api/*": {"origins": settings.cors_origins}},
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
