"""`mks doctor`: the monitoring guide's troubleshooting section as checks that say what is wrong and how to fix it.

Each check talks to a running component over HTTP (the backend's /metrics, Prometheus's and
Alertmanager's APIs, Grafana's HTTP API), or reads the database (`search_index`: the search index
against the knowledge entries), and returns one result: OK, 警告 (warning) or NG.
The modules follow the guide's sections: `backend`, `search_index`, `prometheus`, `alertmanager`,
`grafana`, and `run` (the order the checks run in, and the JSON report).
"""

from .backend import metrics_headers
from .base import Check, CheckStatus, Endpoints, Result
from .prometheus import parse_bytes, parse_seconds, scrape_error_fix
from .run import as_json, run_checks

__all__ = [
    "Check",
    "CheckStatus",
    "Endpoints",
    "Result",
    "as_json",
    "metrics_headers",
    "parse_bytes",
    "parse_seconds",
    "run_checks",
    "scrape_error_fix",
]
