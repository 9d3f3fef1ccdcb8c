"""`mks doctor`: the monitoring guide's troubleshooting section as checks that say what is wrong and how to fix it.

Each check talks to a running component over HTTP (the backend's /metrics, Prometheus's and
Alertmanager's APIs, Grafana's HTTP API) and returns one result: OK, 警告 (warning) or NG.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from .config import Settings

BACKEND_JOB = "mks-backend"
GRAFANA_FOLDER = "Mirai"
GRAFANA_DASHBOARDS = {"mks-app-overview", "mks-api-performance", "mks-system-resources"}
GRAFANA_DATASOURCE_UID = "mks-prometheus"
EXPECTED_RULE_GROUPS = {"mks-recording", "mks-system", "mks-application", "mks-availability", "mks-security"}
MAX_SANE_INTERVAL_SECONDS = 60
TSDB_WARNING_RATIO = 0.8
TIMEOUT_SECONDS = 5


class Status(StrEnum):
    OK = "OK"
    WARNING = "警告"
    NG = "NG"


@dataclass(frozen=True)
class Result:
    """The outcome of one check: what was looked at, what was found, and the fix when not OK."""

    name: str
    status: Status
    message: str
    fix: str = ""

    def line(self) -> str:
        """One line for people."""
        text = f"[{self.status.value}] {self.name}: {self.message}"
        return f"{text}\n       → 対処: {self.fix}" if self.fix else text


@dataclass(frozen=True)
class Endpoints:
    """Where the components listen, and the credentials to use."""

    backend: str = "http://localhost:5100"
    prometheus: str = "http://localhost:9090"
    alertmanager: str | None = None
    grafana: str | None = None
    grafana_user: str = "admin"
    grafana_password: str | None = None
    metrics_headers: dict[str, str] = field(default_factory=dict)


class HttpError(Exception):
    """A component did not answer, or answered with an error status."""


def _get(url: str, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as exc:
        raise HttpError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise HttpError(str(getattr(exc, "reason", exc))) from None


def _json(url: str, headers: dict[str, str] | None = None) -> Any:
    return json.loads(_get(url, headers))


def _prometheus_data(endpoints: Endpoints, path: str) -> Any:
    return _json(f"{endpoints.prometheus}/api/v1/{path}")["data"]


# --- backend ------------------------------------------------------------------------------------


def check_backend_metrics(endpoints: Endpoints) -> Result:
    """The backend's /metrics answers and parses as the Prometheus text format with the MKS metrics."""
    name = "バックエンド /metrics"
    try:
        text = _get(f"{endpoints.backend}/metrics", endpoints.metrics_headers).decode()
    except HttpError as exc:
        return Result(name, Status.NG, f"{endpoints.backend}/metrics に接続できません（{exc}）", _backend_fix(str(exc)))
    try:
        families = {family.name for family in text_string_to_metric_families(text)}
    except ValueError as exc:
        return Result(
            name, Status.NG, f"Prometheus 形式として読めません（{exc}）", "バックエンドのログを確認してください。"
        )
    if "mks_http_requests" not in families:
        return Result(
            name, Status.NG, "mks_http_requests_total がありません", "MKS_METRICS_ENABLED=true で起動してください。"
        )
    return Result(name, Status.OK, f"{len(families)} 種類のメトリクスを取得")


# What each dependency named by /ready is, for people, and what to do when it is unavailable.
DEPENDENCIES = {
    "database": (
        "データベース",
        "データベースを起動し、MKS_DATABASE_URL を確認してください（復旧すれば再起動は不要）。",
    ),
    "rate_limit_storage": (
        "レート制限のストレージ",
        "Redis を起動し、MKS_RATELIMIT_STORAGE_URI を確認してください。"
        "停止中は制限なしで受け付けています（mks_rate_limit_storage_errors_total が増えます）。",
    ),
}


def _ready_body(url: str) -> Any:
    # /ready answers 503 with a body that still lists each dependency, so read the body of errors too.
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return json.loads(exc.read())


def check_backend_dependencies(endpoints: Endpoints) -> Result:
    """The backend's /ready: the database down is NG, the rate-limit storage down is 警告 (it fails open)."""
    name = "バックエンドの依存先"
    try:
        body = _ready_body(f"{endpoints.backend}/ready")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        error = str(getattr(exc, "reason", exc))
        return Result(name, Status.NG, f"{endpoints.backend}/ready に接続できません（{error}）", _backend_fix(error))
    if "error" in body:
        statuses = {item["dependency"]: item["status"] for item in body["error"].get("details") or []}
    else:
        statuses = body["dependencies"]
    down = [dependency for dependency, status in statuses.items() if status != "ok"]
    summary = "、".join(f"{DEPENDENCIES.get(d, (d, ''))[0]}: {status}" for d, status in statuses.items())
    if not down:
        return Result(name, Status.OK, summary)
    fix = " ".join(DEPENDENCIES.get(d, (d, "バックエンドのログを確認してください。"))[1] for d in down)
    return Result(name, Status.NG if "database" in down else Status.WARNING, summary, fix)


def _backend_fix(error: str) -> str:
    if "401" in error:
        return (
            "/metrics が保護されています。"
            "MKS_METRICS_BASIC_AUTH_* / MKS_METRICS_BEARER_TOKEN と同じ認証情報を渡してください。"
        )
    return "バックエンドを起動してください（./scripts/start.sh または mks serve）。"


# --- Prometheus ---------------------------------------------------------------------------------


def check_prometheus_ready(endpoints: Endpoints) -> Result:
    """Prometheus answers /-/ready."""
    name = "Prometheus"
    try:
        _get(f"{endpoints.prometheus}/-/ready")
    except HttpError as exc:
        return Result(
            name,
            Status.NG,
            f"{endpoints.prometheus} に接続できません（{exc}）",
            "監視スタックを起動してください（backend/monitoring/setup-monitoring.sh、Docker が無ければ --native）。",
        )
    return Result(name, Status.OK, f"{endpoints.prometheus} は稼働中")


# The scrape errors Prometheus reports, the usual cause, and the fix (the guide's troubleshooting).
SCRAPE_ERROR_CAUSES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"host\.docker\.internal.*(no such host|server misbehaving)", re.IGNORECASE),
        "Linux の Docker では host.docker.internal が解決されません。docker-compose.yml の prometheus に "
        "extra_hosts: ['host.docker.internal:host-gateway'] があるか確認してください（同梱の設定にはあります）。",
    ),
    (
        re.compile(r"connection refused", re.IGNORECASE),
        "バックエンドが停止しているか、127.0.0.1 だけで待ち受けています。バックエンドを起動し、コンテナから届くよう "
        "MKS_HOST=0.0.0.0 にして、ファイアウォールで 5100/tcp を許可してください。",
    ),
    (
        re.compile(r"status (401|403)", re.IGNORECASE),
        "Basic 認証またはトークンが一致しません。prometheus.yml の basic_auth / authorization を、バックエンドの "
        "MKS_METRICS_BASIC_AUTH_* / MKS_METRICS_BEARER_TOKEN と同じにしてください。",
    ),
    (
        re.compile(r"deadline exceeded|timeout|i/o timeout", re.IGNORECASE),
        "応答が scrape_timeout に間に合いません。"
        "ファイアウォールが通信を破棄していないか、バックエンドが過負荷でないか確認してください。",
    ),
    (
        re.compile(r"no such host", re.IGNORECASE),
        "ターゲットのホスト名が解決できません。prometheus.yml の targets を確認してください。",
    ),
]


def scrape_error_fix(error: str) -> str:
    """The likely cause and fix of a scrape error reported by Prometheus."""
    for pattern, fix in SCRAPE_ERROR_CAUSES:
        if pattern.search(error):
            return fix
    return "Prometheus の Targets 画面（/targets）とバックエンドのログを確認してください。"


def check_backend_target(endpoints: Endpoints) -> Result:
    """Prometheus scrapes the mks-backend job successfully; when not, its scrape error and the cause."""
    name = f"ターゲット {BACKEND_JOB}"
    targets = [t for t in _prometheus_data(endpoints, "targets")["activeTargets"] if t["labels"]["job"] == BACKEND_JOB]
    if not targets:
        return Result(
            name,
            Status.NG,
            "prometheus.yml にジョブがありません",
            f"scrape_configs に job_name: '{BACKEND_JOB}' を追加してください。",
        )
    down = [t for t in targets if t["health"] != "up"]
    if not down:
        return Result(name, Status.OK, "up（" + ", ".join(t["scrapeUrl"] for t in targets) + "）")
    target = down[0]
    error = target.get("lastError") or "未スクレイプ"
    return Result(name, Status.NG, f"{target['health']}: {target['scrapeUrl']}（{error}）", scrape_error_fix(error))


def check_rules(endpoints: Endpoints) -> Result:
    """Every rule group of MKS is loaded and every rule evaluates without error."""
    name = "ルール"
    groups = _prometheus_data(endpoints, "rules")["groups"]
    missing = EXPECTED_RULE_GROUPS - {group["name"] for group in groups}
    broken = [
        f"{rule['name']}（{rule.get('lastError', '')}）"
        for g in groups
        for rule in g["rules"]
        if rule["health"] != "ok"
    ]
    if missing:
        return Result(
            name,
            Status.NG,
            "読み込まれていないグループ: " + ", ".join(sorted(missing)),
            "prometheus.yml の rule_files と、ルールファイルのマウント（compose）を確認してください。",
        )
    if broken:
        return Result(
            name, Status.NG, "評価エラー: " + "; ".join(broken), "promtool check rules でルールを確認してください。"
        )
    count = sum(len(group["rules"]) for group in groups)
    return Result(name, Status.OK, f"{len(groups)} グループ・{count} ルールが正常")


def check_alerts(endpoints: Endpoints) -> Result:
    """Alerts firing now: critical is NG, warning is 警告."""
    name = "発火中のアラート"
    firing = [a for a in _prometheus_data(endpoints, "alerts")["alerts"] if a["state"] == "firing"]
    if not firing:
        return Result(name, Status.OK, "なし")
    names = ", ".join(f"{a['labels']['alertname']}({a['labels'].get('severity', '?')})" for a in firing)
    status = Status.NG if any(a["labels"].get("severity") == "critical" for a in firing) else Status.WARNING
    return Result(name, status, names, "docs/runbook.md の各アラートの節に沿って対処してください。")


def parse_seconds(duration: str) -> float:
    """Seconds in a Prometheus duration such as 1m30s."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    total = 0.0
    for number, unit in re.findall(r"(\d+)(ms|s|m|h|d)", duration):
        total += int(number) * units[unit]
    return total


def check_intervals(endpoints: Endpoints) -> Result:
    """Scrape and evaluation intervals are sane (at most a minute; timeout not above the interval)."""
    name = "収集・評価間隔"
    config = yaml.safe_load(_prometheus_data(endpoints, "status/config")["yaml"])
    defaults = config.get("global", {})
    evaluation = defaults.get("evaluation_interval", "1m")
    job: dict[str, Any] = next((j for j in config.get("scrape_configs", []) if j["job_name"] == BACKEND_JOB), {})
    scrape = job.get("scrape_interval", defaults.get("scrape_interval", "1m"))
    timeout = job.get("scrape_timeout", defaults.get("scrape_timeout", "10s"))
    summary = f"mks-backend 収集 {scrape}・タイムアウト {timeout}、評価 {evaluation}"
    if parse_seconds(timeout) > parse_seconds(scrape):
        return Result(name, Status.NG, summary, "scrape_timeout は scrape_interval 以下にしてください。")
    if max(parse_seconds(scrape), parse_seconds(evaluation)) > MAX_SANE_INTERVAL_SECONDS:
        return Result(
            name, Status.WARNING, summary, "アラートの for（3〜10 分）に対して粗すぎます。60 秒以下にしてください。"
        )
    return Result(name, Status.OK, summary)


def parse_bytes(size: str) -> float:
    """Bytes in a Prometheus size such as 10GiB (Prometheus reads 10GB as 10 GiB too); 0 when unreadable."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGTPE]?i?B)", size.strip())
    if not match:
        return 0.0
    number, unit = match.groups()
    powers = {"B": 0, "KB": 1, "MB": 2, "GB": 3, "TB": 4, "PB": 5, "EB": 6}
    return float(number) * 1024.0 ** powers[unit.replace("i", "")]


def check_retention(endpoints: Endpoints) -> Result:
    """Retention as configured, and the TSDB's size against its size limit (the guide's monthly check)."""
    name = "データ保持"
    flags = _prometheus_data(endpoints, "status/flags")
    retention_time = flags.get("storage.tsdb.retention.time", "0s")
    retention_size = flags.get("storage.tsdb.retention.size", "0B")
    text = _get(f"{endpoints.prometheus}/metrics").decode()
    used = sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name
        in (
            "prometheus_tsdb_storage_blocks_bytes",
            "prometheus_tsdb_head_chunks_storage_size_bytes",
            "prometheus_tsdb_wal_storage_size_bytes",
        )
    )
    limit = parse_bytes(retention_size)
    summary = f"保持 {retention_time} / {retention_size}、使用 {used / 1024**2:.1f}MiB"
    if limit and used > TSDB_WARNING_RATIO * limit:
        return Result(
            name,
            Status.WARNING,
            summary,
            "上限の 80% を超えています。PROMETHEUS_RETENTION_SIZE を増やすか保持期間を短くしてください。",
        )
    return Result(name, Status.OK, summary)


# --- Alertmanager and Grafana -------------------------------------------------------------------


def check_alertmanager(endpoints: Endpoints) -> Result:
    """Alertmanager answers, has a route, and Prometheus sends alerts to it."""
    name = "Alertmanager"
    assert endpoints.alertmanager is not None
    try:
        status = _json(f"{endpoints.alertmanager}/api/v2/status")
    except HttpError as exc:
        return Result(
            name,
            Status.NG,
            f"{endpoints.alertmanager} に接続できません（{exc}）",
            "docker compose --profile alertmanager up -d で起動してください。",
        )
    active = _prometheus_data(endpoints, "alertmanagers")["activeAlertmanagers"]
    if not active:
        return Result(
            name,
            Status.NG,
            "Prometheus から送信先として見えていません",
            "prometheus.yml の alerting を確認してください。",
        )
    if "route:" not in status.get("config", {}).get("original", ""):
        return Result(
            name, Status.WARNING, "ルーティング設定がありません", "alertmanager/alertmanager.yml を確認してください。"
        )
    return Result(
        name, Status.OK, f"稼働中（版 {status.get('versionInfo', {}).get('version', '?')}）、送信先 {len(active)} 件"
    )


def _grafana_headers(endpoints: Endpoints) -> dict[str, str]:
    credentials = f"{endpoints.grafana_user}:{endpoints.grafana_password or ''}".encode()
    return {"Authorization": "Basic " + base64.b64encode(credentials).decode()}


def check_grafana(endpoints: Endpoints) -> list[Result]:
    """Grafana answers, its Prometheus datasource is healthy, and the three dashboards are in folder Mirai."""
    assert endpoints.grafana is not None
    base, headers = endpoints.grafana, _grafana_headers(endpoints)
    try:
        health = _json(f"{base}/api/health")
    except HttpError as exc:
        return [
            Result(
                "Grafana", Status.NG, f"{base} に接続できません（{exc}）", "./setup-monitoring.sh で起動してください。"
            )
        ]
    results = [
        Result("Grafana", Status.OK, f"稼働中（版 {health.get('version', '?')}、DB {health.get('database', '?')}）")
    ]
    try:
        datasource = _json(f"{base}/api/datasources/uid/{GRAFANA_DATASOURCE_UID}/health", headers)
        ok = datasource.get("status") == "OK"
        results.append(
            Result(
                "Grafana データソース",
                Status.OK if ok else Status.NG,
                datasource.get("message", ""),
                "" if ok else "データソースの URL（http://prometheus:9090）と Prometheus の稼働を確認してください。",
            )
        )
        dashboards = _json(f"{base}/api/search?type=dash-db&tag=mks", headers)
    except HttpError as exc:
        fix = "GRAFANA_ADMIN_USER / GRAFANA_ADMIN_PASSWORD（backend/monitoring/.env）を確認してください。"
        return [*results, Result("Grafana API", Status.NG, f"呼び出しに失敗（{exc}）", fix)]
    in_folder = {d["uid"] for d in dashboards if d.get("folderTitle") == GRAFANA_FOLDER}
    missing = GRAFANA_DASHBOARDS - in_folder
    results.append(
        Result(
            "Grafana ダッシュボード",
            Status.NG if missing else Status.OK,
            f"フォルダー「{GRAFANA_FOLDER}」に {len(in_folder & GRAFANA_DASHBOARDS)}/{len(GRAFANA_DASHBOARDS)} 件"
            + (f"（不足: {', '.join(sorted(missing))}）" if missing else ""),
            "docker logs mks-grafana | grep -i provision でプロビジョニングのエラーを確認してください。"
            if missing
            else "",
        )
    )
    return results


# --- running ------------------------------------------------------------------------------------

PROMETHEUS_CHECKS: list[Callable[[Endpoints], Result]] = [
    check_backend_target,
    check_rules,
    check_alerts,
    check_intervals,
    check_retention,
]


def _guarded(name: str, check: Callable[[Endpoints], Result], endpoints: Endpoints) -> Result:
    try:
        return check(endpoints)
    except (HttpError, KeyError, ValueError) as exc:
        return Result(name, Status.NG, f"確認できませんでした（{exc}）", "Prometheus の稼働と URL を確認してください。")


def run_checks(endpoints: Endpoints) -> Iterator[Result]:
    """Every check, in the order of the guide's troubleshooting section."""
    yield check_backend_metrics(endpoints)
    yield check_backend_dependencies(endpoints)
    prometheus = check_prometheus_ready(endpoints)
    yield prometheus
    if prometheus.status is Status.OK:
        for check in PROMETHEUS_CHECKS:
            yield _guarded(check.__name__, check, endpoints)
        if endpoints.alertmanager:
            yield _guarded("Alertmanager", check_alertmanager, endpoints)
    if endpoints.grafana:
        yield from check_grafana(endpoints)


def metrics_headers(settings: Settings) -> dict[str, str]:
    """The Authorization header /metrics expects, from the backend's own settings (none when open)."""
    if settings.metrics_bearer_token is not None:
        return {"Authorization": f"Bearer {settings.metrics_bearer_token.get_secret_value()}"}
    if settings.metrics_basic_auth_password is not None:
        pair = f"{settings.metrics_basic_auth_username or ''}:{settings.metrics_basic_auth_password.get_secret_value()}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    return {}


def as_json(results: list[Result]) -> str:
    """The results for machines."""
    return json.dumps(
        {"ok": all(r.status is not Status.NG for r in results), "checks": [asdict(r) for r in results]},
        ensure_ascii=False,
        indent=2,
    )
