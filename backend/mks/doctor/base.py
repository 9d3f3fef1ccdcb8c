"""What every check shares: its result, where the components listen, and the HTTP client."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

TIMEOUT_SECONDS = 5


class CheckStatus(StrEnum):
    """The verdict of one check (not a knowledge entry's workflow status, `models.Status`)."""

    OK = "OK"
    WARNING = "警告"
    NG = "NG"


@dataclass(frozen=True)
class Result:
    """The outcome of one check: what was looked at, what was found, and the fix when not OK."""

    name: str
    status: CheckStatus
    message: str
    fix: str = ""

    def line(self) -> str:
        """One line for people."""
        text = f"[{self.status.value}] {self.name}: {self.message}"
        return f"{text}\n       → 対処: {self.fix}" if self.fix else text


@dataclass(frozen=True)
class Endpoints:
    """Where the components listen, and the credentials to use."""

    backend: str = "http://localhost:5100"
    prometheus: str = "http://localhost:9090"
    alertmanager: str | None = None
    grafana: str | None = None
    grafana_user: str = "admin"
    grafana_password: str | None = None
    metrics_headers: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    """A component did not answer, or answered with an error status."""


def get(url: str, headers: dict[str, str] | None = None) -> bytes:
    """The body of a GET; HttpError when the component does not answer or answers with an error status."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        raise HttpError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise HttpError(str(getattr(exc, "reason", exc))) from None


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    """The decoded JSON body of a GET."""
    return json.loads(get(url, headers))


def prometheus_data(endpoints: Endpoints, path: str) -> Any:
    """The `data` of a Prometheus HTTP API answer (`/api/v1/<path>`)."""
    return get_json(f"{endpoints.prometheus}/api/v1/{path}")["data"]
