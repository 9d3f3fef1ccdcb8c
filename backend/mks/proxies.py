"""Requests through a trusted reverse proxy (MKS_TRUSTED_PROXIES): whose forwarded headers are believed.

Imports nothing of the app's own, so that every middleware may ask from_trusted_proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.middleware.proxy_fix import ProxyFix

from .config import IPNetwork

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


def from_trusted_proxy(environ: WSGIEnvironment) -> bool:
    """Whether a trusted proxy sent the request, so that its other headers (X-Request-Start, X-Request-ID) are
    believed: TrustedProxyFix ran werkzeug's ProxyFix on it, which keeps the original values under this key."""
    return "werkzeug.proxy_fix.orig" in environ


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
