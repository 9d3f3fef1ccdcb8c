"""The backend's systemd unit (`mks systemd-unit`): verified by systemd, and its own command line serving.

No systemd runs here as init: the unit is checked with `systemd-analyze verify`, and the command it
starts is run directly with the environment it gives (its file and its Environment= lines), in its
working directory.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests
from bench import harness
from click.testing import CliRunner

from mks.cli import main

from .tools import require_tools


def unit_text(environment_file: Path) -> str:
    result = CliRunner().invoke(main, ["systemd-unit", "--environment-file", str(environment_file)], env={})
    assert result.exit_code == 0, result.output
    return result.output


def directives(unit: str) -> dict[str, list[str]]:
    """Each directive's values, in order (comments and section headers left out)."""
    found: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def test_the_unit_verifies_and_confines_the_service(tmp_path: Path) -> None:
    require_tools("systemd-analyze", packages="systemd")
    unit = unit_text(Path("/etc/mks/mks.env"))
    path = tmp_path / "mks.service"
    path.write_text(unit, encoding="utf-8")
    verified = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert (verified.returncode, verified.stderr) == (0, "")
    # verify reports a value it cannot parse (and still exits 0): the empty stderr above is what says the unit is right.
    path.write_text(unit.replace("ProtectSystem=strict", "ProtectSystem=everything"), encoding="utf-8")
    typo = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert "Failed to parse protect system value, ignoring: everything" in typo.stderr
    found = directives(unit)
    assert {key: found[key] for key in ("User", "Group", "EnvironmentFile", "StateDirectory", "Restart")} == {
        "User": ["mks"],
        "Group": ["mks"],
        "EnvironmentFile": ["/etc/mks/mks.env"],
        "StateDirectory": ["mks"],
        "Restart": ["on-failure"],
    }
    hardening = ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "CapabilityBoundingSet")
    assert [found[key] for key in hardening] == [["true"], ["strict"], ["true"], ["true"], [""]]
    assert found["ExecStart"] == [f"{Path(sys.executable).parent / 'mks'} serve"]


def test_the_units_command_line_serves_on_loopback(tmp_path: Path) -> None:
    port = harness.free_port()
    environment_file = tmp_path / "mks.env"
    environment_file.write_text(
        "\n".join(
            [
                "MKS_ENV=production",
                f"MKS_JWT_SECRET_KEY={'s' * 48}",
                f"MKS_DATABASE_URL=sqlite:///{tmp_path / 'mks.sqlite3'}",
                "MKS_DEMO_DATA=false",
                "MKS_HOST=127.0.0.1",
                f"MKS_PORT={port}",
                "MKS_WORKERS=1",
            ]
        ),
        encoding="utf-8",
    )
    found = directives(unit_text(environment_file))
    env = harness.command_env(tmp_path / "instance")
    env.update(line.split("=", 1) for line in environment_file.read_text(encoding="utf-8").splitlines())
    state = dict(value.split("=", 1) for value in found["Environment"])
    assert state == {"MKS_INSTANCE_PATH": "/var/lib/mks"}  # systemd's StateDirectory; here, a folder of the test
    with (
        (tmp_path / "server.log").open("w+b") as log,
        harness.serving(found["ExecStart"][0].split(), env, log, cwd=Path(found["WorkingDirectory"][0])) as (base, _),
    ):
        health = requests.get(f"{base}/health", timeout=10)
    assert base == f"http://127.0.0.1:{port}"
    assert (health.status_code, health.json()["status"]) == (200, "ok")
