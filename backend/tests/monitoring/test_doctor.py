"""`mks doctor` against a real backend and a real Prometheus, and against recorded Grafana answers.

No Grafana server can run on these machines, so the Grafana checks are tested against a local
HTTP server that replays responses in the shape Grafana's HTTP API documents (/api/health,
/api/datasources/uid/<uid>/health, /api/search); everything else is the real thing.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
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
from mks.doctor.search_index import DATABASE_FIX, REINDEX_FIX, check_search_index

from ..conftest import database_outage, make_settings, postgres_database
from ..metrics_script import knowledge_table_locked
from ..routes.test_knowledge import create
from ..search.test_drift import break_index, make_stale
from ..servers import APP_V2, backend_env, free_port, serve
from ..test_cli import run
from .alertmanager import WebhookReceiver, alertmanager_binary_path, firing, http, running_alertmanager
from .stack import (
    ALERT_RULES,
    RECORDING_RULES,
    SLO_RULES,
    api,
    backend_scrape_config,
    bare_prometheus,
    native_prometheus,
    require_prometheus,
    script_env,
    wait_for,
    wait_for_evaluation,
    wait_for_target,
)


def doctor(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["doctor", *args], env=env, catch_exceptions=False)


def lines(result: Result) -> dict[str, str]:
    """Check id → status id, from the JSON output."""
    return {check["check"]: check["status"] for check in json.loads(result.output)["checks"]}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, str, Iterator[str]]]:
    """A backend (python app_v2.py, demo data), Prometheus scraping it (setup-monitoring.sh --native) and an
    Alertmanager without channels receiving its alerts; the backend can be stopped."""
    server = serve(APP_V2, backend_env(tmp_path / "instance"))
    backend = next(server)
    env = script_env(backend, tmp_path / "prometheus")
    env["ALERTMANAGER_PORT"] = str(free_port())
    # Alertmanager first: Prometheus sends the Watchdog at its first evaluation.
    alertmanager = running_alertmanager(
        alertmanager_binary_path(), tmp_path / "alertmanager", {}, port=int(env["ALERTMANAGER_PORT"])
    )
    try:
        with alertmanager as alertmanager_url:
            prometheus_process = native_prometheus(env)
            try:
                yield backend, next(prometheus_process), alertmanager_url, server
            finally:
                prometheus_process.close()
    finally:
        server.close()


Stack = tuple[str, str, str, Iterator[str]]


def test_healthy_stack_is_all_ok(stack: Stack, tmp_path: Path) -> None:
    backend, prometheus, alertmanager, _server = stack
    wait_for_target(prometheus, "up")
    wait_for_evaluation(prometheus)
    urls = ("--backend-url", backend, "--prometheus-url", prometheus, "--alertmanager-url", alertmanager)
    same_database = {"MKS_INSTANCE_PATH": str(tmp_path / "instance")}  # the backend's (stack)
    result = doctor(*urls, env=same_database)
    assert result.exit_code == 0, result.output
    assert [line[:4] for line in result.output.splitlines() if line.startswith("[")] == ["[OK]"] * 12, result.output
    as_json = doctor(*urls, "--json", env=same_database)
    assert json.loads(as_json.output)["ok"] is True
    assert lines(as_json) == {
        "backend_metrics": "ok",
        "backend_dependencies": "ok",
        "search_index": "ok",
        "prometheus": "ok",
        "prometheus_config": "ok",
        "backend_target": "ok",
        "rules": "ok",
        "alerts": "ok",
        "intervals": "ok",
        "retention": "ok",
        "alertmanager": "ok",
        "alert_delivery": "ok",
    }
    retention = next(line for line in result.output.splitlines() if line.startswith("[OK] データ保持: "))
    # Prometheus reads 10GB as 10 GiB; 2.42 exports no WAL size, so its data folder is measured on disk.
    size = re.fullmatch(r"\[OK\] データ保持: 保持 15d / 10GiB、使用 (\d+)KiB（ディスク上の (.+)）", retention)
    assert size is not None, retention
    assert int(size[1]) > 0
    assert Path(size[2]) == tmp_path / "prometheus" / "data"


def test_stopped_backend_is_reported_with_its_cause(stack: Stack) -> None:
    backend, prometheus, _alertmanager, server = stack
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
        lines(doctor("--backend-url", backend, "--prometheus-url", prometheus, "--json"))["backend_metrics"] == "error"
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
    # PostgreSQL: the rows went with the triggers off, so the fields' totals (migration 0023) are off too.
    totals = "、索引の項目の長さの合計が各行の合計と違う" if database_url.startswith("postgresql") else ""
    assert (
        f"[NG] 検索索引: ナレッジと一致しません: 索引にない 1 件（例: {ids[0]}）、"
        f"削除済みなのに索引にある 1 件（例: {ids[2]}）{totals}\n"
        "       → 対処: mks search reindex を実行してください。\n"
    ) in result.output
    assert run(database_url, tmp_path, "search", "reindex").exit_code == 0
    report = json.loads(run(database_url, tmp_path, "doctor", *nothing_listens, "--json").output)
    assert next(check for check in report["checks"] if check["check"] == "search_index") == {
        "check": "search_index",
        "name": "検索索引",
        "status": "ok",
        "status_label": "OK",
        "message": "索引済み 2 件（ナレッジと一致）",
        "fix": "",
    }


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_search_index_whose_copy_of_a_status_is_stale_is_ng(
    client: FlaskClient, admin: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    ids = [create(client, admin, title=f"足場の点検 {number}")["id"] for number in range(2)]
    make_stale(database_url, {ids[1]: "status = 'approved'"})
    stale = check_search_index(make_settings(database_url, tmp_path / "instance"))
    assert (stale.status, stale.message, stale.fix) == (
        CheckStatus.ERROR,
        f"ナレッジと一致しません: 索引の分類・状態が古い 1 件（例: {ids[1]}）",
        REINDEX_FIX,
    )


# What each driver says, first line, when the schema was never created.
UNMIGRATED_REASONS = {"sqlite": "no such table: knowledge", "postgresql": 'relation "knowledge" does not exist'}


def test_search_index_check_creates_no_sqlite_file(tmp_path: Path) -> None:
    absent = tmp_path / "absent.sqlite3"
    missing = check_search_index(make_settings(f"sqlite:///{absent}", tmp_path / "instance"))
    assert (missing.status, missing.message, missing.fix) == (
        CheckStatus.ERROR,
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
        CheckStatus.ERROR,
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
        {
            "id": 4,
            "uid": "mks-error-budget",
            "title": "エラーバジェット",
            "type": "dash-db",
            "tags": ["mks"],
            "folderUid": "mirai",
            "folderTitle": "Mirai",
        },
        {
            "id": 5,
            "uid": "mks-dependencies",
            "title": "依存サービス",
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
    return {check: status for check, status in lines(result).items() if check.startswith("grafana")}


def test_grafana_checks_pass_on_recorded_answers(grafana_replay: tuple[str, dict[str, Any]]) -> None:
    url, _responses = grafana_replay
    assert grafana_doctor(url) == {"grafana": "ok", "grafana_datasource": "ok", "grafana_dashboards": "ok"}


def test_grafana_missing_dashboard_and_bad_password(grafana_replay: tuple[str, dict[str, Any]]) -> None:
    url, responses = grafana_replay
    responses["/api/search?type=dash-db&tag=mks"][2]["folderTitle"] = "General"
    assert grafana_doctor(url)["grafana_dashboards"] == "error"
    assert grafana_doctor(url, password="wrong") == {"grafana": "ok", "grafana_api": "error"}


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
    assert lines(healthy)["prometheus_config"] == "ok"
    assert (
        "[NG] Prometheus の設定: 再読み込みに失敗し、前の設定（ルールを含む）で動いています\n"
        "       → 対処: promtool check config prometheus.yml と promtool check rules でエラーを直し、"
    ) in broken.output
    assert "[OK] Prometheus: " in broken.output  # it still answers


def alerting_to(port: int) -> str:
    """Prometheus configuration lines that send alerts to an Alertmanager on this loopback port."""
    return f"alerting: {{alertmanagers: [{{static_configs: [{{targets: ['127.0.0.1:{port}']}}]}}]}}\n"


def wait_for_destination(prometheus: str) -> None:
    """Wait (bounded) until Prometheus has discovered its Alertmanager."""
    wait_for(
        "Prometheus never discovered its Alertmanager",
        lambda: api(prometheus, "alertmanagers")["activeAlertmanagers"],
    )


def test_alertmanager_is_checked_without_being_asked(tmp_path: Path) -> None:
    """Without --alertmanager-url, doctor looks at localhost:9093: NG when Prometheus sends alerts there, 警告 when
    Prometheus sends alerts nowhere (nobody is told)."""
    require_prometheus()
    with bare_prometheus(tmp_path / "sending", config_text=alerting_to(9093)) as prometheus:
        wait_for_destination(prometheus)
        sending = doctor("--backend-url", "http://127.0.0.1:9", "--prometheus-url", prometheus)
    with bare_prometheus(tmp_path / "silent") as prometheus:
        silent = doctor("--backend-url", "http://127.0.0.1:9", "--prometheus-url", prometheus, "--json")
    assert (
        "[NG] Alertmanager: http://localhost:9093 に接続できません（[Errno 111] Connection refused）。"
        "Prometheus の送信先: http://127.0.0.1:9093/api/v2/alerts\n"
        "       → 対処: Alertmanager を起動してください"
    ) in sending.output
    assert lines(silent)["alertmanager"] == "warning"
    assert "alert_delivery" not in lines(silent)


def test_notifications_that_all_fail_are_ng(tmp_path: Path) -> None:
    """A webhook that answers 404 (a wrong URL): Alertmanager's notifications all fail, and doctor says so."""
    require_prometheus()
    with (
        WebhookReceiver(status=404) as wrong_url,
        running_alertmanager(alertmanager_binary_path(), tmp_path / "am", {"ALERT_WEBHOOK_URL": wrong_url.url}) as am,
        bare_prometheus(tmp_path / "prometheus", config_text=alerting_to(int(am.rsplit(":", 1)[1]))) as prometheus,
    ):
        wait_for_destination(prometheus)
        http(f"{am}/api/v2/alerts", [firing("MKSBackendDown", "critical")])
        urls = ("--backend-url", "http://127.0.0.1:9", "--prometheus-url", prometheus, "--alertmanager-url", am)
        for _ in range(60):  # bounded: a critical alert is sent at once (group_wait 0s), a 404 is not retried
            checks = json.loads(doctor(*urls, "--json").output)["checks"]
            delivery = next(check for check in checks if check["check"] == "alert_delivery")
            if delivery["status"] != "ok":
                break
            time.sleep(0.5)
    assert len(wrong_url.notifications) == 1
    assert (delivery["status"], delivery["message"]) == (
        "error",
        "起動以来 Prometheus → Alertmanager 送信なし、webhook 0/1 件成功（失敗あり）",
    )
    assert "ALERT_SMTP_REQUIRE_TLS=false" in delivery["fix"]


def test_a_target_on_the_wrong_port_is_named_as_such(tmp_path: Path) -> None:
    require_prometheus()
    wrong = free_port()
    with bare_prometheus(tmp_path / "prometheus", config_text=backend_scrape_config(f"127.0.0.1:{wrong}")) as prom:
        wait_for_target(prom, "down")
        result = doctor("--backend-url", "http://127.0.0.1:5100", "--prometheus-url", prom)
    assert (
        f"       → 対処: ターゲットのポート {wrong} が、バックエンドのポート 5100（http://127.0.0.1:5100）と違います。"
        "収集先（setup-monitoring.sh の MKS_TARGETS が書く targets/mks-backend.yml）を"
        "バックエンドのポートに直してください。"
    ) in result.output
    assert "MKS_HOST=0.0.0.0" not in result.output  # the advice for a backend listening on 127.0.0.1 only


def test_rules_and_targets_not_run_yet_are_warnings_not_ng(tmp_path: Path) -> None:
    """Just after Prometheus starts, nothing is scraped or evaluated yet: that is not a fault. A daily interval
    keeps this Prometheus there (its first scrape and evaluation come at an offset within the day)."""
    require_prometheus()
    config = backend_scrape_config("127.0.0.1:5100", RECORDING_RULES, ALERT_RULES, SLO_RULES).replace(
        "scrape_interval: 1s, evaluation_interval: 1s", "scrape_interval: 1d, evaluation_interval: 1d"
    )
    with bare_prometheus(tmp_path / "prometheus", config_text=config) as prometheus:
        undiscovered = doctor("--backend-url", "http://127.0.0.1:9", "--prometheus-url", prometheus, "--json")
        # the job's target discovered (it is not scraped for a day)
        wait_for("the target was never discovered", lambda: api(prometheus, "targets")["activeTargets"])
        report = doctor("--backend-url", "http://127.0.0.1:9", "--prometheus-url", prometheus, "--json")
    assert lines(undiscovered)["backend_target"] == "warning"  # before discovery, or discovered and not scraped
    checks = {check["check"]: check for check in json.loads(report.output)["checks"]}
    assert (checks["backend_target"]["status"], checks["backend_target"]["message"]) == (
        "warning",
        "まだ収集されていません（http://127.0.0.1:5100/metrics）",
    )
    assert checks["rules"]["status"] == "warning"
    assert checks["rules"]["message"].startswith("まだ評価されていないルール ")
