"""Imports through the API, for tests: upload a file, wait (bounded) for its job to end."""

from __future__ import annotations

import io
import time
from typing import Any

from flask.testing import FlaskClient

IMPORTS = "/api/v1/imports"
CSV = (
    "title,summary,category,owner,content,tags,status,priority,project,external_id\n"
    "鉄筋のかぶり厚さ確認,配筋検査の要点,品質,工事部,スペーサーの間隔を測る。,鉄筋、かぶり厚さ,approved,high,P-001,old-1\n"
    "足場の始業前点検,,安全,,手すりを確認する。,足場,,,,old-2\n"
)


def upload(client: FlaskClient, headers: dict[str, str], text: str, name: str = "upstream.csv", **query: str) -> Any:
    form = {"file": (io.BytesIO(text.encode()), name)}
    return client.post(IMPORTS, query_string=query, data=form, headers=headers, content_type="multipart/form-data")


def finished(client: FlaskClient, headers: dict[str, str], job_id: int) -> dict[str, Any]:
    """The job once it has ended (bounded wait: it runs on a thread of the app)."""
    for _ in range(600):
        job: dict[str, Any] = client.get(f"{IMPORTS}/{job_id}", headers=headers).json
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"import {job_id} did not end: {job}")


def imported(client: FlaskClient, headers: dict[str, str], text: str = CSV) -> dict[str, Any]:
    """A finished import of the file."""
    response = upload(client, headers, text)
    assert response.status_code == 202, response.json
    return finished(client, headers, response.json["id"])
