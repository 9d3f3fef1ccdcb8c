"""exporter_targets.py, run as `setup-monitoring.sh up` runs it (write_targets): the dependencies' jobs get a targets
file only as MKS_EXPORTERS asks (the probe only with MKS_PUBLIC_URL), at each mode's addresses, and a file an
operator wrote or edited is never changed, only named."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .stack import MONITORING, require_prometheus, write_targets

HEADER = "# Written by setup-monitoring.sh from MKS_EXPORTERS; once edited, the script leaves it alone. sha256:"
PORTS = {
    "POSTGRES_EXPORTER_PORT": "19187",
    "REDIS_EXPORTER_PORT": "19121",
    "NODE_EXPORTER_PORT": "19100",
    "NGINX_EXPORTER_PORT": "19113",
    "MTAIL_PORT": "13903",
}
NATIVE = {
    "postgres": "localhost:19187",
    "redis": "localhost:19121",
    "node": "localhost:19100",
    "nginx": "localhost:19113",
    "nginx-log": "localhost:13903",
}
# The exporters' compose services and ports (docker-compose.yml).
COMPOSE = {
    "postgres": "postgres-exporter:9187",
    "redis": "redis-exporter:9121",
    "node": "node-exporter:9100",
    "nginx": "nginx-exporter:9113",
    "nginx-log": "mtail:3903",
}
PUBLIC_URL = "https://mks.example.co.jp/"  # the backend's setting: blackbox probes its /health
PROBED = "https://mks.example.co.jp/health"


def expected_file(address: str) -> str:
    body = f'- targets: ["{address}"]\n'
    return f"{HEADER}{hashlib.sha256(body.encode()).hexdigest()}\n{body}"


def files(folder: Path) -> dict[str, str]:
    """Name → text of the folder's files (hidden ones included: nothing else is to be left there)."""
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.iterdir())}


def native(data: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """write_targets --native with only these variables (and the ports above) set."""
    env = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", "MKS_MONITORING_DATA": str(data), **PORTS, **variables}
    return write_targets(env, "--native")


def test_by_default_no_job_has_a_target(tmp_path: Path) -> None:
    written = native(tmp_path)
    folder = tmp_path / "targets"
    assert (written.returncode, written.stderr) == (0, "")
    assert written.stdout == f"  [OK] 依存サービスのジョブ: なし（MKS_EXPORTERS が未設定のため変更なし。{folder}）\n"
    assert files(folder) == {}


def test_only_the_listed_jobs_get_a_file_at_their_localhost_port(tmp_path: Path) -> None:
    folder = tmp_path / "targets"
    written = native(tmp_path, MKS_EXPORTERS="postgres,redis")
    assert (written.returncode, written.stderr) == (0, "")
    assert written.stdout == (
        f"  [OK] postgres: localhost:19187 を収集します（{folder}/postgres.yml を作成）\n"
        f"  [OK] redis: localhost:19121 を収集します（{folder}/redis.yml を作成）\n"
        f"  [OK] 依存サービスのジョブ: postgres, redis（{folder}）\n"
    )
    assert files(folder) == {
        "postgres.yml": expected_file("localhost:19187"),
        "redis.yml": expected_file("localhost:19121"),
    }
    assert yaml.safe_load(files(folder)["postgres.yml"]) == [{"targets": ["localhost:19187"]}]
    assert {path.stat().st_mode & 0o777 for path in folder.iterdir()} == {0o644}

    again = native(tmp_path, MKS_EXPORTERS="redis node")  # spaces separate too
    assert again.stdout == (
        f"  [OK] postgres: 収集をやめました（{folder}/postgres.yml を削除）\n"
        f"  [OK] node: localhost:19100 を収集します（{folder}/node.yml を作成）\n"
        f"  [OK] 依存サービスのジョブ: redis, node（{folder}）\n"
    )
    assert files(folder) == {
        "node.yml": expected_file("localhost:19100"),
        "redis.yml": expected_file("localhost:19121"),
    }


def test_the_probe_is_written_only_with_mks_public_url(tmp_path: Path) -> None:
    folder = tmp_path / "targets"
    without = native(tmp_path, MKS_EXPORTERS="all")
    assert without.returncode == 0
    assert without.stdout.splitlines()[-2:] == [
        "  [警告] blackbox: MKS_PUBLIC_URL が未設定のため収集しません",
        f"  [OK] 依存サービスのジョブ: postgres, redis, node, nginx, nginx-log（{folder}）",
    ]
    assert files(folder) == {f"{job}.yml": expected_file(address) for job, address in NATIVE.items()}

    with_url = native(tmp_path, MKS_EXPORTERS="all", MKS_PUBLIC_URL=PUBLIC_URL)
    assert with_url.stdout == (
        f"  [OK] blackbox: {PROBED} を収集します（{folder}/blackbox.yml を作成）\n"
        f"  [OK] 依存サービスのジョブ: postgres, redis, node, nginx, nginx-log, blackbox（{folder}）\n"
    )
    assert files(folder)["blackbox.yml"] == expected_file(PROBED)
    assert len(files(folder)) == 6


def test_mks_public_url_alone_enables_nothing(tmp_path: Path) -> None:
    written = native(tmp_path, MKS_PUBLIC_URL=PUBLIC_URL)
    assert written.stdout == (
        "  [警告] MKS_PUBLIC_URL は MKS_EXPORTERS に blackbox（または all）があるときだけ外形監視に使います\n"
        f"  [OK] 依存サービスのジョブ: なし（MKS_EXPORTERS が未設定のため変更なし。{tmp_path / 'targets'}）\n"
    )
    assert files(tmp_path / "targets") == {}


def test_compose_scrapes_the_exporters_services(tmp_path: Path) -> None:
    """In a copy of the folder: compose's targets folder is .targets beside the script (docker-compose.yml)."""
    for name in ("setup-monitoring.sh", "exporter_targets.py"):
        shutil.copy(MONITORING / name, tmp_path / name)
    env = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", "MKS_EXPORTERS": "all", "MKS_PUBLIC_URL": PUBLIC_URL}
    written = write_targets(env, script=tmp_path / "setup-monitoring.sh")
    assert (written.returncode, written.stderr) == (0, "")
    expected = {f"{job}.yml": expected_file(address) for job, address in COMPOSE.items()}
    assert files(tmp_path / ".targets") == expected | {"blackbox.yml": expected_file(PROBED)}
    services = yaml.safe_load((MONITORING / "docker-compose.yml").read_text())["services"]
    assert {address.split(":")[0] for address in COMPOSE.values()} <= set(services)


def test_files_an_operator_wrote_or_edited_are_kept_and_named(tmp_path: Path) -> None:
    folder = tmp_path / "targets"
    native(tmp_path, MKS_EXPORTERS="postgres")
    edited = expected_file("localhost:19187") + '- targets: ["db2.example.co.jp:9187"]\n'
    (folder / "postgres.yml").write_text(edited)
    own = '- targets: ["node2.example.co.jp:9100"]\n'
    (folder / "node.yml").write_text(own)
    for request in ("none", "postgres,node"):
        kept = native(tmp_path, MKS_EXPORTERS=request)
        assert (kept.returncode, kept.stderr) == (0, "")
        kept_alone = "は手で編集されているため書き換えません（書き直すなら削除して再実行）"
        assert kept.stdout == (
            f"  [警告] postgres: {folder}/postgres.yml {kept_alone}\n"
            f"  [警告] node: {folder}/node.yml {kept_alone}\n"
            f"  [OK] 依存サービスのジョブ: postgres, node（{folder}）\n"
        )
        assert files(folder) == {"node.yml": own, "postgres.yml": edited}
    (folder / "postgres.yml").unlink()
    rewritten = native(tmp_path, MKS_EXPORTERS="postgres")
    assert files(folder) == {"node.yml": own, "postgres.yml": expected_file("localhost:19187")}
    assert (
        rewritten.stdout.splitlines()[0]
        == f"  [OK] postgres: localhost:19187 を収集します（{folder}/postgres.yml を作成）"
    )


@pytest.mark.parametrize(
    ("variables", "error"),
    [
        (
            {"MKS_EXPORTERS": "postgres,mysql,redis-server"},
            "MKS_EXPORTERS の mysql, redis-server はジョブではありません"
            "（postgres, redis, node, nginx, nginx-log, blackbox、all、none のいずれか）",
        ),
        (
            {"MKS_EXPORTERS": "blackbox", "MKS_PUBLIC_URL": "mks.example.co.jp"},
            "MKS_PUBLIC_URL から作った外形監視の URL（mks.example.co.jp/health）は"
            " http:// か https:// で始まる、空白の無い URL にしてください",
        ),
        (
            {"MKS_EXPORTERS": "redis", "REDIS_EXPORTER_PORT": "9121/metrics"},
            "redis の収集先 localhost:9121/metrics がホスト:ポートではありません（ポートの変数を確認してください）",
        ),
    ],
)
def test_a_request_that_cannot_be_written_is_refused(tmp_path: Path, variables: dict[str, str], error: str) -> None:
    refused = native(tmp_path, **variables)
    assert (refused.returncode, refused.stdout, refused.stderr) == (2, "", f"  [NG] {error}\n")
    assert files(tmp_path / "targets") == {}


def test_promtool_reads_the_written_files_and_refuses_a_broken_one(tmp_path: Path) -> None:
    """The configuration `up --native` checks points at the files written (promtool checks file_sd files)."""
    require_prometheus()
    env = {
        "PATH": os.environ["PATH"],
        "LC_ALL": "C.UTF-8",
        "MKS_MONITORING_DATA": str(tmp_path),
        "MKS_EXPORTERS": "all",
    }
    script = MONITORING / "setup-monitoring.sh"
    command = ["bash", "-c", f'source "{script}" --native && write_linked && write_native_config && write_targets']
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=60)
    config = tmp_path / "prometheus.yml"
    jobs = {job["job_name"]: job for job in yaml.safe_load(config.read_text())["scrape_configs"]}
    assert jobs["redis"]["file_sd_configs"] == [{"files": [str(tmp_path / "targets" / "redis.yml")]}]
    check = ["promtool", "check", "config", str(config)]
    checked = subprocess.run(check, capture_output=True, text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (tmp_path / "targets" / "redis.yml").write_text("- targets: localhost:19121\n")  # a string, not a list
    broken = subprocess.run(check, capture_output=True, text=True, timeout=60, check=False)
    assert broken.returncode == 1
    assert str(tmp_path / "targets" / "redis.yml") in broken.stdout + broken.stderr


BACKEND_HEADER = "# Written by setup-monitoring.sh from MKS_TARGETS; once edited, the script leaves it alone. sha256:"


def backend_file(*targets: str) -> str:
    body = f"- targets: {json.dumps(list(targets))}\n"
    return f"{BACKEND_HEADER}{hashlib.sha256(body.encode()).hexdigest()}\n{body}"


def backend(data: Path, *mode: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """setup-monitoring.sh's write_backend_targets (what `up` does) with only these variables set."""
    env = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8", "MKS_MONITORING_DATA": str(data), **variables}
    script = MONITORING / "setup-monitoring.sh"
    command = ["bash", "-c", 'script="$1"; shift; source "$script" "$@" && write_backend_targets', "bash", str(script)]
    return subprocess.run([*command, *mode], env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("variables", "targets"),
    [
        ({}, ["localhost:5100"]),  # one instance on this machine, as before
        ({"MKS_TARGET": "127.0.0.1:5200"}, ["127.0.0.1:5200"]),  # the one-instance variable still works
        ({"MKS_TARGETS": "app1:5100,app2:5100 app1:5100"}, ["app1:5100", "app2:5100"]),  # once each, in order
        ({"MKS_TARGETS": "app1:5100,app2:5100", "MKS_TARGET": "127.0.0.1:5200"}, ["app1:5100", "app2:5100"]),
    ],
)
def test_the_backend_instances_are_one_file(tmp_path: Path, variables: dict[str, str], targets: list[str]) -> None:
    path = tmp_path / "targets" / "mks-backend.yml"
    written = backend(tmp_path, "--native", **variables)
    assert (written.returncode, written.stderr) == (0, "")
    assert written.stdout == f"  [OK] mks-backend: {', '.join(targets)} を収集します（{path} を作成）\n"
    assert files(tmp_path / "targets") == {"mks-backend.yml": backend_file(*targets)}
    assert yaml.safe_load(path.read_text()) == [{"targets": targets}]
    again = backend(tmp_path, "--native", **variables)
    assert again.stdout == f"  [OK] mks-backend: {', '.join(targets)}（変更なし。{path}）\n"


def test_compose_scrapes_the_host_by_default_and_the_backend_services_when_listed(tmp_path: Path) -> None:
    """In a copy of the folder, as test_compose_scrapes_the_exporters_services."""
    for name in ("setup-monitoring.sh", "exporter_targets.py"):
        shutil.copy(MONITORING / name, tmp_path / name)
    env = {"PATH": os.environ["PATH"], "LC_ALL": "C.UTF-8"}
    command = ["bash", "-c", f'source "{tmp_path / "setup-monitoring.sh"}" && write_backend_targets']
    subprocess.run(command, env=env, capture_output=True, check=True, timeout=60)
    assert files(tmp_path / ".targets") == {"mks-backend.yml": backend_file("host.docker.internal:5100")}
    listed = env | {"MKS_TARGETS": "mks-backend:5100,mks-backend-2:5100"}
    changed = subprocess.run(command, env=listed, capture_output=True, text=True, check=True, timeout=60)
    path = tmp_path / ".targets" / "mks-backend.yml"
    assert (
        changed.stdout == f"  [OK] mks-backend: 収集先を mks-backend:5100, mks-backend-2:5100 に変えました（{path}）\n"
    )
    assert files(tmp_path / ".targets") == {"mks-backend.yml": backend_file("mks-backend:5100", "mks-backend-2:5100")}
    services = yaml.safe_load((MONITORING / "docker-compose.yml").read_text())["services"]
    assert {"mks-backend", "mks-backend-2"} <= set(services)


def test_an_edited_backend_file_is_kept_and_a_bad_instance_refused(tmp_path: Path) -> None:
    path = tmp_path / "targets" / "mks-backend.yml"
    backend(tmp_path, "--native", MKS_TARGETS="app1:5100")
    edited = backend_file("app1:5100") + '- targets: ["app3:5100"]\n'
    path.write_text(edited)
    kept = backend(tmp_path, "--native", MKS_TARGETS="app1:5100,app2:5100")
    assert (kept.returncode, kept.stderr) == (0, "")
    assert kept.stdout == (
        f"  [警告] mks-backend: {path} は手で編集されているため書き換えません（書き直すなら削除して再実行）\n"
    )
    assert path.read_text() == edited
    refused = backend(tmp_path, "--native", MKS_TARGETS="app1:5100,http://app2:5100")
    assert (refused.returncode, refused.stdout) == (2, "")
    assert (
        refused.stderr
        == "  [NG] MKS_TARGETS の http://app2:5100 がホスト:ポートではありません（例 host1:5100,host2:5100）\n"
    )
    assert path.read_text() == edited
