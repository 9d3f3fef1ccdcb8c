"""Log lines (mks.logs): JSON with the request's id on every line written while it is served, the error's too.

Through nginx, the id is nginx's (tests/test_proxy.py, on a real gunicorn); here the app's own lines.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from flask import Flask

from mks import logs
from mks.config import LogFormat

from .docs import code_blocks

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


# Values that differ per request: as Loki labels, each would open a stream per request, user or route.
NOT_LABELS = {"request_id", "user_id", "client", "route", "status"}


@ON_SQLITE
def test_the_log_shipping_guide_names_the_fields_a_request_line_has(
    app: Flask, json_lines: Any, admin: dict[str, str]
) -> None:
    """docs/monitoring.md's section on shipping the logs: its example line, Promtail's pipeline and the LogQL
    examples name exactly the keys the app writes in a request's line."""
    assert app.test_client().get("/api/v1/knowledge", headers=admin).status_code == 200
    *_, line = [line for line in json_lines() if line["logger"] == "mks.request"]
    heading = "ログの収集（JSON ログの転送）"
    [example] = [json.loads(block) for block in code_blocks("monitoring.md", heading, "json")]
    # The same keys in the same order, each with a value of the same JSON type (user_id: a signed-in user's).
    assert [(key, type(value)) for key, value in example.items()] == [(key, type(value)) for key, value in line.items()]
    [promtail] = [
        yaml.safe_load(block) for block in code_blocks("monitoring.md", heading, "yaml") if "scrape_configs" in block
    ]
    [json_stage, labels_stage] = promtail["scrape_configs"][0]["pipeline_stages"]
    extracted = json_stage["json"]["expressions"]
    assert set(extracted.values()) <= set(line)
    assert set(labels_stage["labels"]) <= set(extracted)
    assert not set(labels_stage["labels"]) & NOT_LABELS
    [logql] = code_blocks("monitoring.md", heading, "logql")
    filtered = {
        name for query in logql.splitlines() for name in re.findall(r"\| (\w+) *(?:=|>|<)", query.split("| json", 1)[1])
    }
    assert filtered == {"request_id", "status", "duration_ms"}
    assert filtered <= set(line)
