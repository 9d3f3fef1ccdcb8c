"""Response headers that keep browsers safe with a JSON API, CORS closed unless configured, and the
client address taken from X-Forwarded-For only when a trusted reverse proxy sent it."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask, Response, request
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import IPNetwork, Settings
from .errors import ApiError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

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


class TrustedProxyFix:
    """ProxyFix for requests whose direct peer is a trusted proxy; anyone else's X-Forwarded-* is ignored.

    ProxyFix trusts a number of hops, whoever sent them: wrapped alone, it would let a client that
    reaches the server directly choose its own address for the rate limits and the audit log.
    """

    def __init__(self, wsgi_app: WSGIApplication, proxies: Iterable[IPNetwork]) -> None:
        self._direct = wsgi_app
        # One hop: the trusted proxy appends the address of its own peer, the last X-Forwarded-For entry.
        self._proxied = ProxyFix(wsgi_app, x_for=1, x_proto=1)
        self._proxies = tuple(proxies)

    def is_trusted(self, peer: str | None) -> bool:
        """Whether this direct peer address is one of the trusted proxies."""
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
        return any(address in network for network in self._proxies)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        wsgi_app = self._proxied if self.is_trusted(environ.get("REMOTE_ADDR")) else self._direct
        return wsgi_app(environ, start_response)


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
