"""runbook_links.py: the copies of the rules and dashboards that setup-monitoring.sh gives Prometheus and Grafana,
linking the runbook where the operator publishes it (the committed files link MKS's own /admin/runbook)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from .generators import MONITORING

DEFAULT = "http://localhost:5100/admin/runbook"
PUBLISHED = "https://wiki.example.co.jp/mks/runbook"


def linked(source: Path, target: Path, base: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ) | {"MKS_RUNBOOK_BASE_URL": base}
    command = [sys.executable, str(MONITORING / "runbook_links.py"), str(source), str(target)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def runbook_urls(value: Any) -> list[str]:
    """Every string of a parsed file that links the runbook (at either base)."""
    if isinstance(value, dict):
        return [url for item in value.values() for url in runbook_urls(item)]
    if isinstance(value, list):
        return [url for item in value for url in runbook_urls(item)]
    return [value] if isinstance(value, str) and "/runbook" in value else []


def test_the_dashboards_link_the_published_runbook_and_are_otherwise_the_same(tmp_path: Path) -> None:
    assert linked(MONITORING / "grafana" / "dashboards", tmp_path, PUBLISHED + "/").returncode == 0
    sources = sorted((MONITORING / "grafana" / "dashboards").glob("*.json"))
    assert sorted(path.name for path in tmp_path.iterdir()) == [path.name for path in sources]
    for source in sources:
        committed, copy = json.loads(source.read_text()), json.loads((tmp_path / source.name).read_text())
        before, after = runbook_urls(committed), runbook_urls(copy)
        assert len(after) == len(before) >= 2  # the dashboard's link and its alerting panels' links
        assert after == [url.replace(DEFAULT, PUBLISHED) for url in before]
        assert all(url.startswith(DEFAULT) for url in before)
        assert json.loads(json.dumps(copy).replace(PUBLISHED, DEFAULT)) == committed


def test_the_rule_files_link_the_published_runbook(tmp_path: Path) -> None:
    assert linked(MONITORING / "prometheus", tmp_path, PUBLISHED).returncode == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "alert-rules.yml",
        "recording-rules.yml",
        "slo-rules.yml",
    ]
    alerts = [
        rule
        for group in yaml.safe_load((tmp_path / "alert-rules.yml").read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    ]
    assert [rule["annotations"]["runbook_url"] for rule in alerts] == [
        f"{PUBLISHED}#{rule['alert'].lower()}" for rule in alerts
    ]


def test_an_address_that_cannot_be_written_into_the_files_is_refused(tmp_path: Path) -> None:
    refused = linked(MONITORING / "prometheus", tmp_path / "copies", "https://wiki.example.co.jp/a page'")
    assert refused.returncode == 2
    assert refused.stderr == (
        "MKS_RUNBOOK_BASE_URL（https://wiki.example.co.jp/a page'）は http:// か https:// で始まる、"
        "空白や # の無い URL にしてください\n"
    )
    assert not (tmp_path / "copies").exists()
