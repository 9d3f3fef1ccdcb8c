"""The OpenAPI 3.1 document, built from the routes' own `endpoint` declarations."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from werkzeug.routing import Rule

from . import __version__
from .api import SPEC_ATTRIBUTE, EndpointSpec
from .errors import HTTP_ERRORS
from .schemas.common import MAX_ID, Body, Query
from .schemas.errors import ErrorResponse

REF_TEMPLATE = "#/components/schemas/{model}"
ERROR_REF = {"$ref": REF_TEMPLATE.format(model="ErrorResponse")}
PATH_PARAMETER = re.compile(r"<(?:(\w+):)?(\w+)>")


def _operations(app: Flask) -> list[tuple[Rule, str, EndpointSpec]]:
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        spec = getattr(app.view_functions[rule.endpoint], SPEC_ATTRIBUTE, None)
        if spec is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule, method.lower(), spec))
    return found


def _path(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID} if converter == "id" else {"type": "string"},
        }
        for converter, name in PATH_PARAMETER.findall(rule.rule)
    ]
    return PATH_PARAMETER.sub(r"{\2}", rule.rule), parameters


def _query_parameters(model: type[BaseModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = schemas[model.__name__]
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema["properties"].items()
    ]


def _operation(spec: EndpointSpec, parameters: list[dict[str, Any]], schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": spec.summary, "tags": [spec.tag]}
    if spec.query is not None:
        parameters = parameters + _query_parameters(spec.query, schemas)
    if parameters:
        operation["parameters"] = parameters
    if spec.roles is not None or spec.refresh:
        operation["security"] = [{"bearerAuth": []}]
        if spec.roles is not None:
            operation["x-roles"] = sorted(spec.roles)
    if spec.body is not None:
        body_schema = {"$ref": REF_TEMPLATE.format(model=spec.body.__name__)}
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body_schema}}}
    if spec.upload is not None:
        form = {"type": "object", "properties": {spec.upload: {"type": "string", "format": "binary"}}}
        operation["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": {**form, "required": [spec.upload]}}},
        }
    success: dict[str, Any] = {"description": "成功"}
    if spec.response is not None:
        response_schema = {"$ref": REF_TEMPLATE.format(model=spec.response.__name__)}
        success["content"] = {spec.produces: {"schema": response_schema}}
    elif spec.produces != "application/json":
        # A download may come in several types (an export as CSV or JSON Lines): one per comma.
        success["content"] = {media: {"schema": {"type": "string"}} for media in spec.produces.split(", ")}
    responses = {str(spec.status): success}
    for status in spec.error_statuses():
        responses[str(status)] = {
            "description": HTTP_ERRORS[status][1],
            "content": {"application/json": {"schema": ERROR_REF}},
        }
    operation["responses"] = responses
    return operation


def build_document(app: Flask) -> dict[str, Any]:
    """Describe every declared route of the app."""
    operations = _operations(app)
    models: dict[str, type[BaseModel]] = {"ErrorResponse": ErrorResponse}
    for _rule, _method, spec in operations:
        for model in (spec.query, spec.body, spec.response):
            if model is not None:
                models[model.__name__] = model
    # Inputs are described as validated, outputs as serialized (defaults differ between the two).
    keyed: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (model, "validation" if issubclass(model, (Body, Query)) else "serialization") for model in models.values()
    ]
    _refs, definitions = models_json_schema(keyed, ref_template=REF_TEMPLATE)
    schemas: dict[str, Any] = definitions.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for rule, method, spec in operations:
        path, parameters = _path(rule)
        paths.setdefault(path, {})[method] = _operation(spec, parameters, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Mirai Knowledge System API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
