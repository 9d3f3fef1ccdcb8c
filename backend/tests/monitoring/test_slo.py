"""The SLOs of monitoring/slo.py and the rules rules.py generates from them (prometheus/slo-rules.yml).

promtool runs the unit tests of the generated rules (test_rules.py); here: the file is what the generator
writes, every window pair is proven to fire and to resolve by those tests, and the SLOs fit the metrics.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from prometheus_client.utils import floatToGoString

from mks.doctor import parse_seconds
from mks.metrics import LATENCY_BUCKETS

from .generators import MONITORING, check_rules, generator
from .test_rules import SLO_RULES, SLO_TESTS, load, runbook_anchors

DEFAULT_RETENTION = "15d"  # setup-monitoring.sh and docker-compose.yml


def test_the_committed_rules_are_the_generated_ones(tmp_path: Path) -> None:
    assert check_rules().returncode == 0
    shutil.copytree(MONITORING / "prometheus", tmp_path / "prometheus")
    for name in ("rules.py", "slo.py", "thresholds.py"):
        shutil.copy(MONITORING / name, tmp_path / name)
    edited = SLO_RULES.read_text(encoding="utf-8").replace("> 0.0144", "> 0.02")
    (tmp_path / "prometheus" / "slo-rules.yml").write_text(edited, encoding="utf-8")
    refused = check_rules(tmp_path)
    assert refused.returncode == 1
    assert refused.stderr == "prometheus/slo-rules.yml は rules.py の出力と違います（python3 rules.py で再生成）\n"


def test_the_alerts_are_the_workbooks_pairs() -> None:
    """For each SLO: pages at 14.4x over 1h and 5m and at 6x over 6h and 30m, a ticket at 1x over 3d and 6h;
    each only while the SLO counts at least 0.1 requests a second (a quiet job's few errors page nobody)."""
    found = {
        (rule["alert"], rule["labels"]["slo"], rule["labels"]["long_window"]): (
            " ".join(rule["expr"].split()),
            rule["labels"]["severity"],
        )
        for group in load(SLO_RULES)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    ratio = "slo:mks_sli_errors:ratio_rate"
    expected = {}
    for slo, budget in (("availability", 0.001), ("latency", 0.01)):
        for alert, long, short, factor, severity in (
            ("MKSErrorBudgetBurn", "1h", "5m", 14.4, "critical"),
            ("MKSErrorBudgetBurn", "6h", "30m", 6, "critical"),
            ("MKSErrorBudgetBurnTicket", "3d", "6h", 1, "warning"),
        ):
            threshold = round(factor * budget, 10)
            expr = (
                f'{ratio}{long}{{slo="{slo}"}} > {threshold} and {ratio}{short}{{slo="{slo}"}} > {threshold}'
                f' and on (job) slo:mks_sli_requests:rate5m{{slo="{slo}"}} >= 0.1'
            )
            expected[(alert, slo, long)] = (expr, severity)
    assert found == expected


def _firing_and_resolved() -> tuple[set[tuple[str, str, str]], set[tuple[str, str, str]]]:
    """(alert, slo, long window) of every alert a promtool case expects firing, and of those a later case of
    the same test expects resolved."""
    firing: set[tuple[str, str, str]] = set()
    resolved: set[tuple[str, str, str]] = set()
    for path in SLO_TESTS:
        for test in load(path)["tests"]:
            cases: list[dict[str, Any]] = sorted(
                test.get("alert_rule_test", []), key=lambda case: parse_seconds(case["eval_time"])
            )
            for index, case in enumerate(cases):
                for alert in case.get("exp_alerts") or []:
                    labels = alert["exp_labels"]
                    key = (case["alertname"], labels["slo"], labels["long_window"])
                    firing.add(key)
                    if any(later["alertname"] == key[0] and not later.get("exp_alerts") for later in cases[index:]):
                        resolved.add(key)
    return firing, resolved


def test_every_window_pair_fires_and_resolves_in_the_promtool_tests() -> None:
    firing, resolved = _firing_and_resolved()
    pages = {("MKSErrorBudgetBurn", "availability", "1h"), ("MKSErrorBudgetBurn", "availability", "6h")}
    ticket = {("MKSErrorBudgetBurnTicket", "availability", "3d")}
    latency = {("MKSErrorBudgetBurn", "latency", "1h")}  # the same generated pairs on the latency SLI
    assert firing == resolved == pages | ticket | latency


def test_the_latency_threshold_is_a_bucket_boundary_as_the_backend_writes_it() -> None:
    threshold = generator("slo").LATENCY_THRESHOLD
    assert float(threshold) in LATENCY_BUCKETS
    assert floatToGoString(float(threshold)) == threshold  # the `le` label value the selector must match


def test_the_slo_window_fits_the_default_retention() -> None:
    """The budget is summed over the SLO's window: Prometheus must still hold all of it."""
    for objective in generator("slo").OBJECTIVES:
        assert parse_seconds(objective.window) <= parse_seconds(DEFAULT_RETENTION), objective.slo


def test_the_runbook_explains_each_alert() -> None:
    assert {"mkserrorbudgetburn", "mkserrorbudgetburnticket"} <= runbook_anchors()
