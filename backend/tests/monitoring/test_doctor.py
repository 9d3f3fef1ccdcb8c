"""`mks doctor` against a real backend and a real Prometheus, and against recorded Grafana answers.

No Grafana server can run on these machines, so the Grafana checks are tested against a local
HTTP server that replays responses in the shape Grafana's HTTP API documents (/api/health,
/api/datasources/uid/<uid>/health, /api/search); everything else is the real thing.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from mks.app import create_app
from mks.cli import main
from mks.doctor import CheckStatus, parse_bytes, parse_seconds, scrape_error_fix
from mks.doctor.search_index import DATABASE_FIX, check_search_index

from ..conftest import database_outage, make_settings, postgres_database
from ..metrics_script import knowledge_table_locked
from ..routes.test_knowledge import create
from ..search.test_drift import break_index
from ..servers import APP_V2, backend_env, free_port, serve
from ..test_cli import run
from .stack import bare_prometheus, native_prometheus, require_prometheus, script_env, wait_for_target


def doctor(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["doctor", *args], env=env, catch_exceptions=False)


def lines(result: Result) -> dict[str, str]:
    """Check name → status, from the JSON output."""
    return {check["name"]: check["status"] for check in json.loads(result.output)["checks"]}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, str, Iterator[str]]]:
    """A backend (python app_v2.py, demo data) and Prometheus scraping it; the backend can be stopped."""
    server = serve(APP_V2, backend_env(tmp_path / "instance"))
    backend = next(server)
    prometheus_process = native_prometheus(script_env(backend, tmp_path / "prometheus"))
    prometheus = next(prometheus_process)
    try:
        yield backend, prometheus, server
    finally:
        server.close()
        prometheus_process.close()


def test_healthy_stack_is_all_ok(stack: tuple[str, str, Iterator[str]], tmp_path: Path) -> None:
    backend, prometheus, _server = stack
    wait_for_target(prometheus, "up")
    same_database = {"MKS_INSTANCE_PATH": str(tmp_path / "instance")}  # the backend's (stack)
    result = doctor("--backend-url", backend, "--prometheus-url", prometheus, env=same_database)
    assert result.exit_code == 0, result.output
    assert [line[:4] for line in result.output.splitlines() if line.startswith("[")] == ["[OK]"] * 10
    as_json = doctor("--backend-url", backend, "--prometheus-url", prometheus, "--json", env=same_database)
    assert json.loads(as_json.output)["ok"] is True
    assert lines(as_json) == {
        "バックエンド /metrics": "OK",
        "バックエンドの依存先": "OK",
        "検索索引": "OK",
        "Prometheus": "OK",
        "Prometheus の設定": "OK",
        "ターゲット mks-backend": "OK",
        "ルール": "OK",
        "発火中のアラート": "OK",
        "収集・評価間隔": "OK",
        "データ保持": "OK",
    }
    assert "保持 15d / 10GiB" in result.output  # Prometheus reads 10GB as 10 GiB


def test_stopped_backend_is_reported_with_its_cause(stack: tuple[str, str, Iterator[str]]) -> None:
    backend, prometheus, server = stack
    wait_for_target(prometheus, "up")
    server.close()  # stop the backend
    wait_for_target(prometheus, "down")
    result = doctor("--backend-url", backend, "--prometheus-url", prometheus)
    assert result.exit_code == 1
    target_line = next(line for line in result.output.splitlines() if "ターゲット mks-backend" in line)
    assert target_line.startswith("[NG] ターゲット mks-backend: down: ")
    assert "connection refused" in target_line
    assert "バックエンドが停止しているか、127.0.0.1 だけで待ち受けています" in result.output
    assert (
        lines(doctor("--backend-url", backend, "--prometheus-url", prometheus, "--json"))["バックエンド /metrics"]
        == "NG"
    )


def test_unreachable_prometheus_says_how_to_start_it(tmp_path: Path) -> None:
    result = doctor("--backend-url", "http://127.0.0.1:9", "--prometheus-url", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert "[NG] Prometheus: http://127.0.0.1:9 に接続できません" in result.output
    assert "setup-monitoring.sh" in result.output


def test_backend_dependencies_redis_down_is_a_warning_and_database_down_or_locked_is_ng(
    postgres_template: str, tmp_path: Path
) -> None:
    redis_nobody_listens = f"redis://127.0.0.1:{free_port()}/0"
    with postgres_database(postgres_template) as url:
        env = backend_env(
            tmp_path / "instance", env="testing", database_url=url, ratelimit_storage_uri=redis_nobody_listens
        )
        handle = create_app(make_settings(url, tmp_path / "handle"))
        server = serve(APP_V2, env)
        backend = next(server)
        try:
            degraded = doctor("--backend-url", backend, "--prometheus-url", "http://127.0.0.1:9")
            with knowledge_table_locked(url):
                locked = doctor("--backend-url", backend, "--prometheus-url", "http://127.0.0.1:9")
            with database_outage(handle):
                down = doctor("--backend-url", backend, "--prometheus-url", "http://127.0.0.1:9")
        finally:
            server.close()
            handle.extensions["mks_db"].engine.dispose()
    degraded_line = next(line for line in degraded.output.splitlines() if "バックエンドの依存先" in line)
    assert degraded_line == (
        "[警告] バックエンドの依存先: データベース: ok、データベースへの書き込み: ok、"
        "レート制限のストレージ: unavailable"
    )
    assert "MKS_RATELIMIT_STORAGE_URI を確認してください" in degraded.output
    locked_line = next(line for line in locked.output.splitlines() if "バックエンドの依存先" in line)
    assert locked_line == (
        "[NG] バックエンドの依存先: データベース: ok、データベースへの書き込み: unavailable、"
        "レート制限のストレージ: unavailable"
    )
    assert "pg_stat_activity の state = 'idle in transaction'" in locked.output
    down_line = next(line for line in down.output.splitlines() if "バックエンドの依存先" in line)
    assert down_line == (
        "[NG] バックエンドの依存先: データベース: unavailable、データベースへの書き込み: unavailable、"
        "レート制限のストレージ: unavailable"
    )
    assert "MKS_DATABASE_URL を確認してください" in down.output
    assert "idle in transaction" not in down.output


def test_search_index_out_of_step_is_ng_until_reindexed(
    app: Flask, client: FlaskClient, admin: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    ids = [create(client, admin, title=f"足場の点検 {number}")["id"] for number in range(3)]
    break_index(database_url, unindexed=[ids[0]], deleted=[ids[2]])
    nothing_listens = ("--backend-url", "http://127.0.0.1:9", "--prometheus-url", "http://127.0.0.1:9")
    result = run(database_url, tmp_path, "doctor", *nothing_listens)
    assert result.exit_code == 1
    assert (
        f"[NG] 検索索引: ナレッジと一致しません: 索引にない 1 件（例: {ids[0]}）、"
        f"削除済みなのに索引にある 1 件（例: {ids[2]}）\n"
        "       → 対処: mks search reindex を実行してください。\n"
    ) in result.output
    assert run(database_url, tmp_path, "search", "reindex").exit_code == 0
    report = json.loads(run(database_url, tmp_path, "doctor", *nothing_listens, "--json").output)
    assert next(check for check in report["checks"] if check["name"] == "検索索引") == {
        "name": "検索索引",
        "status": "OK",
        "message": "索引済み 2 件（ナレッジと一致）",
        "fix": "",
    }


# What each driver says, first line, when the schema was never created.
UNMIGRATED_REASONS = {"sqlite": "no such table: knowledge", "postgresql": 'relation "knowledge" does not exist'}


def test_search_index_check_creates_no_sqlite_file(tmp_path: Path) -> None:
    absent = tmp_path / "absent.sqlite3"
    missing = check_search_index(make_settings(f"sqlite:///{absent}", tmp_path / "instance"))
    assert (missing.status, missing.message, missing.fix) == (
        CheckStatus.NG,
        f"データベースのファイルがありません: {absent}",
        DATABASE_FIX,
    )
    assert not absent.exists()


def test_search_index_check_gives_the_reason_a_database_cannot_be_read(empty_database_url: str, tmp_path: Path) -> None:
    url = make_url(empty_database_url)
    if url.get_backend_name() == "sqlite":
        Path(url.database or "").touch()  # an empty file is an empty database
    unmigrated = check_search_index(make_settings(empty_database_url, tmp_path / "instance"))
    reason = UNMIGRATED_REASONS[url.get_backend_name()]
    assert (unmigrated.status, unmigrated.message, unmigrated.fix) == (
        CheckStatus.NG,
        f"データベースを読めません（{reason}）",
        DATABASE_FIX,
    )


# Recorded in the shape of Grafana 11's documented HTTP API answers.
GRAFANA_RESPONSES: dict[str, Any] = {
    "/api/health": {"commit": "1234abc", "database": "ok", "version": "11.3.1"},
    "/api/datasources/uid/mks-prometheus/health": {
        "status": "OK",
        "message": "Successfully queried the Prometheus API.",
    },
    "/api/search?type=dash-db&tag=mks": [
        {
            "id": 1,
            "uid": "mks-app-overview",
            "title": "アプリケーション概要",
            "type": "dash-db",
            "tags": ["mks"],
            "folderUid": "mirai",
            "folderTitle": "Mirai",
        },
        {
            "id": 2,
            "uid": "mks-api-performance",
            "title": "APIパフォーマンス",
            "type": "dash-db",
            "tags": ["mks"],
            "folderUid": "mirai",
            "folderTitle": "Mirai",
        },
        {
            "id": 3,
            "uid": "mks-system-resources",
            "title": "システムリソース",
            "type": "dash-db",
            "tags": ["mks"],
            "folderUid": "mirai",
            "folderTitle": "Mirai",
        },
    ],
}


@pytest.fixture
def grafana_replay() -> Iterator[tuple[str, dict[str, Any]]]:
    """A local server answering Grafana's API paths with the recorded responses (admin:secret only)."""
    responses = json.loads(json.dumps(GRAFANA_RESPONSES))
    expected_auth = "Basic " + base64.b64encode(b"admin:secret").decode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/api/health" and self.headers.get("Authorization") != expected_auth:
                self.send_response(401)
                self.end_headers()
                return
            body = json.dumps(responses.get(self.path, {"message": "Not found"})).encode()
            self.send_response(200 if self.path in responses else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", responses
    server.shutdown()
    server.server_close()


def grafana_doctor(url: str, password: str = "secret") -> dict[str, str]:
    result = CliRunner().invoke(
        main,
        [
            "doctor",
            "--backend-url",
            "http://127.0.0.1:9",
            "--prometheus-url",
            "http://127.0.0.1:9",
            "--grafana-url",
            url,
            "--json",
        ],
        env={"GRAFANA_ADMIN_USER": "admin", "GRAFANA_ADMIN_PASSWORD": password},
        catch_exceptions=False,
    )
    return {name: status for name, status in lines(result).items() if name.startswith("Grafana")}


def test_grafana_checks_pass_on_recorded_answers(grafana_replay: tuple[str, dict[str, Any]]) -> None:
    url, _responses = grafana_replay
    assert grafana_doctor(url) == {"Grafana": "OK", "Grafana データソース": "OK", "Grafana ダッシュボード": "OK"}


def test_grafana_missing_dashboard_and_bad_password(grafana_replay: tuple[str, dict[str, Any]]) -> None:
    url, responses = grafana_replay
    responses["/api/search?type=dash-db&tag=mks"][2]["folderTitle"] = "General"
    assert grafana_doctor(url)["Grafana ダッシュボード"] == "NG"
    assert grafana_doctor(url, password="wrong") == {"Grafana": "OK", "Grafana API": "NG"}


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (
            'Get "http://host.docker.internal:5100/metrics": dial tcp: lookup host.docker.internal on 127.0.0.11:53: '
            "no such host",
            "host.docker.internal が解決されません",
        ),
        (
            'Get "http://localhost:5100/metrics": dial tcp 127.0.0.1:5100: connect: connection refused',
            "バックエンドが停止しているか",
        ),
        ("server returned HTTP status 401 UNAUTHORIZED", "Basic 認証またはトークンが一致しません"),
        ('Get "http://10.0.0.5:5100/metrics": context deadline exceeded', "scrape_timeout に間に合いません"),
        ("lookup mks-backend on 127.0.0.11:53: no such host", "ターゲットのホスト名が解決できません"),
        ("something new", "Targets 画面"),
    ],
)
def test_scrape_errors_are_explained(error: str, cause: str) -> None:
    assert cause in scrape_error_fix(error)


@pytest.mark.parametrize(("size", "expected"), [("10GiB", 10 * 1024**3), ("512MB", 512 * 1024**2), ("0B", 0), ("?", 0)])
def test_sizes(size: str, expected: float) -> None:
    assert parse_bytes(size) == expected


@pytest.mark.parametrize(("duration", "expected"), [("15s", 15), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200)])
def test_durations(duration: str, expected: float) -> None:
    assert parse_seconds(duration) == expected


def test_a_failed_reload_is_ng_although_prometheus_runs_on(tmp_path: Path) -> None:
    """Prometheus keeps the previous configuration after a broken rules file is reloaded: doctor must say so."""
    require_prometheus()
    rules = tmp_path / "rules.yml"
    rules.write_text("groups: []\n")
    config = f"global: {{evaluation_interval: 1s}}\nrule_files: [{rules}]\n"
    with bare_prometheus(tmp_path / "prometheus", "--web.enable-lifecycle", config_text=config) as prometheus:
        healthy = doctor("--backend-url", "http://127.0.0.1:9", "--prometheus-url", prometheus, "--json")
        rules.write_text("groups:\n  - name: broken\n    rules:\n      - alert: X\n        expr: rate(\n")
        assert requests.post(f"{prometheus}/-/reload", timeout=10).status_code == 500
        broken = doctor("--backend-url", "http://127.0.0.1:9", "--prometheus-url", prometheus)
    assert lines(healthy)["Prometheus の設定"] == "OK"
    assert (
        "[NG] Prometheus の設定: 再読み込みに失敗し、前の設定（ルールを含む）で動いています\n"
        "       → 対処: promtool check config prometheus.yml と promtool check rules でエラーを直し、"
    ) in broken.output
    assert "[OK] Prometheus: " in broken.output  # it still answers
