"""Log lines (mks.logs): JSON with the request's id on every line written while it is served, the error's too.

Through nginx, the id is nginx's (tests/test_proxy.py, on a real gunicorn); here the app's own lines.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from mks import logs
from mks.config import LogFormat

ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def json_lines() -> Iterator[Any]:
    """Configure JSON logs as a serving process does (into a buffer); yields a reader of the lines written."""
    root = logging.getLogger()
    kept = (root.handlers[:], root.level)
    written = io.StringIO()
    logs.configure(LogFormat.JSON, written)

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in written.getvalue().splitlines()]

    yield read
    root.handlers, root.level = kept[0], kept[1]


@ON_SQLITE
def test_an_errors_lines_carry_the_id_the_answer_returns(app: Flask, json_lines: Any) -> None:
    def fail() -> None:
        raise RuntimeError("a bug")

    app.add_url_rule("/api/v1/fail", "fail", fail)
    response = app.test_client().get(
        "/api/v1/fail",
        headers={"X-Request-ID": "from-an-untrusted-client"},
        environ_base={"REMOTE_ADDR": "192.0.2.10"},  # not a trusted proxy (MKS_TRUSTED_PROXIES): its id is not believed
    )
    assert response.status_code == 500
    assert "a bug" not in response.get_data(as_text=True)
    request_id = response.headers["X-Request-ID"]
    assert len(request_id) == 32 and request_id != "from-an-untrusted-client"
    error, request = json_lines()
    assert (error["logger"], error["level"], error["message"], error["request_id"]) == (
        "mks.errors",
        "ERROR",
        "unhandled error",
        request_id,
    )
    assert error["exception"].splitlines()[-1] == "RuntimeError: a bug"
    assert {
        key: request[key] for key in ("logger", "request_id", "method", "route", "status", "user_id", "client")
    } == {
        "logger": "mks.request",
        "request_id": request_id,
        "method": "GET",
        "route": "/api/v1/fail",
        "status": 500,
        "user_id": None,
        "client": "192.0.2.10",
    }


def test_a_line_outside_a_request_has_no_id(json_lines: Any) -> None:
    logging.getLogger("mks.startup").warning("データベースを待っています")
    [line] = json_lines()
    assert {key: line[key] for key in ("level", "logger", "message", "request_id")} == {
        "level": "WARNING",
        "logger": "mks.startup",
        "message": "データベースを待っています",
        "request_id": None,
    }
