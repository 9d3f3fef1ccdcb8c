#!/usr/bin/env python3
"""Copies of the rule files and dashboards whose runbook links point where the operator publishes the runbook.

    MKS_RUNBOOK_BASE_URL=https://... python3 runbook_links.py SOURCE_DIR TARGET_DIR

Copies every *-rules.yml and *.json of SOURCE_DIR. The committed files (and the promtool tests of the rules)
link thresholds.DEFAULT_RUNBOOK_BASE_URL; setup-monitoring.sh gives Prometheus and Grafana these copies.
Standard library only (setup-monitoring.sh runs it with the system's python3).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: its neighbours are modules
from thresholds import DEFAULT_RUNBOOK_BASE_URL, runbook_base_url

# Written as is into YAML and JSON strings: no quote, backslash, space or fragment to escape.
BASE_URL = re.compile(r"https?://[^\s'\"\\#]+")


def relinked(text: str, base: str) -> str:
    """The file's text with its runbook links at ``base``."""
    return text.replace(DEFAULT_RUNBOOK_BASE_URL, base.rstrip("/"))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("使い方: python3 runbook_links.py SOURCE_DIR TARGET_DIR", file=sys.stderr)
        return 2
    source, target = Path(argv[0]), Path(argv[1])
    base = runbook_base_url()
    if not BASE_URL.fullmatch(base):
        print(
            f"MKS_RUNBOOK_BASE_URL（{base}）は http:// か https:// で始まる、空白や # の無い URL にしてください",
            file=sys.stderr,
        )
        return 2
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted([*source.glob("*-rules.yml"), *source.glob("*.json")]):
        (target / path.name).write_text(relinked(path.read_text(encoding="utf-8"), base), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
