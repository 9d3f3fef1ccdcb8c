"""wrk as the load generator: a separate process on loopback, authenticated, rotating through request paths."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from .server import pinned

# The pages' session cookie (mks.tokens.SESSION_COOKIE): it holds the same access token.
SESSION_COOKIE = "mks_session"
# The reference concurrency of every load figure (BENCHMARKS.md: say the concurrency).
CONNECTIONS = 8
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1_000.0, "m": 60_000.0, "h": 3_600_000.0}
_DURATION = r"([\d.]+)(us|ms|s|m|h)"


class WrkError(RuntimeError):
    """wrk failed, or the server answered something other than 2xx/3xx, or sockets failed: no figure."""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput and latency percentiles (from wrk's --latency distribution)."""

    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    connections: int
    seconds: int


def lua_script(paths: Sequence[str], token: str) -> str:
    """A wrk script sending the paths in turn (per connection thread), with the token as the API's bearer
    token and as the pages' session cookie (each reads its own)."""
    quoted = ", ".join(json.dumps(path) for path in paths)
    return (
        f"local paths = {{{quoted}}}\n"
        "local next_path = 0\n"
        f'wrk.headers["Authorization"] = {json.dumps("Bearer " + token)}\n'
        f'wrk.headers["Cookie"] = {json.dumps(f"{SESSION_COOKIE}={token}")}\n'
        "request = function()\n"
        "  next_path = next_path % #paths + 1\n"
        "  return wrk.format(nil, paths[next_path])\n"
        "end\n"
    )


def _milliseconds(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse(output: str, connections: int, seconds: int) -> WrkResult:
    """The figures of wrk's report; raises WrkError on non-2xx/3xx responses or socket errors."""
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        raise WrkError(f"{match.group(1)} responses were not 2xx/3xx:\n{output}")
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        raise WrkError(f"socket errors ({match.group(0)}):\n{output}")
    total = re.search(r"(\d+) requests in ", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(rf"^\s+50%\s+{_DURATION}", output, re.MULTILINE)
    p99 = re.search(rf"^\s+99%\s+{_DURATION}", output, re.MULTILINE)
    if not (total and rate and p50 and p99):
        raise WrkError(f"unreadable wrk report:\n{output}")
    if int(total.group(1)) == 0:
        raise WrkError(f"no request completed:\n{output}")
    return WrkResult(
        requests=int(total.group(1)),
        requests_per_second=float(rate.group(1)),
        p50_ms=_milliseconds(*p50.groups()),
        p99_ms=_milliseconds(*p99.groups()),
        connections=connections,
        seconds=seconds,
    )


def run(
    base_url: str,
    paths: Sequence[str],
    token: str,
    *,
    seconds: float,
    script: Path,
    connections: int = CONNECTIONS,
    cpus: str | None = None,
) -> WrkResult:
    """Load base_url with wrk (one thread, ``connections`` connections) for ``seconds`` (at least 1),
    on ``cpus`` (a taskset list) when given."""
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(lua_script(paths, token))
    whole_seconds = max(1, round(seconds))
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{whole_seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        base_url,
    ]
    completed = subprocess.run(
        pinned(command, cpus), capture_output=True, text=True, timeout=whole_seconds + 60, check=False
    )
    if completed.returncode != 0:
        raise WrkError(f"wrk exited with {completed.returncode}: {completed.stderr}{completed.stdout}")
    try:
        return parse(completed.stdout, connections, whole_seconds)
    except WrkError as error:
        raise WrkError(f"{error}\n{_statuses(base_url, paths, token)}") from None


def answering(base_url: str, paths: Sequence[str], token: str) -> None:
    """Raise WrkError unless every path answers 200 now: wrk counts a 3xx as success, and a page whose
    session was refused answers with a quick redirect to the sign-in page."""
    failing = _failing(base_url, paths, token, ok=range(200, 201))
    if failing:
        raise WrkError(f"not answering 200: {failing}")


def _statuses(base_url: str, paths: Sequence[str], token: str) -> str:
    """Which of the paths fail, asked once each: the diagnosis wrk's report cannot give."""
    return "failing now: " + (_failing(base_url, paths, token, ok=range(200, 400)) or "none")


def _failing(base_url: str, paths: Sequence[str], token: str, *, ok: range) -> str:
    """The paths whose status, asked once each (redirects not followed), is not in ``ok``."""
    headers = {"Authorization": f"Bearer {token}", "Cookie": f"{SESSION_COOKIE}={token}"}
    failing = []
    for path in dict.fromkeys(paths):
        status = requests.get(base_url + path, headers=headers, timeout=60, allow_redirects=False).status_code
        if status not in ok:
            failing.append(f"{status} {path}")
    return "; ".join(failing)
