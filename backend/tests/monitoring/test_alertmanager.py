"""Alertmanager notifications: the renderer, amtool checks, routing of every alert, live inhibition, templates."""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from .alertmanager import (
    WebhookReceiver,
    alertmanager_binary_path,
    firing,
    http,
    load,
    render,
    rendered,
    required_tool,
    running_alertmanager,
)

BACKEND = Path(__file__).resolve().parents[2]
MONITORING = BACKEND / "monitoring"
ALERTMANAGER_DIR = MONITORING / "alertmanager"
CONFIG_TEMPLATE = ALERTMANAGER_DIR / "alertmanager.yml.tmpl"
COMMITTED_CONFIG = ALERTMANAGER_DIR / "alertmanager.yml"
MESSAGE_TEMPLATES = ALERTMANAGER_DIR / "templates" / "mks.tmpl"
ALERT_RULES = MONITORING / "prometheus" / "alert-rules.yml"
SLO_RULES = MONITORING / "prometheus" / "slo-rules.yml"
CONTACT_POINTS = MONITORING / "grafana" / "alerting" / "contact-points.yml"

ALERT_VARIABLES = (
    "ALERT_WEBHOOK_URL",
    "ALERT_EMAIL_TO",
    "ALERT_EMAIL_FROM",
    "ALERT_SMTP_SMARTHOST",
    "ALERT_SMTP_USERNAME",
    "ALERT_SMTP_PASSWORD",
    "ALERT_SLACK_WEBHOOK_URL",
    "ALERT_SLACK_CHANNEL",
    "ALERT_WATCHDOG_URL",
)
# Settings with a default, rather than channels.
ALERT_OPTIONS = {"ALERT_SMTP_REQUIRE_TLS": "true", "ALERT_WARNING_GROUP_WAIT": "5m"}
WEBHOOK = {"ALERT_WEBHOOK_URL": "http://mks-backend:5100/hooks/alerts"}
EMAIL = {
    "ALERT_EMAIL_TO": "ops@example.co.jp",
    "ALERT_EMAIL_FROM": "alertmanager@example.co.jp",
    "ALERT_SMTP_SMARTHOST": "smtp.example.co.jp:587",
    "ALERT_SMTP_USERNAME": "alertmanager",
    "ALERT_SMTP_PASSWORD": "smtp-secret-1234",
}
SLACK = {
    "ALERT_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/slack-secret",
    "ALERT_SLACK_CHANNEL": "#mks-alerts",
}
ALL_CHANNELS = WEBHOOK | EMAIL | SLACK
# Every value carries characters that break naive sed or YAML quoting.
TRICKY = {
    "ALERT_WEBHOOK_URL": 'https://hooks.example.com/a/b?x=1&y="2"&z=it\'s|\\1',
    "ALERT_EMAIL_TO": '"MKS 運用 & 保守" <ops/team@example.co.jp>',
    "ALERT_EMAIL_FROM": 'o\'brien&co/"am"@example.co.jp',
    "ALERT_SMTP_SMARTHOST": "smtp.example.co.jp:587",
    "ALERT_SMTP_USERNAME": "user/&\"'\\n",
    "ALERT_SMTP_PASSWORD": "p/a&s\"s'w\\ord|$HOME ${CONFIG_DIR} &&",
    "ALERT_SLACK_WEBHOOK_URL": 'https://hooks.slack.com/services/T/B/x&y="z"\'',
    "ALERT_SLACK_CHANNEL": "#mks-'alerts'&/\"x\"",
}
INTEGRATIONS = ("webhook_configs", "email_configs", "slack_configs")
EXPECTED_INHIBITIONS = {
    ("CriticalCPUUsage", "HighCPUUsage"),
    ("CriticalMemoryUsage", "HighMemoryUsage"),
    ("CriticalDiskUsage", "HighDiskUsage"),
    ("CriticalAPIResponse", "SlowAPIResponse"),
    ("CriticalErrorRate", "HighErrorRate"),
}


def alert_severities(rules: Path = ALERT_RULES) -> dict[str, str]:
    """Alert name -> severity label, as a rule file defines them."""
    return {
        rule["alert"]: rule["labels"]["severity"]
        for group in load(rules)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


@pytest.fixture(scope="module")
def amtool() -> str:
    """Path of amtool."""
    return required_tool("amtool")


@pytest.fixture(scope="module")
def alertmanager_binary() -> str:
    return alertmanager_binary_path()


def receivers(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Receivers by name."""
    return {receiver["name"]: receiver for receiver in config["receivers"]}


def run_amtool(amtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run amtool offline and capture its output."""
    return subprocess.run([amtool, *args], capture_output=True, text=True, timeout=60, check=False)


# --- render-config.sh ----------------------------------------------------------------------------------------


def test_render_without_channels(tmp_path: Path) -> None:
    """Nothing configured: four receivers without integrations, no secrets, templates copied."""
    result = render(tmp_path, {})
    assert result.returncode == 0, result.stderr
    config = load(tmp_path / "alertmanager.yml")
    assert list(receivers(config)) == ["null", "watchdog", "critical", "warning"]
    for receiver in config["receivers"]:
        assert not set(receiver) & set(INTEGRATIONS), receiver
    assert config["templates"] == [f"{tmp_path}/templates/*.tmpl"]
    assert (tmp_path / "templates" / "mks.tmpl").read_bytes() == MESSAGE_TEMPLATES.read_bytes()
    assert not (tmp_path / "secrets").exists()
    assert result.stdout.count("無効") == 4
    assert "通知先が 1 つもありません" in result.stdout


def test_render_with_all_channels(tmp_path: Path) -> None:
    """Every channel on: critical and warning both notify by webhook, e-mail and Slack; secrets live in files."""
    result = render(tmp_path, ALL_CHANNELS)
    assert result.returncode == 0, result.stderr
    config = load(tmp_path / "alertmanager.yml")
    assert receivers(config)["null"] == {"name": "null"}
    for name in ("critical", "warning"):
        receiver = receivers(config)[name]
        assert receiver["webhook_configs"] == [{"url": WEBHOOK["ALERT_WEBHOOK_URL"], "send_resolved": True}]
        (email,) = receiver["email_configs"]
        assert email["to"] == EMAIL["ALERT_EMAIL_TO"]
        assert email["from"] == EMAIL["ALERT_EMAIL_FROM"]
        assert email["smarthost"] == EMAIL["ALERT_SMTP_SMARTHOST"]
        assert email["require_tls"] is True  # Alertmanager's own default, written out
        assert email["auth_username"] == EMAIL["ALERT_SMTP_USERNAME"]
        assert email["auth_password_file"] == f"{tmp_path}/secrets/smtp-password"
        assert email["headers"]["Subject"] == '{{ template "mks.email.subject" . }}'
        assert email["text"] == '{{ template "mks.email.text" . }}'
        (slack,) = receiver["slack_configs"]
        assert slack["api_url_file"] == f"{tmp_path}/secrets/slack-webhook-url"
        assert slack["channel"] == SLACK["ALERT_SLACK_CHANNEL"]
        assert slack["title"] == '{{ template "mks.slack.title" . }}'
    for secret in ("smtp-password", "slack-webhook-url"):
        assert stat.S_IMODE((tmp_path / "secrets" / secret).stat().st_mode) == 0o600
    assert (tmp_path / "secrets" / "smtp-password").read_text() == EMAIL["ALERT_SMTP_PASSWORD"]
    assert (tmp_path / "secrets" / "slack-webhook-url").read_text() == SLACK["ALERT_SLACK_WEBHOOK_URL"]
    text = (tmp_path / "alertmanager.yml").read_text(encoding="utf-8")
    output = result.stdout + result.stderr
    for secret in (EMAIL["ALERT_SMTP_PASSWORD"], SLACK["ALERT_SLACK_WEBHOOK_URL"]):
        assert secret not in text and secret not in output
    assert "Webhook: 有効" in output and "メール:  有効（SMTP 認証: 有効、STARTTLS 必須: true）" in output
    assert "Slack:   有効（チャンネル #mks-alerts）" in output


def test_a_relay_without_starttls_and_a_shorter_warning_wait(tmp_path: Path) -> None:
    config = rendered(tmp_path, EMAIL | {"ALERT_SMTP_REQUIRE_TLS": "false", "ALERT_WARNING_GROUP_WAIT": "90s"})
    assert [email["require_tls"] for email in receivers(config)["critical"]["email_configs"]] == [False]
    [warning] = [route for route in config["route"]["routes"] if route["receiver"] == "warning"]
    assert warning["group_wait"] == "90s"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ALERT_SMTP_REQUIRE_TLS", "no"),
        ("ALERT_SMTP_REQUIRE_TLS", "true\nx: 1"),
        ("ALERT_WARNING_GROUP_WAIT", "soon"),
        ("ALERT_WARNING_GROUP_WAIT", "5m'"),
        ("ALERT_WARNING_GROUP_WAIT", "m5"),
    ],
)
def test_options_are_checked_before_they_are_written(tmp_path: Path, variable: str, value: str) -> None:
    result = render(tmp_path, {variable: value})
    assert result.returncode == 1
    assert result.stderr.startswith(f"render-config.sh: {variable} は")
    assert not (tmp_path / "alertmanager.yml").exists()


def test_the_watchdog_goes_to_the_dead_mans_switch_only(tmp_path: Path) -> None:
    config = rendered(tmp_path, WEBHOOK | {"ALERT_WATCHDOG_URL": "https://hc-ping.example.com/mks"})
    assert receivers(config)["watchdog"]["webhook_configs"] == [
        {"url": "https://hc-ping.example.com/mks", "send_resolved": False}
    ]
    watchdog = config["route"]["routes"][0]
    assert watchdog["matchers"] == ['alertname="Watchdog"']
    assert (watchdog["receiver"], watchdog["repeat_interval"]) == ("watchdog", "1m")
    assert "continue" not in watchdog  # never also to the critical or warning receivers


def test_render_keeps_special_characters(tmp_path: Path) -> None:
    """Values with / & \" ' | \\ and $ come through byte for byte, in the YAML and in the secret files."""
    config = rendered(tmp_path, TRICKY)
    for name in ("critical", "warning"):
        receiver = receivers(config)[name]
        assert receiver["webhook_configs"][0]["url"] == TRICKY["ALERT_WEBHOOK_URL"]
        email = receiver["email_configs"][0]
        assert email["to"] == TRICKY["ALERT_EMAIL_TO"]
        assert email["from"] == TRICKY["ALERT_EMAIL_FROM"]
        assert email["auth_username"] == TRICKY["ALERT_SMTP_USERNAME"]
        assert receiver["slack_configs"][0]["channel"] == TRICKY["ALERT_SLACK_CHANNEL"]
    assert (tmp_path / "secrets" / "smtp-password").read_text() == TRICKY["ALERT_SMTP_PASSWORD"]
    assert (tmp_path / "secrets" / "slack-webhook-url").read_text() == TRICKY["ALERT_SLACK_WEBHOOK_URL"]


@pytest.mark.parametrize(
    ("env", "present"),
    [
        pytest.param(WEBHOOK, {"webhook_configs"}, id="webhook"),
        pytest.param(EMAIL, {"email_configs"}, id="email"),
        pytest.param(SLACK, {"slack_configs"}, id="slack"),
        pytest.param(WEBHOOK | SLACK, {"webhook_configs", "slack_configs"}, id="webhook+slack"),
    ],
)
def test_only_configured_channels_are_rendered(tmp_path: Path, env: dict[str, str], present: set[str]) -> None:
    """A channel whose variables are unset is left out of both receivers entirely."""
    config = rendered(tmp_path, env)
    for name in ("critical", "warning"):
        assert set(receivers(config)[name]) & set(INTEGRATIONS) == present
    assert set(receivers(config)["null"]) == {"name"}


def test_optional_parts_are_left_out(tmp_path: Path) -> None:
    """E-mail without SMTP auth and Slack without a channel render neither the auth lines nor the channel."""
    env = {key: EMAIL[key] for key in ("ALERT_EMAIL_TO", "ALERT_EMAIL_FROM", "ALERT_SMTP_SMARTHOST")}
    env["ALERT_SLACK_WEBHOOK_URL"] = SLACK["ALERT_SLACK_WEBHOOK_URL"]
    config = rendered(tmp_path, env)
    email = receivers(config)["critical"]["email_configs"][0]
    assert "auth_username" not in email and "auth_password_file" not in email
    assert "channel" not in receivers(config)["critical"]["slack_configs"][0]
    assert not (tmp_path / "secrets" / "smtp-password").exists()


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        pytest.param({"ALERT_EMAIL_TO": "ops@example.co.jp"}, "ALERT_EMAIL_FROM", id="email-without-from"),
        pytest.param(
            {key: EMAIL[key] for key in ("ALERT_EMAIL_TO", "ALERT_EMAIL_FROM")}, "ALERT_SMTP_SMARTHOST", id="no-host"
        ),
        pytest.param(
            {key: value for key, value in EMAIL.items() if key != "ALERT_SMTP_PASSWORD"},
            "ALERT_SMTP_PASSWORD",
            id="username-without-password",
        ),
        pytest.param({"ALERT_SLACK_CHANNEL": "#mks"}, "ALERT_SLACK_WEBHOOK_URL", id="slack-channel-only"),
        pytest.param({"ALERT_WEBHOOK_URL": "http://a/\nb"}, "改行", id="line-break"),
    ],
)
def test_half_configured_channel_is_refused(tmp_path: Path, env: dict[str, str], missing: str) -> None:
    """A half-configured channel stops the renderer with a message instead of silently dropping notifications."""
    result = render(tmp_path, env)
    assert result.returncode != 0
    assert missing in result.stderr
    assert not (tmp_path / "alertmanager.yml").exists()


def test_rerender_removes_old_secrets(tmp_path: Path) -> None:
    """Rendering again without a channel removes the secret files of the previous run."""
    rendered(tmp_path, ALL_CHANNELS)
    config = rendered(tmp_path, {})
    assert not any(set(receiver) & set(INTEGRATIONS) for receiver in config["receivers"])
    assert not list((tmp_path / "secrets").iterdir())


def test_renderer_runs_on_busybox_alone(tmp_path: Path) -> None:
    """The Alertmanager image has busybox only: its sh and applets render the same file as the system tools."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox not found (Debian: apt-get install busybox)")
    applets = tmp_path / "bin"
    applets.mkdir()
    for applet in ("sh", "sed", "cp", "mkdir", "chmod", "rm", "mv", "dirname", "cat"):
        (applets / applet).symlink_to(busybox)
    output = tmp_path / "out"
    result = render(output, TRICKY, shell=str(applets / "sh"), path=str(applets))
    assert result.returncode == 0, result.stderr
    with_busybox = (output / "alertmanager.yml").read_text(encoding="utf-8")
    assert (output / "secrets" / "smtp-password").read_text() == TRICKY["ALERT_SMTP_PASSWORD"]
    result = render(output, TRICKY)
    assert result.returncode == 0, result.stderr
    assert (output / "alertmanager.yml").read_text(encoding="utf-8") == with_busybox


def test_committed_config_is_the_rendered_default(tmp_path: Path) -> None:
    """alertmanager.yml is exactly the output of the renderer with no channel, read from /etc/alertmanager."""
    result = render(tmp_path, {}, config_dir="/etc/alertmanager")
    assert result.returncode == 0, result.stderr
    committed = COMMITTED_CONFIG.read_text(encoding="utf-8")
    assert committed.startswith("# Generated by render-config.sh")
    assert committed == (tmp_path / "alertmanager.yml").read_text(encoding="utf-8"), (
        'regenerate: cd backend/monitoring/alertmanager && env -i PATH="$PATH" sh render-config.sh . /etc/alertmanager'
    )
    assert load(COMMITTED_CONFIG)["templates"] == ["/etc/alertmanager/templates/*.tmpl"]


def test_compose_renders_the_config_at_start() -> None:
    """The alertmanager service runs the renderer before Alertmanager and passes every ALERT_* variable."""
    service = load(MONITORING / "docker-compose.yml")["services"]["alertmanager"]
    script = service["entrypoint"][-1]
    assert "/etc/alertmanager/render-config.sh /tmp/alertmanager &&" in script
    assert "exec /bin/alertmanager --config.file=/tmp/alertmanager/alertmanager.yml" in script
    assert service["environment"] == {name: f"${{{name}:-}}" for name in ALERT_VARIABLES} | {
        name: f"${{{name}:-{default}}}" for name, default in ALERT_OPTIONS.items()
    }
    assert "./alertmanager:/etc/alertmanager:ro" in service["volumes"]
    placeholders = set(re.findall(r"\$\{(ALERT_[A-Z_]+)\}", CONFIG_TEMPLATE.read_text(encoding="utf-8")))
    from_files = {"ALERT_SMTP_PASSWORD", "ALERT_SLACK_WEBHOOK_URL"}  # written to secrets/, not into the file
    assert placeholders | from_files == set(ALERT_VARIABLES) | set(ALERT_OPTIONS)


# --- amtool check-config and routing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [pytest.param({}, id="none"), pytest.param(ALL_CHANNELS, id="all"), pytest.param(TRICKY, id="special-chars")],
)
def test_amtool_accepts_rendered_config(amtool: str, tmp_path: Path, env: dict[str, str]) -> None:
    """amtool check-config accepts each rendered configuration, templates included."""
    rendered(tmp_path, env)
    result = run_amtool(amtool, "check-config", str(tmp_path / "alertmanager.yml"))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SUCCESS" in output and "FAILED" not in output, output
    assert "8 inhibit rules" in output and "4 receivers" in output, output


def test_amtool_accepts_committed_config(amtool: str) -> None:
    """amtool check-config accepts the committed alertmanager.yml."""
    result = run_amtool(amtool, "check-config", str(COMMITTED_CONFIG))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SUCCESS" in output and "FAILED" not in output, output


ROUTE_CASES = [
    pytest.param(
        [f"alertname={name}", f"severity={severity}", "job=mks-backend", "instance=app:5100"],
        "watchdog" if name == "Watchdog" else severity,
        id=name,
    )
    for name, severity in sorted(alert_severities().items())
] + [
    pytest.param(["alertname=Unknown", "job=mks-backend"], "null", id="no-severity"),
    pytest.param(["alertname=Unknown", "severity=info"], "null", id="unknown-severity"),
]


@pytest.mark.parametrize(("labels", "receiver"), ROUTE_CASES)
def test_every_alert_reaches_its_receiver(amtool: str, labels: list[str], receiver: str) -> None:
    """Each alert of alert-rules.yml routes to the receiver named after its severity (the Watchdog to its own);
    others to null."""
    result = run_amtool(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={COMMITTED_CONFIG}",
        f"--verify.receivers={receiver}",
        *labels,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert result.stdout.strip() == receiver, output


def test_every_alert_has_a_known_severity() -> None:
    """Only warning and critical exist, and the Watchdog's none: no alert of alert-rules.yml falls through to null."""
    severities = alert_severities()
    assert severities.pop("Watchdog") == "none"
    assert set(severities.values()) == {"warning", "critical"}


def test_routing_tree() -> None:
    """Critical goes out at once and repeats sooner; warnings are grouped by alertname+instance and wait longer."""
    route = load(COMMITTED_CONFIG)["route"]
    assert route["receiver"] == "null"
    assert route["group_by"] == ["alertname", "instance"]
    routes = {tuple(child["matchers"]): child for child in route["routes"]}
    critical = routes[('severity="critical"',)]
    warning = routes[('severity="warning"',)]
    assert critical["receiver"] == "critical" and warning["receiver"] == "warning"
    assert critical["group_wait"] == "0s"
    seconds = {"s": 1, "m": 60, "h": 3600}

    def duration(value: str) -> int:
        """Seconds of a simple Prometheus duration such as 5m."""
        return int(value[:-1]) * seconds[value[-1]]

    assert duration(warning["group_wait"]) > 0
    assert duration(warning["group_interval"]) > duration(critical["group_interval"])
    assert duration(critical["repeat_interval"]) < duration(warning["repeat_interval"])


def test_inhibit_rules_pair_real_alerts() -> None:
    """Five inhibit rules pair a critical alert with the warning of the same symptom, per job and instance;
    three let an error-budget page silence its ticket and the guide's alerts of its SLO, per job."""
    severities = alert_severities() | alert_severities(SLO_RULES)
    pairs = set()
    slo_rules = []
    for rule in load(COMMITTED_CONFIG)["inhibit_rules"]:
        source = re.fullmatch(r'alertname="(\w+)"', rule["source_matchers"][0])
        target = re.fullmatch(r'alertname=~?"([\w|]+)"', rule["target_matchers"][0])
        assert source and target, rule
        if source[1] == "MKSErrorBudgetBurn":
            slo_rules.append((rule["source_matchers"][1], target[1], tuple(rule["equal"])))
            continue
        assert severities[source[1]] == "critical" and severities[target[1]] == "warning"
        assert rule["equal"] == ["job", "instance"]
        pairs.add((source[1], target[1]))
    assert pairs == EXPECTED_INHIBITIONS
    assert slo_rules == [
        ('severity="critical"', "MKSErrorBudgetBurnTicket", ("job", "slo")),
        ('slo="availability"', "HighErrorRate|CriticalErrorRate", ("job",)),
        ('slo="latency"', "SlowAPIResponse|CriticalAPIResponse", ("job",)),
    ]
    assert {name for _source, targets, _equal in slo_rules for name in targets.split("|")} <= set(severities)


# --- a real Alertmanager: inhibition ----------------------------------------------------------------------


@pytest.fixture
def alertmanager_url(alertmanager_binary: str, tmp_path: Path) -> Iterator[str]:
    """A real Alertmanager with the no-channel configuration."""
    with running_alertmanager(alertmanager_binary, tmp_path, {}) as url:
        yield url


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def test_a_warning_sent_before_its_critical_twin_is_never_delivered(
    alertmanager_binary: str, tmp_path: Path, webhook: WebhookReceiver
) -> None:
    """An error burst: the 5m ratio crosses 5 % before 15 %, so HighErrorRate reaches Alertmanager first.

    It waits (ALERT_WARNING_GROUP_WAIT, here 3 s instead of 5m) and its critical twin, arriving during
    the wait, inhibits it: one page, not two. A warning without a critical twin is still delivered.
    """
    env = {"ALERT_WEBHOOK_URL": webhook.url, "ALERT_WARNING_GROUP_WAIT": "3s"}
    with running_alertmanager(alertmanager_binary, tmp_path, env) as url:
        http(f"{url}/api/v2/alerts", [firing("HighErrorRate", "warning"), firing("HighMemoryUsage", "warning")])
        time.sleep(1)
        http(f"{url}/api/v2/alerts", [firing("CriticalErrorRate", "critical")])
        deadline = time.monotonic() + 20
        while len(webhook.delivered()) < 2:
            assert time.monotonic() < deadline, f"delivered: {webhook.delivered()}"
            time.sleep(0.2)
        time.sleep(4)  # past the warnings' wait once more: nothing else may come
    assert webhook.delivered() == [("firing", "CriticalErrorRate"), ("firing", "HighMemoryUsage")]


def test_critical_alert_inhibits_its_warning(alertmanager_url: str) -> None:
    """CriticalCPUUsage suppresses HighCPUUsage of the same instance, not HighMemoryUsage; routes by severity."""
    now = datetime.now(UTC)
    common = {"job": "mks-backend", "instance": "app:5100"}
    alerts = [
        {"labels": {"alertname": name, "severity": severity, **common}, "annotations": {"summary": name}}
        for name, severity in (
            ("CriticalCPUUsage", "critical"),
            ("HighCPUUsage", "warning"),
            ("HighMemoryUsage", "warning"),
        )
    ]
    for alert in alerts:
        alert["startsAt"] = now.isoformat()
        alert["endsAt"] = (now + timedelta(minutes=30)).isoformat()
    http(f"{alertmanager_url}/api/v2/alerts", alerts)

    deadline = time.monotonic() + 20
    while True:
        found = {alert["labels"]["alertname"]: alert for alert in http(f"{alertmanager_url}/api/v2/alerts")}
        if len(found) == 3 and found["HighCPUUsage"]["status"]["state"] == "suppressed":
            break
        assert time.monotonic() < deadline, f"HighCPUUsage was not inhibited: {found}"
        time.sleep(0.2)

    critical = found["CriticalCPUUsage"]
    high_cpu = found["HighCPUUsage"]
    high_memory = found["HighMemoryUsage"]
    assert high_cpu["status"]["inhibitedBy"] == [critical["fingerprint"]]
    assert high_cpu["status"]["silencedBy"] == []
    assert high_memory["status"]["state"] == "active"
    assert high_memory["status"]["inhibitedBy"] == []
    assert critical["status"]["state"] == "active"
    assert [receiver["name"] for receiver in critical["receivers"]] == ["critical"]
    assert [receiver["name"] for receiver in high_memory["receivers"]] == ["warning"]


# --- message templates ------------------------------------------------------------------------------------


def template_data(status: str) -> dict[str, Any]:
    """Notification data (template.Data) with one firing-or-resolved CPU alert and one resolved alert."""
    cpu = {
        "status": status,
        "labels": {
            "alertname": "CriticalCPUUsage",
            "severity": "critical",
            "job": "mks-backend",
            "instance": "app:5100",
        },
        "annotations": {
            "summary": "CPU 使用率が危険水準（95% 超）",
            "description": "app:5100 の CPU 使用率が 5 分以上 95% を超えています（現在 97.0%）。",
            "runbook_url": "docs/runbook.md#criticalcpuusage",
        },
        "startsAt": "2024-05-01T15:30:00Z",
        "endsAt": "2024-05-01T16:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
    }
    absent = {
        "status": "resolved",
        "labels": {"alertname": "MKSMetricsAbsent", "severity": "critical", "job": "mks-backend"},
        "annotations": {"summary": "監視対象が存在しない", "description": "詳細", "runbook_url": "docs/runbook.md#x"},
        "startsAt": "2024-05-01T15:00:00Z",
        "endsAt": "2024-05-01T15:20:00Z",
    }
    return {
        "receiver": "critical",
        "status": status,
        "alerts": [cpu, absent],
        "groupLabels": {"alertname": "CriticalCPUUsage", "instance": "app:5100"},
        "commonLabels": {"severity": "critical", "job": "mks-backend"},
        "commonAnnotations": {},
        "externalURL": "http://localhost:9093",
    }


@pytest.fixture(scope="module")
def template_render(amtool: str) -> str:
    """amtool, if its template render subcommand exists (it does in 0.25)."""
    if run_amtool(amtool, "template", "render", "--help").returncode != 0:
        pytest.skip("this amtool has no 'template render' subcommand")
    return amtool


def render_template(amtool: str, tmp_path: Path, name: str, status: str) -> str:
    """Render one named template of mks.tmpl with the sample data."""
    data = tmp_path / "data.json"
    data.write_text(json.dumps(template_data(status)), encoding="utf-8")
    result = run_amtool(
        amtool,
        "template",
        "render",
        f"--template.glob={MESSAGE_TEMPLATES}",
        f"--template.data={data}",
        f'--template.text={{{{ template "{name}" . }}}}',
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_config_uses_only_defined_templates() -> None:
    """Every template the configuration names is defined in mks.tmpl."""
    used = set(re.findall(r'template "([\w.]+)"', CONFIG_TEMPLATE.read_text(encoding="utf-8")))
    defined = set(re.findall(r'define "([\w.]+)"', MESSAGE_TEMPLATES.read_text(encoding="utf-8")))
    assert used == {"mks.email.subject", "mks.email.text", "mks.slack.color", "mks.slack.title", "mks.slack.text"}
    assert used <= defined


@pytest.mark.parametrize("name", ["mks.email.text", "mks.slack.text"])
def test_firing_message_lists_every_field(template_render: str, tmp_path: Path, name: str) -> None:
    """The body lists severity, alertname, instance, summary, description, JST start time and runbook per alert."""
    text = render_template(template_render, tmp_path, name, "firing")
    for expected in (
        "重大度",
        "重大",
        "CriticalCPUUsage",
        "app:5100",
        "CPU 使用率が危険水準（95% 超）",
        "現在 97.0%",
        "2024-05-02 00:30:00 JST",
        "docs/runbook.md#criticalcpuusage",
        "MKSMetricsAbsent",
        "なし（job=mks-backend）",
        "解消時刻",
        "2024-05-02 00:20:00 JST",
    ):
        assert expected in text, (expected, text)


def test_subject_and_colour(template_render: str, tmp_path: Path) -> None:
    """Subjects say firing (障害発生) or resolved (復旧) with the severity; Slack colours follow."""
    firing = render_template(template_render, tmp_path, "mks.email.subject", "firing")
    assert firing.startswith("[MKS 障害発生][重大] CriticalCPUUsage app:5100"), firing
    assert render_template(template_render, tmp_path, "mks.slack.title", "firing") == firing
    resolved = render_template(template_render, tmp_path, "mks.email.subject", "resolved")
    assert resolved.startswith("[MKS 復旧][重大] CriticalCPUUsage app:5100"), resolved
    assert render_template(template_render, tmp_path, "mks.slack.color", "firing") == "danger"
    assert render_template(template_render, tmp_path, "mks.slack.color", "resolved") == "good"


def test_resolved_message(template_render: str, tmp_path: Path) -> None:
    """The resolved variant announces recovery and gives the end time of each alert."""
    text = render_template(template_render, tmp_path, "mks.email.text", "resolved")
    assert "すべて解消しました（復旧）" in text
    assert "【発生中】" not in text and "【解消済み】" in text
    assert "解消時刻:     2024-05-02 01:00:00 JST" in text


# --- Grafana contact point --------------------------------------------------------------------------------


def test_grafana_contact_points() -> None:
    """The Grafana contact point has webhook, e-mail and Slack from environment placeholders and a policy to it."""
    document = load(CONTACT_POINTS)
    assert document["apiVersion"] == 1
    (contact_point,) = document["contactPoints"]
    assert contact_point["orgId"] == 1 and contact_point["name"] == "mks-notifications"
    by_type = {receiver["type"]: receiver for receiver in contact_point["receivers"]}
    assert set(by_type) == {"webhook", "email", "slack"}
    assert len({receiver["uid"] for receiver in contact_point["receivers"]}) == 3
    assert by_type["webhook"]["settings"]["url"] == "$ALERT_WEBHOOK_URL"
    assert by_type["email"]["settings"]["addresses"] == "$ALERT_EMAIL_TO"
    assert by_type["slack"]["settings"]["url"] == "$ALERT_SLACK_WEBHOOK_URL"
    assert by_type["slack"]["settings"]["recipient"] == "$ALERT_SLACK_CHANNEL"
    (policy,) = document["policies"]
    assert policy["orgId"] == 1 and policy["receiver"] == "mks-notifications"
    assert all(route["receiver"] == "mks-notifications" for route in policy.get("routes", []))


def test_grafana_contact_points_hold_no_literal_secret() -> None:
    """Every '$' is an ALERT_* placeholder (Grafana would expand any other), and no URL or address is literal."""
    body = "\n".join(
        line for line in CONTACT_POINTS.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")
    )
    names = re.findall(r"\$\{?(\w*)", body)
    assert names and set(names) <= set(ALERT_VARIABLES), names
    for receiver in load(CONTACT_POINTS)["contactPoints"][0]["receivers"]:
        for key, value in receiver["settings"].items():
            if isinstance(value, str) and ("://" in value or "@" in value or key in {"url", "addresses"}):
                assert re.fullmatch(r"\$ALERT_[A-Z_]+", value), (key, value)
