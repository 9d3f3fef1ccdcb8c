"""The service level objectives of MKS, and the Prometheus rules of them (rules.py writes prometheus/slo-rules.yml).

Standard library only. Edit this file, not the YAML, then run ``python3 rules.py``.

The maths is the multi-window, multi-burn-rate alerting of Google's SRE workbook (chapter "Alerting on SLOs"),
as Sloth and Pyrra generate it:
- an SLI is the share of bad requests (errors / requests) over a window, per job (the service, all instances);
- the error budget is 1 - objective; a burn rate of 1 spends exactly the budget in the SLO's window;
- an alert fires when both a long and a short window burn faster than the pair's factor: the long window
  proves the burn is significant, the short one that it is still going on (so the alert resolves minutes
  after the burn stops, not hours).
"""

from __future__ import annotations

from dataclasses import dataclass

from thresholds import MINIMUM_REQUESTS_PER_SECOND, runbook_url

GROUP = "mks-slo"

# Traffic of people and programs: not Prometheus's scrapes, not the health probes (as in recording-rules.yml).
USER_REQUESTS = 'endpoint!~"/metrics|/health|/ready"'


@dataclass(frozen=True)
class Objective:
    """One SLO: which requests are bad, the share of good ones promised, over which window."""

    slo: str  # the `slo` label of every series and alert
    title: str  # its name for people
    sli: str  # what is measured, for people
    objective: float  # e.g. 0.999: 99.9 % of requests are good
    window: str  # the SLO's window; within the Prometheus retention (15d by default)
    requests: str  # PromQL: requests per second over [{w}], by (job)
    errors: str  # PromQL: bad requests per second over [{w}], by (job); never absent where requests exist

    @property
    def budget(self) -> float:
        return round(1 - self.objective, 10)

    @property
    def window_seconds(self) -> int:
        number, unit = int(self.window[:-1]), self.window[-1]
        return number * {"d": 86400, "h": 3600}[unit]

    def requests_over(self, window: str) -> str:
        return self.requests.replace("{w}", window)

    def errors_over(self, window: str) -> str:
        return self.errors.replace("{w}", window)


@dataclass(frozen=True)
class BurnAlert:
    """A window pair of the workbook: fires when both windows burn the budget faster than `factor`."""

    long_window: str
    short_window: str
    factor: float
    severity: str  # critical pages; warning is a ticket for working hours
    alert: str


AVAILABILITY_REQUESTS = f"sum by (job) (rate(mks_http_requests_total{{{USER_REQUESTS}}}[{{w}}]))"
LATENCY_REQUESTS = f"sum by (job) (rate(mks_http_request_duration_seconds_count{{{USER_REQUESTS}}}[{{w}}]))"
LATENCY_THRESHOLD = "1.0"  # seconds; a bucket boundary of mks_http_request_duration_seconds, as its `le` reads

OBJECTIVES = (
    Objective(
        slo="availability",
        title="可用性",
        sli="5xx 以外で答えたリクエストの割合",
        objective=0.999,
        window="14d",
        requests=AVAILABILITY_REQUESTS,
        # The 5xx series may not exist yet on an instance: `or ... * 0` keeps the errors at 0, not absent.
        errors=(
            f'sum by (job) (rate(mks_http_requests_total{{{USER_REQUESTS},status=~"5.."}}[{{w}}]))'
            f" or {AVAILABILITY_REQUESTS} * 0"
        ),
    ),
    Objective(
        slo="latency",
        title="応答時間",
        sli=f"{LATENCY_THRESHOLD} 秒以内に答えたリクエストの割合",
        objective=0.99,
        window="14d",
        requests=LATENCY_REQUESTS,
        errors=(
            f"{LATENCY_REQUESTS} - sum by (job) (rate(mks_http_request_duration_seconds_bucket"
            f'{{{USER_REQUESTS},le="{LATENCY_THRESHOLD}"}}[{{w}}]))'
        ),
    ),
)

# The workbook's pairs for a 30-day objective, kept as the factors for ours: 14.4x for 1h spends 4.3 % of a
# 14-day budget, 6x for 6h 10.7 %, 1x for 3d 21 %.
BURN_ALERTS = (
    BurnAlert("1h", "5m", 14.4, "critical", "MKSErrorBudgetBurn"),
    BurnAlert("6h", "30m", 6, "critical", "MKSErrorBudgetBurn"),
    BurnAlert("3d", "6h", 1, "warning", "MKSErrorBudgetBurnTicket"),
)
# The ratios over the alerts' windows: from the raw counters up to 6h, from the recorded 5m rates above.
RATE_WINDOWS = ("5m", "30m", "1h", "6h")
SUMMED_WINDOWS = ("3d",)
FOR = "2m"


def ratio(window: str) -> str:
    """The name of the recorded error ratio over a window."""
    return f"slo:mks_sli_errors:ratio_rate{window}"


def recording_rules(objective: Objective) -> list[dict[str, object]]:
    """The error ratios over every alert window, the 5m rates the SLO window is summed from, and the budget."""
    labels = {"slo": objective.slo}
    rules: list[dict[str, object]] = [
        {"record": "slo:mks_sli_requests:rate5m", "expr": objective.requests_over("5m"), "labels": labels},
        {"record": "slo:mks_sli_errors:rate5m", "expr": objective.errors_over("5m"), "labels": labels},
    ]
    selector = f'{{slo="{objective.slo}"}}'
    for window in RATE_WINDOWS:
        # `> 0` leaves the ratio absent, not NaN, for a job without requests in the window.
        expr = f"({objective.errors_over(window)})\n/\n({objective.requests_over(window)} > 0)"
        rules.append({"record": ratio(window), "expr": expr, "labels": labels})
    for window in (*SUMMED_WINDOWS, objective.window):
        # The 5m rates recorded above, summed: a few thousand samples of one series instead of every
        # request counter's raw samples. Requests weigh as they came (a quiet night's single error counts
        # as one request, not as a 100 % ratio).
        expr = (
            f"sum_over_time(slo:mks_sli_errors:rate5m{selector}[{window}])\n/\n"
            f"(sum_over_time(slo:mks_sli_requests:rate5m{selector}[{window}]) > 0)"
        )
        rules.append({"record": ratio(window), "expr": expr, "labels": labels})
    rules += [
        {
            "record": "slo:mks_error_budget:remaining_ratio",
            "expr": f"1 - {ratio(objective.window)}{selector} / {objective.budget}",
            "labels": labels,
        },
        {
            "record": "slo:mks_error_budget:burn_rate1h",
            "expr": f"{ratio('1h')}{selector} / {objective.budget}",
            "labels": labels,
        },
    ]
    return rules


def alert_rules(objective: Objective) -> list[dict[str, object]]:
    """One alert per window pair, named by severity (a page or a ticket), labelled with its long window."""
    selector = f'{{slo="{objective.slo}"}}'
    rules: list[dict[str, object]] = []
    for burn in BURN_ALERTS:
        threshold = round(burn.factor * objective.budget, 10)
        expr = (
            f"{ratio(burn.long_window)}{selector} > {threshold}\n"
            f"and\n{ratio(burn.short_window)}{selector} > {threshold}\n"
            # A ratio of a handful of requests is noise: a quiet job whose two requests in an hour failed is at
            # 100 %, 1000 times the budget. As the guide's error-rate alerts, the pairs need this much traffic now
            # (requests counted by the SLO); a ticket then waits for working-hours traffic.
            f"and on (job)\nslo:mks_sli_requests:rate5m{selector} >= {MINIMUM_REQUESTS_PER_SECOND}"
        )
        spent = "ページ（今すぐ対応）" if burn.severity == "critical" else "チケット（営業時間内に対応）"
        rules.append(
            {
                "alert": burn.alert,
                "expr": expr,
                "for": FOR,
                "labels": {"severity": burn.severity, "slo": objective.slo, "long_window": burn.long_window},
                "annotations": {
                    "summary": f"{objective.title}のエラーバジェットを {burn.factor:g} 倍の速さで消費しています",
                    "description": (
                        f"{{{{ $labels.job }}}} の{objective.title}の SLO（{objective.sli}が {objective.window} で "
                        f"{objective.objective:.1%}）: 直近 {burn.long_window} と {burn.short_window} の目標外の割合が"
                        f"ともに {threshold:.2%}（エラーバジェット {objective.budget:.1%} の {burn.factor:g} 倍）を"
                        f"超えています（{burn.long_window}: {{{{ $value | humanizePercentage }}}}）。{spent}"
                    ),
                    "runbook_url": runbook_url(burn.alert),
                },
            }
        )
    return rules


def rule_groups() -> list[dict[str, object]]:
    """The rule group of every SLO: recording rules first (a group evaluates in order), then the alerts."""
    rules = [rule for objective in OBJECTIVES for rule in recording_rules(objective)]
    rules += [rule for objective in OBJECTIVES for rule in alert_rules(objective)]
    return [{"name": GROUP, "rules": rules}]
