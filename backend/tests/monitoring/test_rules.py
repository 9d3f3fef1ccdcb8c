"""Prometheus recording and alerting rules: promtool checks and unit tests, and their consistency with the runbook."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mks.pages.markdown import heading_anchor

from ..tools import unavailable
from .generators import generator

BACKEND = Path(__file__).resolve().parents[2]
PROMETHEUS = BACKEND / "monitoring" / "prometheus"
RECORDING_RULES = PROMETHEUS / "recording-rules.yml"
ALERT_RULES = PROMETHEUS / "alert-rules.yml"
SLO_RULES = PROMETHEUS / "slo-rules.yml"
SLO_TESTS = (PROMETHEUS / "tests" / "slo-rules.test.yml", PROMETHEUS / "tests" / "slo-ticket.test.yml")
RECORDING_TESTS = PROMETHEUS / "tests" / "recording-rules.test.yml"
ALERT_TESTS = PROMETHEUS / "tests" / "alert-rules.test.yml"
RUNBOOK = BACKEND.parent / "docs" / "runbook.md"

# Dashboards are built on these names: renaming one is a breaking change.
RECORDING_NAMES = {
    "instance:mks_http_requests:rate5m",
    "instance:mks_http_user_requests:rate5m",
    "instance:mks_http_requests_5xx:rate5m",
    "instance:mks_http_errors:ratio_rate5m",
    "instance:mks_http_request_duration_seconds:p50_5m",
    "instance:mks_http_request_duration_seconds:p95_5m",
    "instance:mks_http_request_duration_seconds:p99_5m",
    "endpoint:mks_http_requests:rate5m",
    "endpoint:mks_http_request_duration_seconds:p95_5m",
    "instance:mks_database_query_duration_seconds:p95_5m",
    "instance:mks_db_errors:rate5m",
    "instance:mks_auth_failures:rate5m",
    "instance:mks_rate_limit_hits:rate5m",
    "instance:mks_rate_limit_storage_errors:rate5m",
}
RECORDING_NAME = re.compile(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$")

# alert -> (group, for, severity): the guide's names and their place. The levels are thresholds.py's (ALERT_LEVELS).
ALERTS = {
    "HighCPUUsage": ("mks-system", "5m", "warning"),
    "CriticalCPUUsage": ("mks-system", "5m", "critical"),
    "HighMemoryUsage": ("mks-system", "5m", "warning"),
    "CriticalMemoryUsage": ("mks-system", "5m", "critical"),
    "HighDiskUsage": ("mks-system", "10m", "warning"),
    "CriticalDiskUsage": ("mks-system", "5m", "critical"),
    "SlowAPIResponse": ("mks-application", "5m", "warning"),
    "CriticalAPIResponse": ("mks-application", "5m", "critical"),
    "HighErrorRate": ("mks-application", "3m", "warning"),
    "CriticalErrorRate": ("mks-application", "3m", "critical"),
    "MKSDatabaseErrors": ("mks-application", "2m", "critical"),
    "MKSSlowDatabaseQueries": ("mks-application", "5m", "warning"),
    "MKSWorkersSaturated": ("mks-application", "5m", "warning"),
    "MKSBackendDown": ("mks-availability", "1m", "critical"),
    "MKSMetricsAbsent": ("mks-availability", "5m", "critical"),
    "MKSRateLimitStorageDown": ("mks-availability", "2m", "warning"),
    "MKSLoginFailureSpike": ("mks-security", "2m", "warning"),
    "MKSRateLimitSpike": ("mks-security", "5m", "warning"),
    "MKSAccountLocked": ("mks-security", "0m", "warning"),
    "MKSKnowledgeReviewDue": ("mks-content", "1h", "warning"),
    "Watchdog": ("mks-monitoring", "0m", "none"),
    "PrometheusConfigReloadFailed": ("mks-monitoring", "5m", "warning"),
    "PrometheusRuleEvaluationFailures": ("mks-monitoring", "0m", "critical"),
    "PrometheusAlertDeliveryFailing": ("mks-monitoring", "5m", "critical"),
    "AlertmanagerNotificationsFailing": ("mks-monitoring", "5m", "critical"),
    "AlertmanagerConfigReloadFailed": ("mks-monitoring", "5m", "warning"),
    "PostgreSQLDown": ("mks-dependencies", "1m", "critical"),
    "PostgreSQLTooManyConnections": ("mks-dependencies", "2m", "warning"),
    "PostgreSQLLongTransaction": ("mks-dependencies", "1m", "warning"),
    "PostgreSQLDeadlocks": ("mks-dependencies", "0m", "warning"),
    "PostgreSQLDatabaseGrowing": ("mks-dependencies", "1h", "warning"),
    "RedisDown": ("mks-dependencies", "1m", "critical"),
    "RedisMemoryNearLimit": ("mks-dependencies", "5m", "warning"),
    "HostDiskWillFill": ("mks-dependencies", "1h", "warning"),
    "HostMemoryLow": ("mks-dependencies", "5m", "warning"),
    "ProbeFailed": ("mks-dependencies", "2m", "critical"),
    "TLSCertificateExpiring": ("mks-dependencies", "10m", "warning"),
    "NginxHighErrorRate": ("mks-dependencies", "5m", "warning"),
    "ExporterDown": ("mks-dependencies", "5m", "warning"),
}
# alert -> (the thresholds.py entry it compares with, in what it watches): its expression's `>` level.
ALERT_LEVELS = {
    "HighCPUUsage": ("cpu_percent", "mks_system_cpu_usage_percent"),
    "CriticalCPUUsage": ("cpu_percent", "mks_system_cpu_usage_percent"),
    "HighMemoryUsage": ("memory_percent", "mks_system_memory_usage_percent"),
    "CriticalMemoryUsage": ("memory_percent", "mks_system_memory_usage_percent"),
    "HighDiskUsage": ("disk_percent", "mks_system_disk_usage_percent"),
    "CriticalDiskUsage": ("disk_percent", "mks_system_disk_usage_percent"),
    "SlowAPIResponse": ("latency_p95_seconds", "instance:mks_http_request_duration_seconds:p95_5m"),
    "CriticalAPIResponse": ("latency_p95_seconds", "instance:mks_http_request_duration_seconds:p95_5m"),
    "HighErrorRate": ("error_ratio", "instance:mks_http_errors:ratio_rate5m"),
    "CriticalErrorRate": ("error_ratio", "instance:mks_http_errors:ratio_rate5m"),
    "MKSDatabaseErrors": ("db_errors_per_second", "instance:mks_db_errors:rate5m"),
    "MKSSlowDatabaseQueries": ("db_query_p95_seconds", "instance:mks_database_query_duration_seconds:p95_5m"),
    "MKSWorkersSaturated": ("workers_busy_ratio", 'mks_http_worker_threads{job="mks-backend"}'),
    "MKSLoginFailureSpike": ("login_failures_per_second", "instance:mks_auth_failures:rate5m"),
    "MKSRateLimitSpike": ("rate_limit_hits_per_second", "instance:mks_rate_limit_hits:rate5m"),
    "PostgreSQLTooManyConnections": (
        "postgres_connections_percent",
        'max by (job, instance) (pg_settings_max_connections{job="postgres"}) * 100',
    ),
    "PostgreSQLLongTransaction": (
        "postgres_transaction_seconds",
        'max by (job, instance, datname) (pg_stat_activity_max_tx_duration{job="postgres"})',
    ),
    "PostgreSQLDeadlocks": (
        "postgres_deadlocks",
        'sum by (job, instance, datname) (increase(pg_stat_database_deadlocks{job="postgres"}[5m]))',
    ),
    "PostgreSQLDatabaseGrowing": (
        "postgres_growth_gb_per_day",
        'pg_database_size_bytes{job="postgres"} offset 1d) / 1e9',
    ),
    "RedisMemoryNearLimit": ("redis_memory_percent", '(redis_memory_max_bytes{job="redis"} > 0) * 100'),
    "HostMemoryLow": ("host_memory_percent", 'node_memory_MemTotal_bytes{job="node"}) * 100'),
    "NginxHighErrorRate": ("nginx_error_ratio", '(rate(nginx_log_requests_total{job="nginx-log"}[5m]) > 0)'),
}
# alert -> (thresholds.py entry of what runs out, its expression's text around the level): these fire below it.
RUNNING_OUT_LEVELS = {
    "HostDiskWillFill": ("host_disk_full_hours", "[6h], {level} * 3600) < 0"),
    "TLSCertificateExpiring": ("tls_certificate_days", "- time()) / 86400 < {level}"),
}
# The latency and error-rate alerts need this much traffic besides scrapes and probes.
MINIMUM_TRAFFIC = "and on (job, instance) instance:mks_http_user_requests:rate5m >= 0.1"
# absent() keeps only the job label: there is no instance to name; nor has the Watchdog (vector(1)) a job.
WITHOUT_INSTANCE = {"MKSMetricsAbsent", "MKSKnowledgeReviewDue", "Watchdog"}
WITHOUT_JOB = {"Watchdog"}


def load(path: Path) -> Any:
    """Parse one YAML file."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules(path: Path) -> list[dict[str, Any]]:
    """All rules of a rule file, in order."""
    return [rule for group in load(path)["groups"] for rule in group["rules"]]


def alert_rules() -> dict[str, dict[str, Any]]:
    """The alerting rules by name."""
    return {rule["alert"]: rule for rule in rules(ALERT_RULES) if "alert" in rule}


def runbook_anchors() -> set[str]:
    """Anchors of the level-2 headings of docs/runbook.md."""
    text = RUNBOOK.read_text(encoding="utf-8")
    return {heading_anchor(match) for match in re.findall(r"^## (.+)$", text, flags=re.MULTILINE)}


@pytest.fixture(scope="module")
def promtool() -> str:
    """Path of promtool; missing fails under CI=true and skips elsewhere."""
    path = shutil.which("promtool")
    if path is None:
        unavailable("promtool not found on PATH: install the 'prometheus' package (Debian/Ubuntu) to test the rules")
    return path


def run_promtool(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool from the rules directory and capture its output."""
    return subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120, check=False)


# --- promtool --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_file", "count"),
    [
        pytest.param(RECORDING_RULES, len(RECORDING_NAMES), id="recording-rules.yml"),
        pytest.param(ALERT_RULES, len(ALERTS), id="alert-rules.yml"),
        # per SLO: 2 rates, 6 ratios, the budget left and the burn rate; 3 alerts (test_slo.py)
        pytest.param(SLO_RULES, 2 * 13, id="slo-rules.yml"),
    ],
)
def test_promtool_check_rules(promtool: str, rule_file: Path, count: int) -> None:
    """promtool accepts each rule file and finds the expected number of rules."""
    result = run_promtool(promtool, "check", "rules", rule_file.name)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"SUCCESS: {count} rules found" in output, output
    assert len(rules(rule_file)) == count


@pytest.mark.parametrize("test_file", [RECORDING_TESTS, ALERT_TESTS, *SLO_TESTS], ids=lambda path: path.name)
def test_promtool_unit_tests(promtool: str, test_file: Path) -> None:
    """The promtool unit tests of the rules pass."""
    result = run_promtool(promtool, "test", "rules", str(test_file.relative_to(PROMETHEUS)))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SUCCESS" in output and "FAILED" not in output, output


# --- recording rules ----------------------------------------------------------------------------------------


def test_recording_rules_are_the_agreed_ones() -> None:
    """One group mks-recording, inheriting the global interval, with exactly the agreed rule names."""
    groups = load(RECORDING_RULES)["groups"]
    assert [group["name"] for group in groups] == ["mks-recording"]
    assert "interval" not in groups[0]
    names = [rule["record"] for rule in groups[0]["rules"]]
    assert len(names) == len(set(names))
    assert set(names) == RECORDING_NAMES


@pytest.mark.parametrize("name", sorted(RECORDING_NAMES))
def test_recording_rule_names_follow_the_convention(name: str) -> None:
    """Recording rule names are level:metric:operations."""
    assert RECORDING_NAME.fullmatch(name), name


def test_recording_rules_keep_job_and_instance() -> None:
    """Every recording rule aggregates by (job, instance ...) so alerts and dashboards can tell targets apart."""
    for rule in rules(RECORDING_RULES):
        expr = " ".join(rule["expr"].split())
        level = rule["record"].split(":")[0]
        if "by (" in expr:
            assert re.search(r"by \(job, instance\b", expr), rule["record"]
        if level == "endpoint":
            assert "endpoint" in expr, rule["record"]


def test_every_recording_rule_has_a_promql_test() -> None:
    """Each recording rule is the subject of at least one promql_expr_test."""
    tested = " ".join(
        case["expr"] for group in load(RECORDING_TESTS)["tests"] for case in group.get("promql_expr_test", [])
    )
    missing = [name for name in sorted(RECORDING_NAMES) if name not in tested]
    assert not missing, missing


# --- alerting rules ----------------------------------------------------------------------------------------


def test_alerts_are_the_agreed_ones() -> None:
    """Groups, names, expressions, durations and severities match the agreed thresholds."""
    groups = load(ALERT_RULES)["groups"]
    assert [group["name"] for group in groups] == [
        "mks-system",
        "mks-application",
        "mks-availability",
        "mks-security",
        "mks-content",
        "mks-monitoring",
        "mks-dependencies",
    ]
    found = {
        rule["alert"]: (group["name"], rule["for"], rule["labels"]["severity"])
        for group in groups
        for rule in group["rules"]
    }
    assert found == ALERTS


@pytest.mark.parametrize("name", sorted(ALERT_LEVELS))
def test_alert_levels_are_the_thresholds(name: str) -> None:
    """Each alert fires above the level of its severity in thresholds.py, and the latency and error-rate
    alerts only with the minimum traffic."""
    key, watched = ALERT_LEVELS[name]
    threshold = generator("thresholds").THRESHOLDS[key]
    level = threshold.warning if ALERTS[name][2] == "warning" else threshold.critical
    expr = " ".join(alert_rules()[name]["expr"].split())
    assert f"{watched} > {level:g}" in expr
    assert expr.endswith(MINIMUM_TRAFFIC) == (key in {"latency_p95_seconds", "error_ratio"})


@pytest.mark.parametrize("name", sorted(RUNNING_OUT_LEVELS))
def test_running_out_levels_are_the_thresholds(name: str) -> None:
    """An alert on what runs out (hours until full, days left) fires below its level in thresholds.py."""
    key, around = RUNNING_OUT_LEVELS[name]
    thresholds = generator("thresholds")
    assert key in thresholds.RUNNING_OUT
    expr = " ".join(alert_rules()[name]["expr"].split())
    assert around.format(level=f"{thresholds.THRESHOLDS[key].warning:g}") in expr


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_alert_has_labels_and_annotations(name: str) -> None:
    """Every alert has for, a severity and the three annotations, templated with its instance and value."""
    rule = alert_rules()[name]
    assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["for"]
    assert rule["labels"]["severity"] in ({"none"} if name == "Watchdog" else {"warning", "critical"})
    annotations = rule["annotations"]
    assert set(annotations) >= {"summary", "description", "runbook_url"}
    assert annotations["summary"].strip() and annotations["description"].strip()
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", annotations["summary"]), "summary must be Japanese"
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", annotations["description"]), "description must be Japanese"
    assert "$value" in annotations["description"]
    if name not in WITHOUT_INSTANCE:
        assert "{{ $labels.instance }}" in annotations["description"]
    assert annotations["runbook_url"] == f"http://localhost:5100/admin/runbook#{name.lower()}"


@pytest.mark.parametrize("name", sorted(ALERTS))
def test_runbook_has_a_section_per_alert(name: str) -> None:
    """The runbook_url anchor of every alert is a level-2 heading of docs/runbook.md."""
    anchor = alert_rules()[name]["annotations"]["runbook_url"].split("#", 1)[1]
    assert anchor in runbook_anchors(), f"docs/runbook.md lacks the heading '## {name}'"


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    """The promtool tests expect each alert to fire at least once and to stay silent at least once."""
    firing: set[str] = set()
    silent: set[str] = set()
    for group in load(ALERT_TESTS)["tests"]:
        for case in group.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    assert firing | silent <= set(ALERTS), "tests name unknown alerts"
    assert not set(ALERTS) - firing, f"no firing case: {sorted(set(ALERTS) - firing)}"
    assert not set(ALERTS) - silent - WITHOUT_JOB, f"no silent case: {sorted(set(ALERTS) - silent)}"  # Watchdog: never


def test_firing_cases_check_all_labels_and_annotations() -> None:
    """Every expected alert names severity, job, instance and all three annotations."""
    expected_annotations = {"summary", "description", "runbook_url"}
    for group in load(ALERT_TESTS)["tests"]:
        for case in group.get("alert_rule_test", []):
            for alert in case.get("exp_alerts") or []:
                name = case["alertname"]
                labels = {"severity"} | (set() if name in WITHOUT_JOB else {"job"})
                labels |= set() if name in WITHOUT_INSTANCE else {"instance"}
                assert labels <= set(alert["exp_labels"]), (group["name"], case["eval_time"])
                assert set(alert["exp_annotations"]) == expected_annotations, (group["name"], case["eval_time"])


def test_test_files_load_the_rule_files() -> None:
    """The unit tests load the rule files by relative path and evaluate every minute."""
    recording = load(RECORDING_TESTS)
    alerting = load(ALERT_TESTS)
    assert recording["rule_files"] == ["../recording-rules.yml"]
    assert alerting["rule_files"] == ["../recording-rules.yml", "../alert-rules.yml"]
    assert recording["evaluation_interval"] == alerting["evaluation_interval"] == "1m"
    # Alerts read recording rules of the same timestamp only if that group runs first.
    assert alerting["group_eval_order"][0] == "mks-recording"
