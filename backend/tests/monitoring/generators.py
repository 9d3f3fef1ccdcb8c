"""The monitoring generators (backend/monitoring/*.py): scripts beside the package, importable as modules."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"


def generator(name: str) -> ModuleType:
    """thresholds, slo or rules, imported as the scripts import each other (by their folder on sys.path)."""
    if str(MONITORING) not in sys.path:
        sys.path.append(str(MONITORING))
    return importlib.import_module(name)


def check_rules(folder: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    """``rules.py --check`` as setup-monitoring.sh and CI run it, in ``folder`` (a copy of monitoring/)."""
    return subprocess.run(
        [sys.executable, str(folder / "rules.py"), "--check"], capture_output=True, text=True, timeout=60, check=False
    )
