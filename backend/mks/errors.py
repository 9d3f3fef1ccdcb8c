"""The one JSON error envelope, and the handlers that produce it for every failure.

Every error response has the body ``{"error": {"code", "message", "status", "details"?}}``:
``code`` is stable for machines, ``message`` is Japanese for people.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, Response, current_app, has_request_context, jsonify, request
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect

from .db import current_db
from .instrumentation import count_error
from .metrics import ERROR_TYPE_BY_STATUS
from .schemas.common import field_errors
from .services.errors import Conflict, DomainError, Forbidden, InvalidField, NotFound, Unauthenticated

log = logging.getLogger(__name__)
# The app's error page renderers, by the name of the blueprint whose requests they answer.
ERROR_PAGES = "mks_error_pages"
# Its key for requests no route answers (request.blueprint is None).
UNROUTED = None

# Default code and message for each HTTP status the service answers.
HTTP_ERRORS: dict[int, tuple[str, str]] = {
    308: ("moved_permanently", "URL が正規の形に変わりました。Location ヘッダーの URL に送り直してください。"),
    400: ("bad_request", "リクエストが不正です。"),
    401: ("unauthorized", "認証が必要です。"),
    403: ("forbidden", "この操作を行う権限がありません。"),
    404: ("not_found", "指定されたリソースが見つかりません。"),
    405: ("method_not_allowed", "このメソッドは許可されていません。"),
    409: ("conflict", "現在の状態と矛盾するため処理できません。"),
    413: ("payload_too_large", "リクエストボディが大きすぎます。"),
    414: ("uri_too_long", "URL が長すぎます。"),
    415: ("unsupported_media_type", "Content-Type: application/json で送信してください。"),
    422: ("validation_error", "入力内容に誤りがあります。"),
    429: ("rate_limited", "リクエストが多すぎます。しばらく待ってから再試行してください。"),
    431: ("header_fields_too_large", "リクエストヘッダーが大きすぎます。"),
    500: ("internal_error", "サーバー内部でエラーが発生しました。"),
    503: ("service_unavailable", "サービスが一時的に利用できません。"),
}


class ApiError(Exception):
    """An error the API answers on purpose, with a status, a stable code and a Japanese message."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        default_code, default_message = HTTP_ERRORS[status]
        super().__init__(message or default_message)
        self.status = status
        self.code = code or default_code
        self.message = message or default_message
        self.details = details
        self.headers = headers or {}


def error_kind(status: int, code: str, message: str) -> Callable[[], ApiError]:
    """A named error to raise as ``raise KIND()``: a new exception each time, since raising one
    shared instance again prepends to its traceback, which then keeps every raising frame alive."""
    return functools.partial(ApiError, status, code, message)


def error_response(error: ApiError) -> Response:
    """Render an ApiError as the JSON envelope (or a blueprint's error page), counting it in mks_errors_total
    (a redirect is no error)."""
    if error.status >= 400:
        count_error(ERROR_TYPE_BY_STATUS[error.status])
    render_page = _page_renderer() if has_request_context() else None
    if render_page is not None:
        page: Response = render_page(error)
        return page
    body: dict[str, Any] = {"code": error.code, "message": error.message, "status": error.status}
    if error.details is not None:
        body["details"] = error.details
    response = jsonify(error=body)
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def _page_renderer() -> Callable[[ApiError], Response] | None:
    """The error page renderer for this request, if people read its answer, not programs: a blueprint of pages
    (mks.pages), or, for an address no route serves outside the API, a browser (which asks for HTML first)."""
    renderers: dict[str | None, Callable[[ApiError], Response]] = current_app.extensions.get(ERROR_PAGES, {})
    if request.blueprint is not None:
        return renderers.get(request.blueprint)
    browser = request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
    browser = browser and not request.path.startswith("/api/")
    return renderers.get(UNROUTED) if browser else None


def validation_error(exc: ValidationError, location: str) -> ApiError:
    """Turn a pydantic ValidationError into a 422 with one Japanese message per field."""
    return ApiError(422, details=[{"location": location, **error} for error in field_errors(exc, location)])


# How the API answers each kind of domain refusal.
DOMAIN_STATUSES: dict[type[DomainError], int] = {
    NotFound: 404,
    Conflict: 409,
    Unauthenticated: 401,
    Forbidden: 403,
}


def domain_error(exc: DomainError) -> ApiError:
    """The API's answer to a refusal of a use case: its kind's status, with the refusal's code, message, details."""
    if isinstance(exc, InvalidField):
        # Reached from a page's form only (an API endpoint names the field's location itself): the field's own
        # message is the one to show.
        return invalid_field_error(exc, "body", message=exc.message)
    status = next(code for kind, code in DOMAIN_STATUSES.items() if isinstance(exc, kind))
    return ApiError(status, exc.code, exc.message, details=exc.details)


def invalid_field_error(exc: InvalidField, location: str, *, message: str | None = None) -> ApiError:
    """A 422 naming the refused field at its location in the request, shaped like a validation error."""
    return ApiError(
        422,
        message=message,
        details=[{"location": location, "field": exc.field, "type": exc.kind, "message": exc.message}],
    )


def _from_http_exception(exc: HTTPException) -> ApiError:
    status = exc.code or 500
    if status not in HTTP_ERRORS:
        status = 500 if status >= 500 else 400
    headers = {}
    if status == 405 and exc.get_response().headers.get("Allow"):
        headers["Allow"] = exc.get_response().headers["Allow"]
    return ApiError(status, headers=headers)


def _relative(url: str) -> str:
    # Only path and query: the Host header is the client's to choose, and must not choose where we send it.
    # Leading slashes are collapsed, since "//host/path" would name another host.
    parts = urlsplit(url)
    return urlunsplit(("", "", "/" + parts.path.lstrip("/"), parts.query, ""))


def _redirect_in_envelope() -> None:
    # Werkzeug's router answers a non-canonical path ("/api/v1//knowledge") with a redirect of its own:
    # HTML, to an absolute URL built from the Host header. Flask passes it by the error handlers.
    if isinstance(request.routing_exception, RequestRedirect):
        raise ApiError(308, headers={"Location": _relative(request.routing_exception.new_url)})


STORAGE_FULL = error_kind(
    503, "storage_full", "データベースの保存領域が不足しているため保存できませんでした。管理者に連絡してください。"
)
POSTGRES_DISK_FULL = "53100"


def _is_storage_full(cause: object) -> bool:
    """Whether a database error says its disk is full (SQLite's SQLITE_FULL, PostgreSQL's disk_full)."""
    return (
        getattr(cause, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        or getattr(cause, "sqlstate", None) == POSTGRES_DISK_FULL
    )


def _rollback() -> None:
    try:
        current_db().session.rollback()
    except Exception:  # the rollback itself may fail when the database is gone
        log.exception("rollback failed")


def init_app(app: Flask) -> None:
    """Answer every failure, expected or not, with the envelope; never leak a stack trace."""

    app.before_request(_redirect_in_envelope)

    @app.errorhandler(ApiError)
    def handle_api_error(exc: ApiError) -> Response:
        return error_response(exc)

    @app.errorhandler(DomainError)
    def handle_domain_error(exc: DomainError) -> Response:
        return error_response(domain_error(exc))

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException) -> Response:
        return error_response(_from_http_exception(exc))

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeoutError)  # every pooled connection busy (a hung database) past the pool timeout
    def handle_database_unavailable(exc: OperationalError | PoolTimeoutError) -> Response:
        cause = getattr(exc, "orig", None)
        _rollback()  # the failed transaction leaves nothing behind
        if _is_storage_full(cause):
            log.error("database storage full: %s", cause)
            return error_response(STORAGE_FULL())
        log.error("database unavailable: %s", cause or exc)
        return error_response(ApiError(503, "database_unavailable", "データベースに接続できません。"))

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        _rollback()
        return error_response(ApiError(500))
