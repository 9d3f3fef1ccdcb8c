"""Checks of Prometheus: it runs, scrapes the backend, loads and evaluates the rules, and keeps its data."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .base import Check, CheckStatus, Endpoints, HttpError, Result, get, metric_samples, prometheus_data

BACKEND_JOB = "mks-backend"
EXPECTED_RULE_GROUPS = {
    "mks-recording",
    "mks-system",
    "mks-application",
    "mks-availability",
    "mks-security",
    "mks-content",
    "mks-monitoring",
    "mks-slo",
    "mks-dependencies",
}
MAX_SANE_INTERVAL_SECONDS = 60
TSDB_WARNING_RATIO = 0.8
NOT_YET_FIX = "時間がたっても変わらなければ Prometheus のログを確認してください。"


def check_prometheus_ready(endpoints: Endpoints) -> Result:
    """Prometheus answers /-/ready."""
    try:
        get(f"{endpoints.prometheus}/-/ready")
    except HttpError as exc:
        return Result(
            Check.PROMETHEUS,
            CheckStatus.ERROR,
            f"{endpoints.prometheus} に接続できません（{exc}）",
            "監視スタックを起動してください（backend/monitoring/setup-monitoring.sh、Docker が無ければ --native）。",
        )
    return Result(Check.PROMETHEUS, CheckStatus.OK, f"{endpoints.prometheus} は稼働中")


def check_prometheus_config(endpoints: Endpoints) -> Result:
    """Prometheus runs the configuration on disk: after a failed reload it runs on with the previous one."""
    info = prometheus_data(endpoints, "status/runtimeinfo")
    if not info["reloadConfigSuccess"]:
        return Result(
            Check.PROMETHEUS_CONFIG,
            CheckStatus.ERROR,
            "再読み込みに失敗し、前の設定（ルールを含む）で動いています",
            "promtool check config prometheus.yml と promtool check rules でエラーを直し、"
            "curl -X POST <Prometheus>/-/reload で読み込ませてください（アラート PrometheusConfigReloadFailed）。",
        )
    return Result(Check.PROMETHEUS_CONFIG, CheckStatus.OK, f"最後の読み込みは成功（{info['lastConfigTime']}）")


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
    """Prometheus scrapes the mks-backend job successfully; when not, its scrape error and the cause.
    A target not scraped yet (just after Prometheus started) is 警告, not NG."""
    targets = [t for t in prometheus_data(endpoints, "targets")["activeTargets"] if t["labels"]["job"] == BACKEND_JOB]
    if not targets and _configured_job(endpoints) is not None:
        return Result(
            Check.BACKEND_TARGET,
            CheckStatus.WARNING,
            "まだ収集されていません（ターゲットの検出待ち）",
            f"Prometheus の起動直後です。数秒後にもう一度実行してください。{NOT_YET_FIX}",
        )
    if not targets:
        return Result(
            Check.BACKEND_TARGET,
            CheckStatus.ERROR,
            "prometheus.yml にジョブがありません",
            f"scrape_configs に job_name: '{BACKEND_JOB}' を追加してください。",
        )
    down = [t for t in targets if t["health"] == "down"]
    if down:
        target = down[0]
        error = target.get("lastError", "")
        return Result(
            Check.BACKEND_TARGET,
            CheckStatus.ERROR,
            f"down: {target['scrapeUrl']}（{error}）",
            _target_fix(error, target["scrapeUrl"], endpoints.backend),
        )
    waiting = [t["scrapeUrl"] for t in targets if t["health"] != "up"]
    if waiting:
        return Result(
            Check.BACKEND_TARGET,
            CheckStatus.WARNING,
            "まだ収集されていません（" + ", ".join(waiting) + "）",
            f"Prometheus の起動直後です。収集間隔の後にもう一度実行してください。{NOT_YET_FIX}",
        )
    return Result(Check.BACKEND_TARGET, CheckStatus.OK, "up（" + ", ".join(t["scrapeUrl"] for t in targets) + "）")


def _target_fix(error: str, scrape_url: str, backend_url: str) -> str:
    # A refused connection on another port than the backend's is a wrong target, not a stopped backend.
    scrape_port, backend_port = urlsplit(scrape_url).port, urlsplit(backend_url).port
    if "connection refused" in error.lower() and scrape_port != backend_port:
        return (
            f"ターゲットのポート {scrape_port} が、バックエンドのポート {backend_port}（{backend_url}）と違います。"
            "収集先（setup-monitoring.sh の MKS_TARGETS が書く targets/mks-backend.yml）を"
            "バックエンドのポートに直してください。"
        )
    return scrape_error_fix(error)


def check_rules(endpoints: Endpoints) -> Result:
    """Every rule group of MKS is loaded and every rule evaluates without error."""
    groups = prometheus_data(endpoints, "rules")["groups"]
    missing = EXPECTED_RULE_GROUPS - {group["name"] for group in groups}
    rules = [rule for group in groups for rule in group["rules"]]
    broken = [f"{rule['name']}（{rule.get('lastError', '')}）" for rule in rules if rule["health"] == "err"]
    waiting = [rule["name"] for rule in rules if rule["health"] not in ("ok", "err")]
    if missing:
        return Result(
            Check.RULES,
            CheckStatus.ERROR,
            "読み込まれていないグループ: " + ", ".join(sorted(missing)),
            "prometheus.yml の rule_files と、ルールファイルのマウント（compose）を確認してください。",
        )
    if broken:
        return Result(
            Check.RULES,
            CheckStatus.ERROR,
            "評価エラー: " + "; ".join(broken),
            "promtool check rules でルールを確認してください。",
        )
    if waiting:
        return Result(
            Check.RULES,
            CheckStatus.WARNING,
            f"まだ評価されていないルール {len(waiting)} 件（例: {', '.join(waiting[:3])}）",
            f"Prometheus の起動直後です。評価間隔の後にもう一度実行してください。{NOT_YET_FIX}",
        )
    return Result(Check.RULES, CheckStatus.OK, f"{len(groups)} グループ・{len(rules)} ルールが正常")


def check_alerts(endpoints: Endpoints) -> Result:
    """Alerts firing now: critical is NG, warning is 警告. The Watchdog (severity none) always fires: not a problem."""
    firing = [
        a
        for a in prometheus_data(endpoints, "alerts")["alerts"]
        if a["state"] == "firing" and a["labels"].get("severity") != "none"
    ]
    if not firing:
        return Result(Check.ALERTS, CheckStatus.OK, "なし")
    names = ", ".join(f"{a['labels']['alertname']}({a['labels'].get('severity', '?')})" for a in firing)
    status = (
        CheckStatus.ERROR if any(a["labels"].get("severity") == "critical" for a in firing) else CheckStatus.WARNING
    )
    return Result(Check.ALERTS, status, names, "docs/runbook.md の各アラートの節に沿って対処してください。")


def _configured_job(endpoints: Endpoints, config: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The scrape configuration of the mks-backend job in the configuration Prometheus runs."""
    if config is None:
        config = yaml.safe_load(prometheus_data(endpoints, "status/config")["yaml"])
    return next((j for j in config.get("scrape_configs") or [] if j["job_name"] == BACKEND_JOB), None)


def parse_seconds(duration: str) -> float:
    """Seconds in a Prometheus duration such as 1m30s."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    total = 0.0
    for number, unit in re.findall(r"(\d+)(ms|s|m|h|d)", duration):
        total += int(number) * units[unit]
    return total


def check_intervals(endpoints: Endpoints) -> Result:
    """Scrape and evaluation intervals are sane (at most a minute; timeout not above the interval)."""
    config = yaml.safe_load(prometheus_data(endpoints, "status/config")["yaml"])
    defaults = config.get("global", {})
    evaluation = defaults.get("evaluation_interval", "1m")
    job = _configured_job(endpoints, config) or {}
    scrape = job.get("scrape_interval", defaults.get("scrape_interval", "1m"))
    timeout = job.get("scrape_timeout", defaults.get("scrape_timeout", "10s"))
    summary = f"mks-backend 収集 {scrape}・タイムアウト {timeout}、評価 {evaluation}"
    if parse_seconds(timeout) > parse_seconds(scrape):
        return Result(
            Check.INTERVALS, CheckStatus.ERROR, summary, "scrape_timeout は scrape_interval 以下にしてください。"
        )
    if max(parse_seconds(scrape), parse_seconds(evaluation)) > MAX_SANE_INTERVAL_SECONDS:
        return Result(
            Check.INTERVALS,
            CheckStatus.WARNING,
            summary,
            "アラートの for（3〜10 分）に対して粗すぎます。60 秒以下にしてください。",
        )
    return Result(Check.INTERVALS, CheckStatus.OK, summary)


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
    flags = prometheus_data(endpoints, "status/flags")
    retention_time = flags.get("storage.tsdb.retention.time", "0s")
    retention_size = flags.get("storage.tsdb.retention.size", "0B")
    used, measured_how = _tsdb_bytes(endpoints, flags.get("storage.tsdb.path", ""))
    summary = f"保持 {retention_time} / {retention_size}、使用 " + (
        f"{_size(used)}（{measured_how}）" if used is not None else f"不明（{measured_how}）"
    )
    limit = parse_bytes(retention_size)
    if limit and used is not None and used > TSDB_WARNING_RATIO * limit:
        return Result(
            Check.RETENTION,
            CheckStatus.WARNING,
            summary,
            "上限の 80% を超えています。PROMETHEUS_RETENTION_SIZE を増やすか保持期間を短くしてください。",
        )
    return Result(Check.RETENTION, CheckStatus.OK, summary)


# What retention.size counts. Prometheus 2.42 (Debian 12) exports only the first: its WAL and head chunks,
# all of the data in the first two hours, are then measured on disk when the data folder is on this machine.
TSDB_SIZE_METRICS = (
    "prometheus_tsdb_storage_blocks_bytes",
    "prometheus_tsdb_head_chunks_storage_size_bytes",
    "prometheus_tsdb_wal_storage_size_bytes",
)


def _tsdb_bytes(endpoints: Endpoints, data_path: str) -> tuple[float | None, str]:
    """The TSDB's bytes, and how they were measured; None when they cannot be."""
    samples = metric_samples(f"{endpoints.prometheus}/metrics")
    sizes = {sample.name: sample.value for sample in samples if sample.name in TSDB_SIZE_METRICS}
    if len(sizes) == len(TSDB_SIZE_METRICS):
        return sum(sizes.values()), "Prometheus のメトリクス"
    folder = Path(data_path)
    if folder.is_absolute() and folder.is_dir():
        return _folder_bytes(folder), f"ディスク上の {folder}"
    blocks = sizes.get(TSDB_SIZE_METRICS[0], 0.0)
    return None, (
        f"この版の Prometheus はブロックの大きさ（{_size(blocks)}）しか公開せず、"
        f"WAL を含むデータフォルダー {data_path} はこのマシンにありません"
    )


def _folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(FileNotFoundError):  # compaction and WAL truncation remove files as we walk
            total += path.stat().st_size if path.is_file() else 0
    return total


def _size(size: float) -> str:
    return f"{size / 1024:.0f}KiB" if size < 1024**2 else f"{size / 1024**2:.1f}MiB"
