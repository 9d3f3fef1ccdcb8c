"""Long-term storage, run for real: Debian's victoria-metrics as the remote_write target of the Prometheus that
`setup-monitoring.sh up --native` starts with MKS_REMOTE_WRITE_URL, scraping a real gunicorn backend every second.

After REQUESTS requests to /health, at one evaluation time `at` VictoriaMetrics must hold and answer what Prometheus
does: the raw samples of the route's counter, timestamps and values, ending at the count before plus REQUESTS; and
the answer to every query of the backend's four dashboards (test_live_stack.py's panel queries), labels and values:

- the same, for the queries that read stored series, raw or recorded by Prometheus's rules (remote_write sends those
  too: VictoriaMetrics evaluates no rule), to the 13 significant digits VictoriaMetrics keeps of a float;
- within RATE_TOLERANCE for those that compute rate() themselves, which the two compute differently: Prometheus
  extrapolates the increase in the window to its edges, VictoriaMetrics counts it from the sample before the window
  and divides by the time since that sample.

VictoriaMetrics' series carry the external label Prometheus's remote_write adds (system), which Prometheus's own
answers do not: it is compared, then set aside. VictoriaMetrics leaves NaN values out of its answers, where
Prometheus answers NaN (a quantile of no request): those series are compared as absent.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import requests
import yaml

from ..servers import GUNICORN, backend_env, free_port, serve
from ..tools import require_tools
from .stack import MONITORING, api, native_prometheus, process, script_env, wait_for, wait_for_target
from .test_live_stack import VARIABLES, panel_queries

REQUESTS = 25
ROUTE_SELECTOR = 'mks_http_requests_total{job="mks-backend",method="GET",endpoint="/health",status="200"}'
EXTERNAL_LABELS = {"system": "mirai-knowledge-system"}  # prometheus.yml's global.external_labels
# The dashboards' $__rate_interval here: 10 scrapes, where Grafana's is at least 4 (the datasource's timeInterval).
# test_live_stack.py's 1m would reach back before this young Prometheus's first scrape, where the two differ by far.
RATE_WINDOW = 10
# A burst inside the window: VictoriaMetrics' rate is S / (S + 1) of Prometheus's, S the span of the window's samples
# (RATE_WINDOW - 2 to RATE_WINDOW seconds), so 0.89 at worst; a steady rate is the same in both.
RATE_TOLERANCE = 0.15
# VictoriaMetrics keeps about 13 significant digits of a float (whole numbers, as the counters, exactly).
STORED_PRECISION = 1e-12
# The request rate panels: the rules' recorded rates, or rate() of the counter.
REQUEST_RATE = r"mks_http_requests:rate5m|rate\(mks_http_requests_total"
SECONDS = 30  # bound of every wait


class Stores(NamedTuple):
    prometheus: str
    victoria_metrics: str
    at: str  # the evaluation time of every comparison, Unix seconds
    before: float  # the route's counter before the requests


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("victoria-metrics")


@pytest.fixture(scope="module")
def victoria_metrics(workdir: Path) -> Iterator[str]:
    """victoria-metrics on a free loopback port and a fresh storage folder, until the module ends."""
    require_tools("victoria-metrics", packages="victoria-metrics")
    url = f"http://127.0.0.1:{free_port()}"
    command = [
        "victoria-metrics",
        f"-httpListenAddr={url.removeprefix('http://')}",
        f"-storageDataPath={workdir / 'storage'}",
        # By default the newest 30 s are left out of answers (waiting for late samples) and answers are cached:
        # the comparisons query a moment already written, and the waits poll as the samples arrive.
        "-search.latencyOffset=0s",
        "-search.disableCache",
    ]
    with process(command) as running:

        def healthy() -> bool:
            assert running.poll() is None, f"victoria-metrics exited with {running.returncode}"
            try:
                return requests.get(f"{url}/health", timeout=1).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for("victoria-metrics never answered /health", healthy, SECONDS)
        yield url


@pytest.fixture(scope="module")
def backend(workdir: Path) -> Iterator[str]:
    yield from serve(GUNICORN, backend_env(workdir / "instance", workers="1", env="development"))


@pytest.fixture(scope="module")
def prometheus(backend: str, victoria_metrics: str, workdir: Path) -> Iterator[str]:
    env = script_env(backend, workdir / "prometheus") | {"MKS_REMOTE_WRITE_URL": f"{victoria_metrics}/api/v1/write"}
    yield from native_prometheus(env)


def counter(store: str, at: str) -> list[float]:
    """The values of the route's counter series at `at`."""
    return [float(row["value"][1]) for row in api(store, "query", query=ROUTE_SELECTOR, time=at)["result"]]


def exported(victoria_metrics: str, match: str, start: float, end: float) -> list[dict[str, Any]]:
    """VictoriaMetrics' raw samples of the series matching `match` between start and end, one dict a series."""
    params = {"match[]": match, "start": str(start), "end": str(end)}
    response = requests.get(f"{victoria_metrics}/api/v1/export", params=params, timeout=10)
    response.raise_for_status()
    return [json.loads(line) for line in response.text.splitlines()]


@pytest.fixture(scope="module")
def stores(prometheus: str, victoria_metrics: str, backend: str) -> Stores:
    """Both stores after the requests, once VictoriaMetrics holds every sample up to `at`."""
    wait_for_target(prometheus, "up")
    up_since = time.time()
    [before] = counter(prometheus, str(up_since))
    # The requests inside the RATE_WINDOW before `at`, a window that starts after the first scrapes.
    time.sleep(RATE_WINDOW - 2)
    for _ in range(REQUESTS):
        assert requests.get(f"{backend}/health", timeout=10).status_code == 200
    wait_for(
        "Prometheus never counted the requests",
        lambda: counter(prometheus, str(time.time())) == [before + REQUESTS],
        SECONDS,
    )
    at = max(time.time(), up_since + RATE_WINDOW + 2)
    time.sleep(max(0.0, at - time.time()))

    def caught_up() -> bool:
        """Every series of the job scraped or recorded in the 2 s before `at` has a sample after it: remote_write
        sends each series' samples in order. (Not those that ended earlier, as the ALERTS series of an alert
        pending before the first scrape.)"""
        series = exported(victoria_metrics, '{job="mks-backend"}', at - 2, time.time())
        return bool(series) and all(max(row["timestamps"]) > at * 1000 for row in series)

    wait_for("VictoriaMetrics never received the samples after the requests", caught_up, SECONDS)
    return Stores(prometheus, victoria_metrics, f"{at:.3f}", before)


def test_victoria_metrics_holds_the_samples_prometheus_scraped(stores: Stores) -> None:
    at = float(stores.at)
    [own] = api(stores.prometheus, "query", query=f"{ROUTE_SELECTOR}[1m]", time=stores.at)["result"]
    [written] = exported(stores.victoria_metrics, ROUTE_SELECTOR, at - 60, at)
    assert written["metric"] == {"__name__": "mks_http_requests_total", **own["metric"], **EXTERNAL_LABELS}
    assert list(zip(written["timestamps"], written["values"], strict=True)) == [
        (round(float(stamp) * 1000), float(value)) for stamp, value in own["values"]
    ]
    assert written["values"][-1] == stores.before + REQUESTS
    assert len(written["values"]) >= RATE_WINDOW  # a sample a second since the first scrape


def test_the_counter_queried_back_is_the_requests_sent(stores: Stores) -> None:
    assert counter(stores.victoria_metrics, stores.at) == [stores.before + REQUESTS]
    assert counter(stores.prometheus, stores.at) == [stores.before + REQUESTS]


def answers(store: str, query: str, at: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Labels (external ones checked and set aside) → value of every series of the query's answer at `at`."""
    result = {}
    for row in api(store, "query", query=query, time=at)["result"]:
        labels = row["metric"]
        for name, value in EXTERNAL_LABELS.items():
            assert labels.pop(name, value) == value, (query, row)
        result[tuple(sorted(labels.items()))] = float(row["value"][1])
    return result


def dashboard_queries() -> list[tuple[str, str, str]]:
    """test_live_stack.py's panel queries with $__rate_interval at RATE_WINDOW seconds."""
    window = f"[{VARIABLES['$__rate_interval']}]"
    return [(name, title, expr.replace(window, f"[{RATE_WINDOW}s]")) for name, title, expr in panel_queries()]


def test_every_dashboard_query_answers_as_prometheus_does(stores: Stores) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 25
    differing = []
    for name, title, expr in queries:
        written = answers(stores.victoria_metrics, expr, stores.at)
        # VictoriaMetrics leaves out a series whose value is NaN (a quantile of no request): Grafana draws neither.
        own = answers(stores.prometheus, expr, stores.at)
        own = {labels: value for labels, value in own.items() if not math.isnan(value)}
        tolerance = RATE_TOLERANCE if "rate(" in expr else STORED_PRECISION
        if written != pytest.approx(own, rel=tolerance):
            differing.append((name, title, expr, own, written))
    assert differing == []


def test_the_request_rate_panels_show_the_requests(stores: Stores) -> None:
    """The request rate panels answer on VictoriaMetrics with the /health route's requests (and equal Prometheus's
    answers, as the test above shows)."""
    rates = [(title, expr) for _, title, expr in dashboard_queries() if re.search(REQUEST_RATE, expr)]
    assert [title for title, _ in rates] == [
        "エンドポイント別リクエスト数",
        "HTTPメソッド別リクエスト数",
        "HTTPステータスコード分布",
        "リクエスト数",
        "リクエスト数（ステータス別）",
    ]
    for title, expr in rates:
        assert sum(answers(stores.victoria_metrics, expr, stores.at).values()) > 0, title
    # Every answer so far: the scrapes' /metrics and the REQUESTS on /health, which Prometheus recorded at its rate.
    by_endpoint = answers(stores.victoria_metrics, rates[0][1], stores.at)
    assert {labels for labels, value in by_endpoint.items() if value > 0} == {
        (("endpoint", "/health"),),
        (("endpoint", "/metrics"),),
    }


def test_the_alert_lists_stay_with_prometheus(stores: Stores) -> None:
    """VictoriaMetrics evaluates no rule: the alert list panels, which read the datasource's alerts, show none on it
    (docs/monitoring.md says so), while Prometheus's rules and alerts go on as before."""
    assert api(stores.victoria_metrics, "rules") == {"groups": []}
    assert api(stores.victoria_metrics, "alerts") == {"alerts": []}
    assert len(api(stores.prometheus, "rules")["groups"]) > 0


def test_compose_prometheus_writes_where_the_variable_says(tmp_path: Path) -> None:
    """Compose mode (no Docker needed): the copy compose mounts is the shipped file plus remote_write."""
    (tmp_path / "prometheus").mkdir()
    shutil.copy(MONITORING / "setup-monitoring.sh", tmp_path)
    shutil.copy(MONITORING / "prometheus" / "prometheus.yml", tmp_path / "prometheus")
    url = "http://victoria-metrics:8428/api/v1/write"
    script = tmp_path / "setup-monitoring.sh"
    command = ["bash", "-c", 'source "$1" check && write_compose_config', "bash", str(script)]
    env = {"PATH": "/usr/bin:/bin", "MKS_REMOTE_WRITE_URL": url}
    written = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert written.returncode == 0, written.stdout + written.stderr
    config = yaml.safe_load((tmp_path / ".linked" / "prometheus.yml").read_text())
    shipped = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text())
    assert config == shipped | {"remote_write": [{"url": url}]}
    assert "remote_write" not in shipped
