"""The service's logs: a line per event, as JSON (MKS_LOG_FORMAT=json, production's default) or as text, and
a line per request; every line written while a request is served carries its id.

The id is the proxy's ``X-Request-ID`` (nginx's ``$request_id``), believed from a trusted proxy only
(MKS_TRUSTED_PROXIES, as X-Forwarded-For), else a new one; the answer returns it, so that a user's
report, nginx's access log and the app's lines meet on one value.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from flask import Flask, g, has_app_context

from .config import LogFormat
from .metrics import endpoint_label
from .proxies import from_trusted_proxy

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy's id may be: nginx's is 32 hex digits; a longer or stranger one is not copied into logs.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"

_request_id: ContextVar[str | None] = ContextVar("mks_request_id", default=None)
request_log = logging.getLogger("mks.request")


class _RequestId(logging.Filter):
    """Adds the id of the request being served (None outside one) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, request_id, a request's fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(log_format: LogFormat, stream: TextIO | None = None) -> None:
    """Write every logger's records to ``stream``, by default standard error (gunicorn's error log, journald),
    in the format chosen."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format is LogFormat.JSON else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(_RequestId())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)


def _user_id() -> int | None:
    # Read while Flask still has the request's context (the response is being started).
    user = g.get("mks_user") if has_app_context() else None
    return user.id if user is not None else None


class RequestLog:
    """WSGI middleware inside the trusted-proxy fix: gives each request its id, returns it, logs the request.

    The line: method, route template (as the metrics label it), status, duration, the signed-in user's
    id and the client's address as the trusted proxy gave it.
    """

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self._wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        given = environ.get("HTTP_X_REQUEST_ID")
        believed = given if from_trusted_proxy(environ) and given and REQUEST_ID.fullmatch(given) else None
        request_id = believed or uuid.uuid4().hex
        token = _request_id.set(request_id)
        fields: dict[str, Any] = {}

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append((REQUEST_ID_HEADER, request_id))
            fields.update(
                method=environ.get("REQUEST_METHOD", ""),
                route=endpoint_label(environ.get("werkzeug.request")),
                status=int(status.split(" ", 1)[0]),
                user_id=_user_id(),
                client=environ.get("REMOTE_ADDR"),
            )
            return start_response(status, headers, exc_info)

        started = time.perf_counter()
        try:
            return self._wsgi_app(environ, start)
        finally:
            if fields:  # not when the server stopped the worker mid-request
                fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
                request_log.info(
                    "%s %s %s", fields["method"], fields["route"], fields["status"], extra={"fields": fields}
                )
            _request_id.reset(token)


def init_app(app: Flask) -> None:
    """Wrap the app's WSGI callable: before the trusted-proxy fix wraps it (http_security.init_app)."""
    app.wsgi_app = RequestLog(app.wsgi_app)  # type: ignore[method-assign]
