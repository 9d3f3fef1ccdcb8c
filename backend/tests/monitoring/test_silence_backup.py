"""backup/alertmanager-silences.sh: a silence saved from one real Alertmanager comes back on a new, empty one."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .alertmanager import alertmanager_binary_path, http, required_tool, running_alertmanager
from .generators import MONITORING

SCRIPT = MONITORING / "backup" / "alertmanager-silences.sh"


def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ) | {"ALERTMANAGER_URL": url}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


def kept(silence: dict[str, object]) -> tuple[object, ...]:
    """What a restored silence must keep of the saved one (its id and times of creation are new)."""
    return silence["matchers"], silence["createdBy"], silence["comment"], silence["endsAt"]


def test_a_saved_silence_comes_back_on_a_new_alertmanager(tmp_path: Path) -> None:
    required_tool("amtool")
    binary = alertmanager_binary_path()
    ends = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    silence = {
        "matchers": [{"name": "alertname", "value": "HighCPUUsage", "isRegex": False, "isEqual": True}],
        "startsAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "endsAt": ends,
        "createdBy": "運用担当",
        "comment": "サーバー増設の作業中",
    }
    with running_alertmanager(binary, tmp_path / "first", {}) as first:
        http(f"{first}/api/v2/silences", silence)
        [saved] = http(f"{first}/api/v2/silences")
        backup = run(first, "backup", str(tmp_path))
    assert backup.returncode == 0, backup.stderr
    [archive] = tmp_path.glob("alertmanager-silences-*.json")
    assert backup.stdout == f"保存しました: {archive}（1 件）\n"
    with running_alertmanager(binary, tmp_path / "second", {}) as second:
        assert http(f"{second}/api/v2/silences") == []
        restore = run(second, "restore", str(archive))
        assert restore.returncode == 0, restore.stderr
        [restored] = http(f"{second}/api/v2/silences")
    assert restore.stdout == f"戻しました: {archive} → {second}\n"
    assert restored["status"] == {"state": "active"}
    assert kept(restored) == kept(saved)
    assert restored["matchers"] == [{"name": "alertname", "value": "HighCPUUsage", "isRegex": False, "isEqual": True}]
