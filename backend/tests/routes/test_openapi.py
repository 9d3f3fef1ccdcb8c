"""The OpenAPI document matches the real routes, and real responses match its schemas."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from ..conftest import Auth
from .test_permissions import ROUTES, request_body, route_url

PATH_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json  # type: ignore[no-any-return]


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["info"]["title"] == "Mirai Knowledge System API"


def test_every_route_is_documented_and_nothing_else(app: Flask, document: dict[str, Any]) -> None:
    routes = {
        (PATH_PARAMETER.sub(r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if not rule.endpoint.startswith("pages.")  # the web pages (mks.pages) are no part of the API
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    assert documented == routes
    # 29, the five of /api/v1/templates, a revision's diff and restore, the review queue, the five workflow steps,
    # the five of attachments
    assert len(routes) == 50


def _validate(document: dict[str, Any], template: str, method: str, response: Any) -> None:
    operation = document["paths"][template][method.lower()]
    documented = operation["responses"]
    assert str(response.status_code) in documented, (template, method, response.status_code)
    content = documented[str(response.status_code)].get("content")
    if content is None:
        assert response.get_data() == b""
        return
    if "application/json" not in content:  # a file: bytes without a schema, of the documented type
        assert response.mimetype in content or "application/octet-stream" in content, (template, response.mimetype)
        return
    schema = {**content["application/json"]["schema"], "components": document["components"]}
    Draft202012Validator(schema).validate(response.json)


def _template(path: str) -> str:
    template = re.sub(r"/knowledge/\{(id|draft|review|archived)\}", "/knowledge/{knowledge_id}", path.split("?")[0])
    template = template.replace("{attachment}", "{attachment_id}").replace("{import}", "{job_id}")
    template = re.sub(r"/revisions/[0-9]+", "/revisions/{revision}", template)
    return (
        template.replace("{user}", "{user_id}").replace("{synonym}", "{set_id}").replace("{template}", "{template_id}")
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed", "success"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES]
)
def test_responses_match_documented_schemas(
    client: FlaskClient,
    auth: Auth,
    document: dict[str, Any],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    allowed: set[str],
    success: int,
) -> None:
    admin = auth.headers("admin")
    url, entry_id = route_url(client, auth, path)
    template = _template(path)
    cases = [
        client.open(url, method=method, headers=admin, **request_body(body)),  # success
        client.open(url, method=method, **request_body(body)),  # 401
    ]
    if body is not None:
        cases.append(client.open(url, method=method, json={"unexpected": 1}, headers=admin))  # 422 (415 for an upload)
    if entry_id is not None:
        missing = url.replace(f"/{entry_id}", "/999999")
        cases.append(client.open(missing, method=method, headers=admin, **request_body(body)))
    for response in cases:
        _validate(document, template, method, response)
        response.close()
    assert cases[0].status_code == success


def test_public_routes_match_documented_schemas(client: FlaskClient, document: dict[str, Any]) -> None:
    _validate(document, "/health", "GET", client.get("/health"))
    _validate(document, "/ready", "GET", client.get("/ready"))
    login = client.post("/api/v1/auth/login", json={"username": "admin", "password": "admin-pass-1"})
    _validate(document, "/api/v1/auth/login", "POST", login)
    _validate(
        document,
        "/api/v1/auth/login",
        "POST",
        client.post("/api/v1/auth/login", json={"username": "x", "password": "y"}),
    )
    refresh = client.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {login.json['refresh_token']}"})
    _validate(document, "/api/v1/auth/refresh", "POST", refresh)
