#!/usr/bin/env python3
"""The Prometheus rules of MKS, generated from thresholds.py and slo.py: edit those, not the YAML.

    python3 rules.py           # rewrite prometheus/recording-rules.yml, alert-rules.yml and slo-rules.yml
    python3 rules.py --check   # exit 1 naming every file that differs from what this generates

Standard library only (setup-monitoring.sh runs --check with the system's python3).

The alerts' names, labels and levels are the guide's contract (job="mks-backend"); recording rules are named
level:metric:operations (https://prometheus.io/docs/practices/rules/), and dashboards and alerts use those
names. Every alert links to its section of the runbook (heading = alert name, anchor = lowercased name).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: its neighbours are modules
import slo
from thresholds import MINIMUM_REQUESTS_PER_SECOND, THRESHOLDS, runbook_url

PROMETHEUS = Path(__file__).resolve().parent / "prometheus"
Rule = dict[str, Any]
Group = dict[str, Any]

# Traffic of people and programs: not Prometheus's scrapes, nor the health probes.
USER_REQUESTS = 'endpoint!~"/metrics|/health|/ready"'
# `or (total * 0)`: 0 rather than absent for an instance with traffic whose counter has no series yet.
FILLED = "\nor\n(sum by (job, instance) (rate(mks_http_requests_total[5m])) * 0)"
ENOUGH_TRAFFIC = f"\nand on (job, instance) instance:mks_http_user_requests:rate5m >= {MINIMUM_REQUESTS_PER_SECOND}"


def _record(name: str, expr: str, comment: str = "") -> Rule:
    return {"#": comment, "record": name, "expr": expr}


def _quantile(q: str, by: str, histogram: str) -> str:
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({histogram}_bucket[5m])))"


RECORDING_RULES: list[Rule] = [
    _record("instance:mks_http_requests:rate5m", "sum by (job, instance) (rate(mks_http_requests_total[5m]))"),
    _record(
        "instance:mks_http_user_requests:rate5m",
        f"sum by (job, instance) (rate(mks_http_requests_total{{{USER_REQUESTS}}}[5m]))",
        "Requests besides scrapes and probes: the error-rate and latency alerts need enough of it to mean anything.",
    ),
    _record(
        "instance:mks_http_requests_5xx:rate5m",
        'sum by (job, instance) (rate(mks_http_requests_total{status=~"5.."}[5m]))' + FILLED,
        "The backend exports its 500 and 503 series at 0 from start-up, but a 5xx of another status (or of an older "
        "backend) exists only after its first answer: without the fill the sum would be absent on a healthy instance.",
    ),
    _record(
        "instance:mks_http_errors:ratio_rate5m",
        "instance:mks_http_requests_5xx:rate5m\n/\n(instance:mks_http_requests:rate5m > 0)",
        "Share of 5xx (0..1); `> 0` leaves it absent, not NaN, for an instance without requests.",
    ),
    *(
        _record(
            f"instance:mks_http_request_duration_seconds:{name}_5m",
            _quantile(q, "job, instance", "mks_http_request_duration_seconds"),
            "Without requests in the window every bucket rate is 0 and the quantile NaN (never alerts)."
            if name == "p50"
            else "",
        )
        for name, q in (("p50", "0.50"), ("p95", "0.95"), ("p99", "0.99"))
    ),
    _record(
        "endpoint:mks_http_requests:rate5m",
        "sum by (job, instance, endpoint) (rate(mks_http_requests_total[5m]))",
        "Per endpoint: the route template, a bounded label set.",
    ),
    _record(
        "endpoint:mks_http_request_duration_seconds:p95_5m",
        _quantile("0.95", "job, instance, endpoint", "mks_http_request_duration_seconds"),
    ),
    _record(
        "instance:mks_database_query_duration_seconds:p95_5m",
        _quantile("0.95", "job, instance", "mks_database_query_duration_seconds"),
        "All operations together.",
    ),
    _record(
        "instance:mks_db_errors:rate5m",
        'sum by (job, instance) (rate(mks_errors_total{type="db_error"}[5m]))' + FILLED,
        "Database failures (503 answers, type=db_error) per second.",
    ),
    _record(
        "instance:mks_auth_failures:rate5m",
        'sum by (job, instance) (rate(mks_auth_attempts_total{status="failure"}[5m]))' + FILLED,
        "Failed logins (wrong credentials) per second; refusals by the rate limiter are counted below.",
    ),
    _record(
        "instance:mks_rate_limit_hits:rate5m",
        "sum by (job, instance) (rate(mks_rate_limit_hits_total[5m]))" + FILLED,
        "Requests refused by the rate limiter (429) per second, all endpoints.",
    ),
    _record(
        "instance:mks_rate_limit_storage_errors:rate5m",
        "sum by (job, instance) (rate(mks_rate_limit_storage_errors_total[5m]))",
        "Requests let through unlimited because Redis failed. No labels: every worker exports it from 0.",
    ),
]


def _alert(name: str, expr: str, wait: str, severity: str, summary: str, description: str, comment: str = "") -> Rule:
    return {
        "#": comment,
        "alert": name,
        "expr": expr,
        "for": wait,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "description": description, "runbook_url": runbook_url(name)},
    }


def _number(value: float | None) -> str:
    assert value is not None
    return f"{value:g}"


def _percent(value: float | None) -> str:
    assert value is not None
    return f"{value * 100:g}%"


class _HostResource(NamedTuple):
    """One of the guide's host resource pairs, and how its alerts' annotations name it."""

    key: str  # in THRESHOLDS
    name: str  # of the alerts: High<name>Usage, Critical<name>Usage
    metric: str  # a gauge 0-100 exported by the app
    what: str  # for the summaries
    subject: str  # for the descriptions, after "{instance} の" (a space before a Latin word)
    warning_for: str
    critical_state: str  # the critical summary, before the level
    harm: str  # what the critical description warns of


HOST_RESOURCES = (
    _HostResource(
        "cpu_percent",
        "CPU",
        "mks_system_cpu_usage_percent",
        "CPU 使用率",
        " CPU 使用率",
        "5m",
        "CPU 使用率が危険水準",
        "応答遅延・タイムアウトの恐れがあります。",
    ),
    _HostResource(
        "memory_percent",
        "Memory",
        "mks_system_memory_usage_percent",
        "メモリ使用率",
        "メモリ使用率",
        "5m",
        "メモリ使用率が危険水準",
        "OOM によるワーカー停止の恐れがあります。",
    ),
    _HostResource(
        "disk_percent",
        "Disk",
        "mks_system_disk_usage_percent",
        "ディスク使用率",
        "データディレクトリのディスク使用率",
        "10m",
        "ディスクがほぼ満杯",
        "書き込み失敗が迫っています。",
    ),
)


def _host_alerts() -> list[Rule]:
    """The guide's host resource pairs."""
    rules = []
    for resource in HOST_RESOURCES:
        level = THRESHOLDS[resource.key]
        for severity, value, wait, alert, summary, harm in (
            ("warning", level.warning, resource.warning_for, f"High{resource.name}Usage", f"{resource.what}が高い", ""),
            ("critical", level.critical, "5m", f"Critical{resource.name}Usage", resource.critical_state, resource.harm),
        ):
            rules.append(
                _alert(
                    alert,
                    f"{resource.metric} > {_number(value)}",
                    wait,
                    severity,
                    f"{summary}（{_number(value)}% 超）",
                    f"{{{{ $labels.instance }}}} の{resource.subject}が {wait.removesuffix('m')} 分以上 "
                    f'{_number(value)}% を超えています（現在 {{{{ printf "%.1f" $value }}}}%）。{harm}',
                )
            )
    return rules


def _application_alerts() -> list[Rule]:
    latency, errors = THRESHOLDS["latency_p95_seconds"], THRESHOLDS["error_ratio"]
    database, workers = THRESHOLDS["db_query_p95_seconds"], THRESHOLDS["workers_busy_ratio"]
    p95 = "instance:mks_http_request_duration_seconds:p95_5m"
    ratio = "instance:mks_http_errors:ratio_rate5m"
    return [
        _alert(
            "SlowAPIResponse",
            f"{p95} > {_number(latency.warning)}{ENOUGH_TRAFFIC}",
            "5m",
            "warning",
            f"API 応答が遅い（p95 が {_number(latency.warning)} 秒超）",
            f"{{{{ $labels.instance }}}} の API 応答時間 p95 が 5 分以上 {_number(latency.warning)} 秒を超えています"
            '（現在 {{ printf "%.2f" $value }} 秒）。',
            "p95 of all requests of the instance (the levels are histogram bucket bounds). The four latency and "
            "error-rate alerts need MINIMUM_REQUESTS_PER_SECOND besides scrapes and probes (30 in the 5m window).",
        ),
        _alert(
            "CriticalAPIResponse",
            f"{p95} > {_number(latency.critical)}{ENOUGH_TRAFFIC}",
            "5m",
            "critical",
            f"API 応答が極端に遅い（p95 が {_number(latency.critical)} 秒超）",
            f"{{{{ $labels.instance }}}} の API 応答時間 p95 が 5 分以上 {_number(latency.critical)} 秒を超えています"
            '（現在 {{ printf "%.2f" $value }} 秒）。利用者はほぼ操作できない状態です。',
        ),
        _alert(
            "HighErrorRate",
            f"{ratio} > {_number(errors.warning)}{ENOUGH_TRAFFIC}",
            "3m",
            "warning",
            f"5xx エラー率が高い（{_percent(errors.warning)} 超）",
            f"{{{{ $labels.instance }}}} の 5xx 応答の割合が 3 分以上 {_percent(errors.warning)} を超えています"
            "（現在 {{ $value | humanizePercentage }}）。",
            "Share of 5xx answers; absent (never firing) on an instance without traffic.",
        ),
        _alert(
            "CriticalErrorRate",
            f"{ratio} > {_number(errors.critical)}{ENOUGH_TRAFFIC}",
            "3m",
            "critical",
            f"5xx エラー率が危険水準（{_percent(errors.critical)} 超）",
            f"{{{{ $labels.instance }}}} の 5xx 応答の割合が 3 分以上 {_percent(errors.critical)} を超えています"
            "（現在 {{ $value | humanizePercentage }}）。",
        ),
        _alert(
            "MKSDatabaseErrors",
            f"instance:mks_db_errors:rate5m > {_number(THRESHOLDS['db_errors_per_second'].critical)}",
            "2m",
            "critical",
            "データベースエラーが発生している",
            "{{ $labels.instance }} でデータベース障害による 503 応答が 2 分以上続いています"
            '（毎秒 {{ printf "%.3f" $value }} 件）。',
            "Any database failure (503 database_unavailable) that lasts 2 minutes.",
        ),
        _alert(
            "MKSSlowDatabaseQueries",
            f"instance:mks_database_query_duration_seconds:p95_5m > {_number(database.warning)}",
            "5m",
            "warning",
            f"SQL の実行が遅い（p95 が {_number(database.warning)} 秒超）",
            f"{{{{ $labels.instance }}}} の SQL 実行時間 p95 が 5 分以上 {_number(database.warning)} 秒を超えています"
            '（現在 {{ printf "%.2f" $value }} 秒）。',
        ),
        _alert(
            "MKSWorkersSaturated",
            'avg_over_time(mks_http_requests_in_progress{job="mks-backend"}[5m])\n'
            f'/ on (job, instance) mks_http_worker_threads{{job="mks-backend"}} > {_number(workers.warning)}',
            "5m",
            "warning",
            f"ワーカーがほぼ埋まっている（処理中の要求がスレッド数の {_percent(workers.warning)} 超）",
            "{{ $labels.instance }} で処理中の要求が 5 分以上、平均してスレッド数の {{ $value | humanizePercentage }}"
            " です。新しい要求はワーカーの前で待たされています。",
            "Requests in progress (the scrape included) against the threads that can serve them: near the worker "
            "count, new requests wait in front of the workers, which the durations cannot see "
            "(mks_http_request_queue_seconds, from the proxy's X-Request-Start, can).",
        ),
    ]


def _availability_alerts() -> list[Rule]:
    return [
        _alert(
            "MKSBackendDown",
            'up{job="mks-backend"} == 0',
            "1m",
            "critical",
            "MKS バックエンドが停止している",
            "{{ $labels.instance }} の /metrics を 1 分以上取得できません（up = {{ $value }}）。"
            "プロセス停止・ネットワーク断・/metrics の認証失敗のいずれかです。",
        ),
        _alert(
            "MKSMetricsAbsent",
            'absent(up{job="mks-backend"})',
            "5m",
            "critical",
            "MKS バックエンドの監視対象が存在しない",
            "job={{ $labels.job }} のスクレイプ対象が 5 分以上 1 つもありません（absent = {{ $value }}）。"
            "Prometheus の設定から対象が消えています。監視が止まっている状態です。",
            "up == 0 needs a target; when the target itself is gone there is no up series and MKSBackendDown stays "
            "silent. absent() has only the job label.",
        ),
        _alert(
            "MKSRateLimitStorageDown",
            "instance:mks_rate_limit_storage_errors:rate5m > 0",
            "2m",
            "warning",
            "レート制限のストレージ（Redis）に接続できない",
            "{{ $labels.instance }} がレート制限のストレージに 2 分以上接続できず、要求を制限なしで通しています"
            '（毎秒 {{ printf "%.2f" $value }} 件）。',
            "The API stays up without its rate limits (fail open): not a page. 2m rides over a Redis restart.",
        ),
    ]


def _security_alerts() -> list[Rule]:
    logins, refusals = THRESHOLDS["login_failures_per_second"], THRESHOLDS["rate_limit_hits_per_second"]
    per_minute = _number(60 * logins.warning) if logins.warning is not None else ""
    return [
        _alert(
            "MKSLoginFailureSpike",
            f"instance:mks_auth_failures:rate5m > {_number(logins.warning)}",
            "2m",
            "warning",
            "ログイン失敗が急増（ブルートフォースの疑い）",
            f"{{{{ $labels.instance }}}} でログイン失敗が 2 分以上 毎秒 {_number(logins.warning)} 件"
            f'（毎分 {per_minute} 件）を超えています（現在 毎秒 {{{{ printf "%.2f" $value }}}} 件）。',
            "A brute-force or credential-stuffing attempt.",
        ),
        _alert(
            "MKSRateLimitSpike",
            f"instance:mks_rate_limit_hits:rate5m > {_number(refusals.warning)}",
            "5m",
            "warning",
            "レート制限による拒否が多発",
            f"{{{{ $labels.instance }}}} でレート制限（429）による拒否が 5 分以上 毎秒 {_number(refusals.warning)} 件を"
            '超えています（現在 毎秒 {{ printf "%.2f" $value }} 件）。',
        ),
        _alert(
            "MKSAccountLocked",
            'sum by (job, instance) (increase(mks_auth_attempts_total{job="mks-backend", status="locked"}[5m])) > 0',
            "0m",
            "warning",
            "ロック中のアカウントへのログイン試行",
            "{{ $labels.instance }} で、ロック中のアカウントへのログイン試行が直近 5 分に "
            '{{ printf "%.0f" $value }} 件ありました。'
            "総当たり攻撃か、ロックされた利用者からの問い合わせが考えられます。",
            "Someone kept guessing after MKS_LOGIN_LOCKOUT_THRESHOLD failures, or a person is locked out. "
            "Exported at 0 from start-up, so the first such attempt is an increase.",
        ),
    ]


def _content_alerts() -> list[Rule]:
    return [
        _alert(
            "MKSKnowledgeReviewDue",
            'max by (job) (mks_knowledge_review_due{job="mks-backend"}) > 0',
            "1h",
            "warning",
            "見直し期限を過ぎたナレッジがある",
            "見直し期限（review_due）が今日以前のナレッジが {{ $value }} 件あります（アーカイブを除く）。"
            "品質・安全の管理部門に見直しを依頼してください。",
            "Every instance reports the same count of the shared database: one alert for the job. 1h rides over "
            "the midnight (UTC) when entries due that day join, and an edit that sets a later date.",
        ),
    ]


def _monitoring_alerts() -> list[Rule]:
    return [
        _alert(
            "Watchdog",
            "vector(1)",
            "0m",
            "none",
            "監視の生存確認（常に発火）",
            "Prometheus と Alertmanager が動いている間、常に発火しています（値 {{ $value }}）。"
            "これが届かなくなったら監視が止まっています。",
            "Always firing. Alertmanager sends it every minute to the dead-man's switch (ALERT_WATCHDOG_URL), "
            "which pages when it stops hearing from it.",
        ),
        _alert(
            "PrometheusConfigReloadFailed",
            "prometheus_config_last_reload_successful == 0",
            "5m",
            "warning",
            "Prometheus の設定の再読み込みに失敗",
            "{{ $labels.instance }} の Prometheus が設定（ルールファイルを含む）の再読み込みに 5 分以上失敗したままです"
            "（値 {{ $value }}）。動いているのは前の設定で、その後の変更は効いていません。",
        ),
        _alert(
            "PrometheusRuleEvaluationFailures",
            "sum by (job, instance, rule_group) (increase(prometheus_rule_evaluation_failures_total[5m])) > 0",
            "0m",
            "critical",
            "Prometheus のルール評価が失敗している",
            "{{ $labels.instance }} のルールグループ {{ $labels.rule_group }} の評価が直近 5 分に "
            '{{ printf "%.0f" $value }} 回失敗しました。そのグループのアラートは発火できません。',
            "A rule that fails to evaluate is an alert that cannot fire.",
        ),
        _alert(
            "PrometheusAlertDeliveryFailing",
            "sum by (job, instance, alertmanager) (rate(prometheus_notifications_errors_total[5m])) > 0",
            "5m",
            "critical",
            "Prometheus から Alertmanager へアラートを渡せない",
            "{{ $labels.instance }} の Prometheus が Alertmanager（{{ $labels.alertmanager }}）へのアラート送信に"
            ' 5 分以上失敗しています（毎秒 {{ printf "%.2f" $value }} 件）。',
            "No alert reaches anyone (the Watchdog stops too).",
        ),
        _alert(
            "AlertmanagerNotificationsFailing",
            "sum by (job, instance, integration) (rate(alertmanager_notifications_failed_total[5m])) > 0",
            "5m",
            "critical",
            "Alertmanager の通知が失敗している",
            "{{ $labels.instance }} の Alertmanager で {{ $labels.integration }} への通知が 5 分以上失敗しています"
            '（毎秒 {{ printf "%.3f" $value }} 件）。'
            "メールなら中継サーバーと ALERT_SMTP_REQUIRE_TLS を確認してください。",
            "An integration (email, webhook, slack) fails to deliver: the alerts routed to it reach nobody.",
        ),
        _alert(
            "AlertmanagerConfigReloadFailed",
            "alertmanager_config_last_reload_successful == 0",
            "5m",
            "warning",
            "Alertmanager の設定の再読み込みに失敗",
            "{{ $labels.instance }} の Alertmanager が設定の再読み込みに 5 分以上失敗したままです（値 {{ $value }}）。"
            "動いているのは前の設定です。",
        ),
    ]


# The scrape jobs of the dependencies' exporters (prometheus/prometheus.yml): nginx-log is mtail reading nginx's
# JSON access log, blackbox probes the public URL through nginx.
DEPENDENCY_JOBS = ("postgres", "redis", "node", "nginx", "nginx-log", "blackbox")


def _dependency_alerts() -> list[Rule]:
    """PostgreSQL, Redis, the host and nginx, as their exporters see them."""
    level = {key: _number(threshold.warning) for key, threshold in THRESHOLDS.items() if threshold.warning is not None}
    connections, seconds = level["postgres_connections_percent"], level["postgres_transaction_seconds"]
    growth, hours = level["postgres_growth_gb_per_day"], level["host_disk_full_hours"]
    days = level["tls_certificate_days"]
    nginx_errors = THRESHOLDS["nginx_error_ratio"].warning
    nginx_requests = 'rate(nginx_log_requests_total{job="nginx-log"}[5m])'
    return [
        _alert(
            "PostgreSQLDown",
            'pg_up{job="postgres"} == 0',
            "1m",
            "critical",
            "PostgreSQL に接続できない",
            "{{ $labels.instance }} の postgres-exporter が PostgreSQL に 1 分以上接続できません"
            "（pg_up = {{ $value }}）。MKS はデータベースを使う要求に 503 を返しています。",
            "The exporter answers but cannot reach the server; an exporter that is gone is ExporterDown.",
        ),
        _alert(
            "PostgreSQLTooManyConnections",
            'sum by (job, instance) (pg_stat_activity_count{job="postgres"})\n'
            '/ on (job, instance) max by (job, instance) (pg_settings_max_connections{job="postgres"}) * 100'
            f" > {connections}",
            "2m",
            "warning",
            f"PostgreSQL の接続数が上限に近い（max_connections の {connections}% 超）",
            "{{ $labels.instance }} の PostgreSQL の接続数が 2 分以上 max_connections の "
            f"{connections}% を超えています"
            '（現在 {{ printf "%.0f" $value }}%）。上限に達すると新しい接続が拒否されます。',
            "The exporter counts client connections per database (background workers have none) against "
            "max_connections, whose superuser slots stay usable by postgres only.",
        ),
        _alert(
            "PostgreSQLLongTransaction",
            f'max by (job, instance, datname) (pg_stat_activity_max_tx_duration{{job="postgres"}}) > {seconds}',
            "1m",
            "warning",
            f"PostgreSQL に長時間のトランザクションがある（{seconds} 秒超）",
            "{{ $labels.instance }} のデータベース {{ $labels.datname }} で、"
            f"{seconds} 秒を超えて開いたままのトランザクションがあります"
            '（最長 {{ printf "%.0f" $value }} 秒）。ロック待ちと VACUUM の遅れの原因になります。',
            "The oldest open transaction per database, whatever its state (idle in transaction included).",
        ),
        _alert(
            "PostgreSQLDeadlocks",
            'sum by (job, instance, datname) (increase(pg_stat_database_deadlocks{job="postgres"}[5m]))'
            f" > {level['postgres_deadlocks']}",
            "0m",
            "warning",
            "PostgreSQL でデッドロックが発生",
            "{{ $labels.instance }} のデータベース {{ $labels.datname }} で直近 5 分にデッドロックが "
            '{{ printf "%.0f" $value }} 件ありました。どちらかのトランザクションは取り消されています。',
            "Every deadlock aborts a transaction: any is worth a look.",
        ),
        _alert(
            "PostgreSQLDatabaseGrowing",
            '(pg_database_size_bytes{job="postgres"} - pg_database_size_bytes{job="postgres"} offset 1d) / 1e9'
            f" > {growth}",
            "1h",
            "warning",
            f"PostgreSQL のデータベースが急に大きくなっている（1 日に {growth} GB 超）",
            "{{ $labels.instance }} のデータベース {{ $labels.datname }} が直近 1 日で "
            '{{ printf "%.1f" $value }} GB 増えました'
            f"（閾値 {growth} GB/日）。取り込みの暴走か、VACUUM されない不要行の可能性があります。",
            "Growth against the same database a day earlier; needs a day of history.",
        ),
        _alert(
            "RedisDown",
            'redis_up{job="redis"} == 0',
            "1m",
            "critical",
            "Redis に接続できない",
            "{{ $labels.instance }} の redis-exporter が Redis に 1 分以上接続できません（redis_up = {{ $value }}）。"
            "MKS はレート制限なしで要求を通しています（MKSRateLimitStorageDown）。",
        ),
        _alert(
            "RedisMemoryNearLimit",
            'redis_memory_used_bytes{job="redis"}\n'
            '/ on (job, instance) (redis_memory_max_bytes{job="redis"} > 0) * 100'
            f" > {level['redis_memory_percent']}",
            "5m",
            "warning",
            f"Redis のメモリが上限に近い（maxmemory の {level['redis_memory_percent']}% 超）",
            "{{ $labels.instance }} の Redis の使用メモリが 5 分以上 maxmemory の "
            f"{level['redis_memory_percent']}% を超えています"
            '（現在 {{ printf "%.1f" $value }}%）。上限に達すると書き込みが失敗するか、キーが追い出されます。',
            "Only a Redis with maxmemory set (redis_memory_max_bytes 0 means no limit: no series).",
        ),
        _alert(
            "HostDiskWillFill",
            'predict_linear(node_filesystem_avail_bytes{job="node", fstype!~"tmpfs|ramfs"}[6h], '
            f"{hours} * 3600) < 0\n"
            'and on (job, instance, device, mountpoint) node_filesystem_readonly{job="node"} == 0',
            "1h",
            "warning",
            f"ディスクが {hours} 時間以内に満杯になる見込み",
            "{{ $labels.instance }} の {{ $labels.mountpoint }} は、直近 6 時間の傾向が続くと "
            f"{hours} 時間以内に満杯になります（{hours} 時間後の空きの予測 {{{{ $value | humanize1024 }}}}B）。",
            "The trend of the last 6 hours, extended: a disk that fills slowly is told a day ahead, not at 90 %.",
        ),
        _alert(
            "HostMemoryLow",
            '(1 - node_memory_MemAvailable_bytes{job="node"} / node_memory_MemTotal_bytes{job="node"}) * 100'
            f" > {level['host_memory_percent']}",
            "5m",
            "warning",
            f"ホストの空きメモリが少ない（使用率 {level['host_memory_percent']}% 超）",
            "{{ $labels.instance }} のメモリ使用率（MemAvailable から）が 5 分以上 "
            f"{level['host_memory_percent']}% を超えています"
            '（現在 {{ printf "%.1f" $value }}%）。OOM killer がプロセスを止める恐れがあります。',
            "node-exporter's view, also on hosts without the backend (the database's, when it has its own).",
        ),
        _alert(
            "ProbeFailed",
            'probe_success{job="blackbox"} == 0',
            "2m",
            "critical",
            "公開 URL に外から接続できない",
            "blackbox-exporter が {{ $labels.instance }} に 2 分以上接続できていません"
            "（probe_success = {{ $value }}）。利用者には MKS が止まって見えています。",
            "The public URL through nginx, TLS included: what users see, whatever the cause.",
        ),
        _alert(
            "TLSCertificateExpiring",
            f'(probe_ssl_earliest_cert_expiry{{job="blackbox"}} - time()) / 86400 < {days}',
            "10m",
            "warning",
            f"TLS 証明書の期限が近い（残り {days} 日未満）",
            f"{{{{ $labels.instance }}}} の TLS 証明書の期限まで {days} 日を切りました"
            '（残り {{ printf "%.1f" $value }} 日）。更新を確認してください。',
            "The earliest expiry in the chain nginx serves, as the probe sees it.",
        ),
        _alert(
            "NginxHighErrorRate",
            f'rate(nginx_log_responses_5xx_total{{job="nginx-log"}}[5m]) / ({nginx_requests} > 0)'
            f" > {level['nginx_error_ratio']}\n"
            f"and {nginx_requests} >= {MINIMUM_REQUESTS_PER_SECOND}",
            "5m",
            "warning",
            f"nginx の 5xx 応答の割合が高い（{_percent(nginx_errors)} 超）",
            "{{ $labels.instance }} の nginx が 5 分以上、応答の "
            f"{_percent(nginx_errors)} を超えて 5xx を返しています"
            "（現在 {{ $value | humanizePercentage }}）。"
            "MKS に届かない 502・504 も含みます。",
            "From the access log (mtail): stub_status counts no statuses. Unlabelled counters, exported at 0 from "
            "mtail's start, so the first 5xx is an increase. Needs the same minimum traffic as HighErrorRate.",
        ),
        _alert(
            "ExporterDown",
            f'up{{job=~"{"|".join(DEPENDENCY_JOBS)}"}} == 0',
            "5m",
            "warning",
            "依存サービスのエクスポーターに接続できない",
            "Prometheus がジョブ {{ $labels.job }} の {{ $labels.instance }} を 5 分以上取得できません"
            "（up = {{ $value }}）。その間、このジョブのアラートは発火できません。",
            "Without its exporter a dependency's alerts are silent: PostgreSQLDown needs pg_up.",
        ),
    ]


def alert_groups() -> list[Group]:
    return [
        {"name": "mks-system", "rules": _host_alerts()},
        {"name": "mks-application", "rules": _application_alerts()},
        {"name": "mks-availability", "rules": _availability_alerts()},
        {"name": "mks-security", "rules": _security_alerts()},
        {"name": "mks-content", "rules": _content_alerts()},
        {"name": "mks-monitoring", "rules": _monitoring_alerts()},
        {"name": "mks-dependencies", "rules": _dependency_alerts()},
    ]


# --- YAML --------------------------------------------------------------------------------------------------


def _scalar(value: object) -> str:
    if isinstance(value, float | int):
        return repr(value)
    text = str(value)
    return "'" + text.replace("'", "''") + "'"


def _comment(text: str, pad: str, width: int = 110) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(pad) + len(line) + len(word) + 3 > width:
            lines.append(f"{pad}# {line}")
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([f"{pad}# {line}"] if line else [])


def to_yaml(value: object, indent: int = 0) -> list[str]:
    """YAML lines for dicts, lists, strings and numbers: multi-line strings as block scalars, a dict's
    ``"#"`` entry as a comment above it."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "#":
                continue
            if isinstance(item, str) and "\n" in item:
                lines.append(f"{pad}{key}: |")
                lines += [f"{pad}  {line}" for line in item.splitlines()]
            elif isinstance(item, dict | list):
                lines.append(f"{pad}{key}:")
                lines += to_yaml(item, indent + 2)
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            nested = to_yaml(item, indent + 2)
            if isinstance(item, dict) and item.get("#"):
                lines += _comment(item["#"], pad)
            lines.append(f"{pad}- {nested[0].lstrip()}")
            lines += nested[1:]
    return lines


def render(groups: list[Group], source: str) -> str:
    header = [
        f"# Generated by backend/monitoring/rules.py from {source}: edit those, then run",
        "#   python3 backend/monitoring/rules.py",
        "# (setup-monitoring.sh and CI run it with --check).",
    ]
    return "\n".join([*header, *to_yaml({"groups": groups})]) + "\n"


def files() -> dict[str, str]:
    """Each rule file's name with the text this generates (runbook_links.py relinks copies for deployment)."""
    return {
        "recording-rules.yml": render([{"name": "mks-recording", "rules": RECORDING_RULES}], "its RECORDING_RULES"),
        "alert-rules.yml": render(alert_groups(), "thresholds.py"),
        "slo-rules.yml": render(slo.rule_groups(), "slo.py (OBJECTIVES, BURN_ALERTS)"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the files on disk")
    args = parser.parse_args(argv)
    stale = []
    for name, text in files().items():
        if args.check:
            path = PROMETHEUS / name
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            (PROMETHEUS / name).write_text(text, encoding="utf-8")
    for name in stale:
        print(f"prometheus/{name} は rules.py の出力と違います（python3 rules.py で再生成）", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
