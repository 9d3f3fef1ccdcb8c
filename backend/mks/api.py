"""The `endpoint` decorator: auth, input validation and serialization for a view, plus its OpenAPI entry.

Each API view declares what it reads and returns once; the same declaration validates the request
and documents the route, so the OpenAPI document cannot drift from the code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Response, current_app, request
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter, Map, ValidationError

from .config import Settings
from .errors import ApiError, invalid_field_error, validation_error
from .models import Role
from .schemas.common import MAX_ID
from .security import require_roles, verify_token
from .services.errors import InvalidField
from .services.knowledge import workflow
from .tokens import REFRESH

ANY_ROLE = frozenset(Role)
EDITORS = frozenset({Role.ADMIN, Role.APPROVER, Role.EDITOR})
APPROVERS = frozenset({Role.ADMIN, Role.APPROVER})
ADMINS = frozenset({Role.ADMIN})
# Who may take each review workflow step, for the API's routes and the pages' buttons alike: writers
# submit, approvers (and admins) decide.
STEP_ROLES: dict[workflow.Step, frozenset[Role]] = {
    workflow.SUBMIT: EDITORS,
    workflow.APPROVE: APPROVERS,
    workflow.SEND_BACK: APPROVERS,
    workflow.ARCHIVE: APPROVERS,
    workflow.UNARCHIVE: APPROVERS,
}

SPEC_ATTRIBUTE = "mks_endpoint_spec"


class IdConverter(IntegerConverter):
    """URL converter ``<id:name>``: a positive integer that fits the id columns."""

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, min=1, max=MAX_ID)

    def to_python(self, value: str) -> Any:
        """The id; out of range is 404 for every method (a ValidationError makes the router answer 405)."""
        try:
            return super().to_python(value)
        except ValidationError:
            raise NotFound() from None


@dataclass(frozen=True)
class EndpointSpec:
    """What one API view accepts and answers; read by the validator and by the OpenAPI builder."""

    summary: str
    tag: str
    roles: frozenset[Role] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = field(default_factory=tuple)
    rate_limited: bool = False
    refresh: bool = False  # authenticated by a refresh token instead of an access token
    produces: str = "application/json"  # a file download of several types lists them, separated by ", "
    # A multipart/form-data upload: the form field of the file, passed to the view as ``upload``.
    upload: str | None = None
    # The largest file the upload takes, from the settings.
    upload_max_bytes: Callable[[Settings], int] = field(default=lambda settings: settings.attachment_max_bytes)

    def error_statuses(self) -> list[int]:
        """Every error status the route can answer, for the OpenAPI document."""
        # Any request may be over the URL or header limits (mks.http_security), whatever the route.
        statuses = set(self.errors) | {414, 431, 500}
        if self.roles is not None:
            statuses |= {401, 403} if self.roles != ANY_ROLE else {401}
        if self.refresh:
            statuses.add(401)
        if self.query is not None or self.body is not None:
            statuses.add(422)
        if self.body is not None or self.upload is not None:
            statuses |= {400, 413, 415}
        if self.upload is not None:
            statuses.add(422)
        if self.roles is not None or self.rate_limited:
            statuses.add(429)
        return sorted(statuses)


def _parse_query(model: type[BaseModel]) -> BaseModel:
    # Every parameter is one value: a second one would be silently dropped, so the request is refused.
    repeated = [name for name, values in request.args.lists() if len(values) > 1]
    if repeated:
        message = "同じ項目は 1 回だけ指定してください。"
        raise ApiError(
            422,
            details=[{"location": "query", "field": name, "type": "repeated", "message": message} for name in repeated],
        )
    try:
        return model.model_validate(request.args.to_dict())
    except PydanticValidationError as exc:
        raise validation_error(exc, "query") from None


def _parse_body(model: type[BaseModel]) -> BaseModel:
    if not request.is_json:
        raise ApiError(415)
    try:
        payload = request.get_json(silent=True)
    except RecursionError:  # nesting deeper than the parser's stack: not a body we accept
        payload = None
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_json", "JSON オブジェクトとして解釈できません。")
    try:
        return model.model_validate(payload)
    except PydanticValidationError as exc:
        raise validation_error(exc, "body") from None


@dataclass(frozen=True)
class Upload:
    """An uploaded file: its name as the client gave it (without any folder), and its bytes."""

    filename: str
    data: bytes


def _parse_upload(field_name: str, max_bytes: Callable[[Settings], int]) -> Upload:
    limit = max_bytes(current_app.extensions["mks_settings"])
    # The form's other parts and boundaries ride on top of the file itself.
    request.max_content_length = limit + 64 * 1024
    if request.mimetype != "multipart/form-data":
        raise ApiError(415)
    uploaded = request.files.get(field_name)
    if uploaded is None:
        raise ApiError(
            422, details=[{"location": "body", "field": field_name, "type": "missing", "message": "必須項目です。"}]
        )
    return read_upload(uploaded, limit)


def read_upload(uploaded: FileStorage, limit: int) -> Upload:
    """The file's name (without folders) and bytes; 413 when it is over the limit."""
    try:
        data = uploaded.read(limit + 1)
    finally:  # a large part is spooled to a temporary file: closed here, not at garbage collection
        uploaded.close()
    name = _plain_name(uploaded.filename or "")
    if len(data) > limit:
        shown = f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"
        raise ApiError(413, "payload_too_large", f"ファイルが大きすぎます（{name}、上限 {shown}）。")
    return Upload(name, data)


def _plain_name(name: str) -> str:
    """The file name without folders or control characters (a name is shown and sent back, never a path)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(char for char in base if char.isprintable()).strip()[:255]
    return cleaned or "file"


def _input_location(spec: EndpointSpec, field_name: str) -> str:
    """Where the request carried the field a service refused: the body when the body model has it, else the query."""
    if field_name == spec.upload:
        return "body"
    if spec.body is not None and (spec.query is None or field_name in spec.body.model_fields):
        return "body"
    return "query"


def endpoint(**spec_fields: Any) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """Declare an API view: roles allowed, query and body models, response model and status.

    The view receives the parsed ``query`` and ``body`` as keyword arguments when declared, and
    returns a response model (serialized with the declared status) or a ready Response.

    A service names the input field it refuses (InvalidField) but not where it came from: only
    this wrapper knows which of the declared models the request parsed, so it adds the location
    (``query`` or ``body``) and errors.py renders the 422 like pydantic's own field errors.
    """
    spec = EndpointSpec(**spec_fields)

    def decorate(view: Callable[..., Any]) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapper(**kwargs: Any) -> Response:
            if spec.roles is not None:
                require_roles(spec.roles)
            if spec.refresh:
                verify_token(REFRESH)
            if spec.query is not None:
                kwargs["query"] = _parse_query(spec.query)
            if spec.body is not None:
                kwargs["body"] = _parse_body(spec.body)
            if spec.upload is not None:
                kwargs["upload"] = _parse_upload(spec.upload, spec.upload_max_bytes)
            try:
                result = view(**kwargs)
            except InvalidField as exc:
                raise invalid_field_error(exc, _input_location(spec, exc.field)) from None
            if isinstance(result, Response):
                return result
            # Serialized by pydantic-core in one pass (compact, UTF-8), not via a dict and json.dumps.
            response = (
                Response(result.model_dump_json(), mimetype="application/json") if result is not None else Response()
            )
            response.status_code = spec.status
            return response

        setattr(wrapper, SPEC_ATTRIBUTE, spec)
        return wrapper

    return decorate
