"""Property-based fuzzing of every documented operation, generated from the app's own OpenAPI document.

Schemathesis loads ``/api/openapi.json`` from the real app through its WSGI integration and sends
generated requests (valid and invalid) to each operation on a fresh database that holds a few
entries. Every response must be a non-5xx, with a documented status, content type and body schema.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mks.app import create_app
from mks.http_security import MAX_REQUEST_TARGET

from ..conftest import Auth, make_settings
from ..workflow import step

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Bounded and reproducible for CI: the same examples on every run, no example database, no time limit.
FUZZ_SETTINGS = settings(
    max_examples=30,
    derandomize=True,
    database=None,
    deadline=None,
    # Each test item (operation × database kind) builds its app and database once for all of its examples.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20260101,
        # Authorization is sent by the tests themselves: an admin token, or none at all.
        "generation": {"with-security-parameters": False, "deterministic": True},
        # Invalid data may also be refused for its size before any validation: a URL over the limit is 414,
        # a body over MAX_CONTENT_LENGTH 413.
        "checks": {
            "negative_data_rejection": {"expected-statuses": [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, 413, 414]}
        },
    }
)
LOGOUT = "/api/v1/auth/logout"
REFRESH = "/api/v1/auth/refresh"
SEEDED_IDS = (1, 2, 3)  # the seeded entries; each has revisions 1 and 2, and users 1-4 exist
CATEGORIES = ("施工計画", "品質", "安全", "原価", "出来形")  # created by the initial migration


def _seed(client: FlaskClient, headers: dict[str, str], approver: dict[str, str]) -> None:
    """A few entries with revisions, so generated small ids also reach existing rows: an approved one with a
    pending change, a draft, one in review."""
    for number, steps in enumerate((("submit", "approve"), (), ("submit",)), start=1):
        body = {
            "title": f"鉄筋かぶり厚さの確認 {number}",
            "summary": "配筋検査での確認手順",
            "content": "スペーサーの間隔とかぶり厚さを測定し、写真で記録する。",
            "category": "品質",
            "tags": ["鉄筋", "検査"],
        }
        created = client.post("/api/v1/knowledge", json=body, headers=headers)
        assert created.status_code == 201, created.json
        entry = created.json
        for name in steps:
            entry = step(client, approver if name == "approve" else headers, entry, name)
        if steps[-1:] != ("submit",):  # every entry has a second revision
            updated = client.put(f"/api/v1/knowledge/{entry['id']}", json={"summary": "改訂"}, headers=headers)
            assert updated.status_code == 200, updated.json


def _load_schema() -> schemathesis.BaseSchema:
    """The document the app serves, loaded over WSGI from an app built like the tests' (routes need no data)."""
    with tempfile.TemporaryDirectory() as directory:
        settings = make_settings(f"sqlite:///{directory}/unused.sqlite3", Path(directory) / "instance")
        app = create_app(settings)
        try:
            return schemathesis.openapi.from_wsgi("/api/openapi.json", app, config=CONFIG)
        finally:
            app.extensions["mks_db"].engine.dispose()


# Loaded at import because schemathesis' fixture-based loader (`schemathesis.pytest.from_fixture`) does not run
# under pytest 9.2 (it sets `Function._nodeid`, which pytest no longer has). Requests go to each test's own app.
schema = _load_schema()


@schema.hook
def flatmap_case(context: schemathesis.HookContext, case: schemathesis.Case) -> st.SearchStrategy[schemathesis.Case]:
    """Aim about half the valid cases at rows that exist: ids and category names the schema cannot know."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return st.just(case)
    ids = st.fixed_dictionaries({name: st.sampled_from(SEEDED_IDS) for name in case.path_parameters or {}})
    return st.tuples(st.booleans(), ids, st.sampled_from(CATEGORIES)).map(lambda drawn: _aimed(case, *drawn))


def _aimed(case: schemathesis.Case, aim: bool, ids: dict[str, int], category: str) -> schemathesis.Case:
    """The case, or when aimed, the same case addressing the drawn ids and category."""
    if aim:
        case.path_parameters = {**(case.path_parameters or {}), **ids}
        if isinstance(case.body, dict) and "category" in case.body:
            case.body = {**case.body, "category": category}
        if case.query and "category" in case.query:
            case.query = {**case.query, "category": category}
    return case


@pytest.fixture
def fuzz_app(app: Flask, client: FlaskClient, admin: dict[str, str], approver: dict[str, str]) -> Flask:
    """The test's app on a database with a few entries, serving the very document the cases come from."""
    assert client.get("/api/openapi.json").json == schema.raw_schema
    _seed(client, admin, approver)
    return app


def _admin_headers(case: schemathesis.Case, auth: Auth, admin: dict[str, str]) -> dict[str, str]:
    """The admin's bearer token; the auth routes that spend or need another token get their own."""
    if case.operation.path == LOGOUT:  # revokes the token it is called with
        return auth.headers("admin")
    if case.operation.path == REFRESH:
        return {"Authorization": f"Bearer {auth.tokens('admin')['refresh_token']}"}
    return admin


@schema.parametrize()
@FUZZ_SETTINGS
def test_fuzz_as_admin(case: schemathesis.Case, fuzz_app: Flask, auth: Auth, admin: dict[str, str]) -> None:
    """Any generated request by an admin: no server error, and the answer is as documented."""
    case.call_and_validate(app=fuzz_app, headers=_admin_headers(case, auth, admin), checks=CHECKS)


@schema.include(method="GET").parametrize()
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # refused before any query: one kind is enough
@FUZZ_SETTINGS
def test_fuzz_anonymous_reads(case: schemathesis.Case, fuzz_app: Flask) -> None:
    """Any generated read without a token: 401 where the route needs one, else as documented."""
    response = case.call_and_validate(app=fuzz_app, checks=CHECKS)
    if case.method.upper() != case.operation.method.upper() or not case.operation.definition.raw.get("security"):
        return  # a public route, or the coverage phase trying another method on the path (405)
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH):
        assert response.status_code in (401, 404), response.text  # an impossible id matches no route
    elif _request_target_length(response) > MAX_REQUEST_TARGET or response.status_code == 414:
        # Refused for its size, before authentication. The server measures the target as the WSGI
        # client encoded it, which may escape characters the recorded URL keeps (at most 3 for 1).
        assert response.json()["error"]["code"] == "uri_too_long", response.text
        assert 3 * _request_target_length(response) > MAX_REQUEST_TARGET, response.text
    else:
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "token_missing"


def _request_target_length(response: Response) -> int:
    target = urlsplit(response.request.url)
    return len(target.path) + len(target.query) + 1
