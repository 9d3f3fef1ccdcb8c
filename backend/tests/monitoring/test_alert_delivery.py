"""Which notifications people get, end to end: real gunicorn, Prometheus with the shipped rules, Alertmanager with
the shipped routing and inhibitions, and a local webhook receiver standing for the on-call channel.

Each condition of the incidents that broke the alerting before is driven for real, and the test asserts the
notifications the receiver gets, and their order. The rule expressions and windows are the shipped ones; only
the `for` durations are shortened, every minute to 3 seconds, so that their order is kept (an error-budget
page's 2m before CriticalErrorRate's 3m) and a condition fires within seconds. Prometheus scrapes every 2 s and
evaluates every second; warnings wait 15 s in Alertmanager instead of 5m.

The tests of this module run in order, on one backend, which test_a_stopped_backend_is_told stops; the
e-mail relay test has a stack of its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
import requests
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

from ..servers import GUNICORN, backend_env, free_port, serve
from .alertmanager import WebhookReceiver, alertmanager_binary_path, firing, http, running_alertmanager
from .stack import (
    ALERT_RULES,
    RECORDING_RULES,
    SLO_RULES,
    api,
    bare_prometheus,
    locked_writes,
    login,
    require_prometheus,
    shortened,
    wait_for,
    wait_for_target,
)

SECONDS_PER_MINUTE_OF_FOR = 3
# Alertmanager's wait for warnings, 5m shortened alike: long enough for a page to inhibit its ticket.
WARNING_GROUP_WAIT = f"{5 * SECONDS_PER_MINUTE_OF_FOR}s"
# Prometheus's history before the first requests: rate() divides by the samples' span, so 3 requests in
# the first seconds would be a busy instance.
QUIET_HISTORY_SECONDS = 40
HOST_ALERTS = {f"{level}{resource}Usage" for level in ("High", "Critical") for resource in ("CPU", "Memory", "Disk")}
ERROR_RATE_ALERTS = {"HighErrorRate", "CriticalErrorRate", "MKSErrorBudgetBurn", "MKSErrorBudgetBurnTicket"}
EMPTY_RULES = "groups: []\n"
BROKEN_RULES = "groups:\n  - name: broken\n    rules:\n      - alert: X\n        expr: rate(\n"


def prometheus_config(folder: Path, port: int, alertmanager: str, scrape: dict[str, str]) -> str:
    """Scrape the jobs every 2 seconds, evaluate the shortened shipped rules (and extra.yml), send to Alertmanager."""
    folder.mkdir(parents=True, exist_ok=True)
    rule_files = [
        shortened(path, folder, SECONDS_PER_MINUTE_OF_FOR) for path in (RECORDING_RULES, ALERT_RULES, SLO_RULES)
    ]
    extra = folder / "extra.yml"
    extra.write_text(EMPTY_RULES)
    jobs = "".join(
        f"  - {{job_name: {job}, static_configs: [{{targets: ['{target.removeprefix('http://')}']}}]}}\n"
        for job, target in {**scrape, "prometheus": f"127.0.0.1:{port}"}.items()
    )
    return (
        # A 2 s scrape timeout: a /metrics slowed by the machine's load is not a down backend (MKSBackendDown's
        # `for` is 3 s here, not a minute).
        "global: {scrape_interval: 2s, scrape_timeout: 2s, evaluation_interval: 1s}\n"
        f"rule_files: [{', '.join(str(path) for path in [*rule_files, extra])}]\n"
        "alerting: {alertmanagers: [{static_configs: [{targets: ['" + alertmanager.removeprefix("http://") + "']}]}]}\n"
        f"scrape_configs:\n{jobs}"
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("alert-delivery")


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as webhook:
        yield webhook


@pytest.fixture(scope="module")
def alertmanager(folder: Path, receiver: WebhookReceiver) -> Iterator[str]:
    env = {"ALERT_WEBHOOK_URL": receiver.url, "ALERT_WARNING_GROUP_WAIT": WARNING_GROUP_WAIT}
    with running_alertmanager(alertmanager_binary_path(), folder / "alertmanager", env) as url:
        yield url


@pytest.fixture(scope="module")
def backend(folder: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    """gunicorn (2 workers) on SQLite; a write waits 0.5 s for a lock (fast: the latency SLO stays met)."""
    env = backend_env(
        folder / "instance",
        workers="2",
        env="development",
        database_lock_timeout_seconds="0.5",
        ratelimit_key_prefix=f"mks-delivery-{uuid.uuid4().hex}",
    )
    server = serve(GUNICORN, env)
    with closing(server):
        yield next(server), server.close


@pytest.fixture(scope="module")
def prometheus(folder: Path, backend: tuple[str, Callable[[], None]], alertmanager: str) -> Iterator[str]:
    require_prometheus()
    port = free_port()
    config = prometheus_config(folder / "rules", port, alertmanager, {"mks-backend": backend[0]})
    with bare_prometheus(folder / "prometheus", "--web.enable-lifecycle", config_text=config, port=port) as url:
        wait_for_target(url, "up")
        yield url


def delivered(receiver: WebhookReceiver, since: int = 0) -> list[tuple[str, str]]:
    """(status, alertname) of the alerts of every notification from the `since`-th on, in order of arrival;
    not the host's CPU, memory and disk alerts, which follow the load of the machine running the tests."""
    return [
        (alert["status"], alert["labels"]["alertname"])
        for note in receiver.notifications[since:]
        for alert in note["alerts"]
        if alert["labels"]["alertname"] not in HOST_ALERTS
    ]


def prometheus_started(prometheus: str) -> float:
    """When Prometheus started, on this process's monotonic clock."""
    query = "process_start_time_seconds{job='prometheus'}"
    wait_for(
        "Prometheus never scraped itself", lambda: bool(api(prometheus, "query", query=query)["result"]), seconds=60
    )
    started = api(prometheus, "query", query=query)["result"]
    return time.monotonic() - (time.time() - float(started[0]["value"][1]))


def user_traffic(prometheus: str) -> float:
    found = api(prometheus, "query", query="instance:mks_http_user_requests:rate5m")["result"]
    return float(found[0]["value"][1]) if found else 0.0


def test_database_errors_on_a_quiet_instance_page_once(
    backend: tuple[str, Callable[[], None]], prometheus: str, receiver: WebhookReceiver, folder: Path
) -> None:
    """Two writes fail on a database lock, the only requests besides scrapes and probes: MKSDatabaseErrors pages
    (one failure is enough), and nothing else. Two of three requests failed, but the error-rate and
    error-budget alerts need 0.1 requests a second: a high ratio of almost nothing pages nobody."""
    elapsed = time.monotonic() - prometheus_started(prometheus)
    time.sleep(max(0.0, QUIET_HISTORY_SECONDS - elapsed))  # enough history that 3 requests are a quiet rate
    assert locked_writes(backend[0], folder / "instance", 2, timeout=30) == [503, 503]  # and a login
    wait_for("MKSDatabaseErrors was never delivered", lambda: bool(delivered(receiver)), seconds=60)
    time.sleep(9 * SECONDS_PER_MINUTE_OF_FOR)  # past every error alert's `for` (3m at most) and a warning's wait
    assert user_traffic(prometheus) < 0.1
    assert delivered(receiver) == [("firing", "MKSDatabaseErrors")]


def test_a_lockout_is_told(backend: tuple[str, Callable[[], None]], prometheus: str, receiver: WebhookReceiver) -> None:
    before = len(receiver.notifications)
    for _ in range(5):
        assert login(backend[0], "partner", "wrong").status_code == 401
    assert login(backend[0], "partner", "partner123").status_code == 401  # locked: the same refusal, counted
    wait_for("MKSAccountLocked was never delivered", lambda: bool(delivered(receiver, before)), seconds=60)
    time.sleep(2)
    assert delivered(receiver, before) == [("firing", "MKSAccountLocked")]


def test_a_broken_rule_reload_is_told(prometheus: str, receiver: WebhookReceiver, folder: Path) -> None:
    before = len(receiver.notifications)
    extra = folder / "rules" / "extra.yml"
    extra.write_text(BROKEN_RULES)
    try:
        assert requests.post(f"{prometheus}/-/reload", timeout=10).status_code == 500
        wait_for(
            "PrometheusConfigReloadFailed was never delivered", lambda: bool(delivered(receiver, before)), seconds=90
        )
        assert delivered(receiver, before) == [("firing", "PrometheusConfigReloadFailed")]
    finally:
        extra.write_text(EMPTY_RULES)
        assert requests.post(f"{prometheus}/-/reload", timeout=10).status_code == 200


def test_an_error_burst_pages_once(
    backend: tuple[str, Callable[[], None]], prometheus: str, receiver: WebhookReceiver, folder: Path
) -> None:
    """Far above 15 % errors: the error-budget page fires first and inhibits HighErrorRate and CriticalErrorRate."""
    before = len(receiver.notifications)
    assert set(locked_writes(backend[0], folder / "instance", 60, timeout=30)) == {503}
    wait_for("no page was delivered", lambda: bool(delivered(receiver, before)), seconds=60)
    states = {
        alert["labels"]["alertname"]: alert["state"]
        for alert in api(prometheus, "alerts")["alerts"]
        if alert["labels"]["alertname"] in ("HighErrorRate", "CriticalErrorRate")
    }
    wait_for(
        "CriticalErrorRate never fired",
        lambda: any(
            alert["labels"]["alertname"] == "CriticalErrorRate" and alert["state"] == "firing"
            for alert in api(prometheus, "alerts")["alerts"]
        ),
        seconds=60,
    )
    # HighErrorRate fired with it and the ticket before: past their wait in Alertmanager, inhibited or not.
    time.sleep(6 * SECONDS_PER_MINUTE_OF_FOR)
    error_pages = [
        [alert["labels"]["alertname"] for alert in note["alerts"]]
        for note in receiver.notifications[before:]
        if {alert["labels"]["alertname"] for alert in note["alerts"]} & ERROR_RATE_ALERTS
    ]
    # One notification, the page (of one window pair or both, one group); nothing of the guide's error-rate
    # alerts, nor the ticket. (MKSDatabaseErrors, firing since the first test, is not new.)
    assert len(error_pages) == 1 and set(error_pages[0]) == {"MKSErrorBudgetBurn"}, (error_pages, states)


def test_a_stopped_backend_is_told(
    backend: tuple[str, Callable[[], None]], prometheus: str, receiver: WebhookReceiver
) -> None:
    before = len(receiver.notifications)
    earlier = {name for _status, name in delivered(receiver)}
    stop = backend[1]
    stop()
    wait_for(
        "MKSBackendDown was never delivered",
        lambda: ("firing", "MKSBackendDown") in delivered(receiver, before),
        seconds=60,
    )
    # Meanwhile the earlier incidents' groups may be told again (resolved, or grown): nothing else is new.
    new = {name for status, name in delivered(receiver, before) if status == "firing"} - earlier
    assert new == {"MKSBackendDown"}


def test_a_relay_without_starttls_is_told(folder: Path) -> None:
    """Alertmanager's default require_tls refuses a relay without STARTTLS: every e-mail fails, and the webhook
    says so (AlertmanagerNotificationsFailing, integration email)."""
    require_prometheus()
    relay = Controller(Sink(), hostname="127.0.0.1", port=free_port())  # no TLS context: no STARTTLS offered
    relay.start()
    try:
        with WebhookReceiver() as webhook:
            env = {
                "ALERT_WEBHOOK_URL": webhook.url,
                "ALERT_EMAIL_TO": "ops@example.co.jp",
                "ALERT_EMAIL_FROM": "alertmanager@example.co.jp",
                "ALERT_SMTP_SMARTHOST": f"127.0.0.1:{relay.port}",
            }
            with running_alertmanager(alertmanager_binary_path(), folder / "relay-am", env) as am:
                port = free_port()
                config = prometheus_config(folder / "relay-rules", port, am, {"alertmanager": am})
                with bare_prometheus(folder / "relay-prometheus", config_text=config, port=port):
                    http(f"{am}/api/v2/alerts", [firing("MKSBackendDown", "critical")])
                    # E-mail is retried until the route's group_interval (1m) ends, then counted as failed.
                    wait_for(
                        "AlertmanagerNotificationsFailing was never delivered",
                        lambda: ("firing", "AlertmanagerNotificationsFailing") in delivered(webhook),
                        seconds=150,
                    )
            failing = [
                alert
                for note in webhook.notifications
                for alert in note["alerts"]
                if alert["labels"]["alertname"] == "AlertmanagerNotificationsFailing"
            ]
        assert delivered(webhook)[0] == ("firing", "MKSBackendDown")  # the webhook itself works
        assert {alert["labels"]["integration"] for alert in failing} == {"email"}
    finally:
        relay.stop()
