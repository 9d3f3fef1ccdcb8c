"""Throughput and memory under gunicorn: the detail and list routes against /health, the ceiling of the same server.

Two production gunicorns (multiprocess metrics) serve copies of the generated corpus side by side:
one with as many workers as cores, the configuration the targets are held to, and one with
gunicorn.conf.py's default of 2 × cores + 1 for comparison (on SQLite the work is CPU-bound, so
extra workers only add contention). wrk, in its own process on loopback with CONNECTIONS
connections, loads /health, a rotation of detail pages and the first list page (20 entries) in
turn, round after round, on one server then the other, so all share the machine's noise. Each
route's req/s is divided by /health's of the same server and round; figures are medians over
rounds. RSS of every worker is read after the last round.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TypeVar

import psutil

from . import serving, wrk
from .config import BenchConfig
from .report import Figure, Target, at_least, at_most, median, spread
from .server import Server

BENCHMARK = "スループット"
K = TypeVar("K")  # what names a server of a comparison
P99_TARGET = at_most(50)
RSS_TARGET = at_most(150)


@dataclass(frozen=True)
class Route:
    key: str
    label: str
    share_target: Target


# Each page beside its JSON twin: the detail and its entry page, the search API and the search page.
ROUTES = (
    Route("detail", "詳細", at_least(40)),
    Route("list", "一覧 20 件", at_least(25)),
    Route("page", "ナレッジの画面", at_least(30)),
    Route("search", "検索 20 件", at_least(10)),
    Route("search-page", "検索画面", at_least(10)),
)


@dataclass(frozen=True)
class Setup:
    workers: int
    judged: bool  # the targets hold for this one; the other is shown for comparison

    @property
    def label(self) -> str:
        note = "" if self.judged else "（参考: gunicorn.conf.py の既定）"
        return f"gunicorn {self.workers} workers{note}"


def _setups() -> tuple[Setup, ...]:
    return (Setup(os.cpu_count() or 1, judged=True), Setup(serving.default_workers(), judged=False))


@contextmanager
def _servers(config: BenchConfig, setups: tuple[Setup, ...]) -> Iterator[dict[Setup, Server]]:
    source = serving.database(config, "throughput")
    with ExitStack() as stack:
        yield {
            setup: stack.enter_context(serving.serve_copy(source, f"workers-{setup.workers}", workers=setup.workers))
            for setup in setups
        }


def _figures(setup: Setup, results: dict[str, list[wrk.WrkResult]], rss_mb: float) -> list[Figure]:
    where = f"{setup.label}, wrk {wrk.CONNECTIONS} 接続"
    health = [result.requests_per_second for result in results["health"]]
    figures = [Figure(BENCHMARK, f"{where}: /health req/s", median(health), "req/s")]
    for route in ROUTES:
        measured = results[route.key]
        shares = shares_of_health(results, route.key)
        rates = [result.requests_per_second for result in measured]
        figures += [
            Figure(BENCHMARK, f"{where}: {route.label} req/s", median(rates), "req/s"),
            Figure(
                BENCHMARK,
                f"{where}: {route.label} req/s ÷ /health",
                median(shares),
                "%",
                route.share_target if setup.judged else None,
                spread(shares),
            ),
            Figure(BENCHMARK, f"{where}: {route.label} p50", median([r.p50_ms for r in measured]), "ms"),
            Figure(
                BENCHMARK,
                f"{where}: {route.label} p99",
                median([r.p99_ms for r in measured]),
                "ms",
                P99_TARGET if setup.judged else None,
            ),
        ]
    rss_target = RSS_TARGET if setup.judged else None
    figures.append(Figure(BENCHMARK, f"{setup.label}: ワーカー RSS 最大（負荷後）", rss_mb, "MB", rss_target))
    return figures


def shares_of_health(results: dict[str, list[wrk.WrkResult]], route: str) -> list[float]:
    """Each round's req/s of the route as a percentage of the same round's /health req/s."""
    return [
        100 * result.requests_per_second / ceiling.requests_per_second
        for result, ceiling in zip(results[route], results["health"], strict=True)
    ]


def route_paths(config: BenchConfig) -> dict[str, list[str]]:
    """What wrk loads, by route key: /health (the ceiling), a rotation of entries through the API and as
    pages, the first list page, and the first page of a common word's search through the API and as a page."""
    return {
        "health": ["/health"],
        "detail": serving.detail_paths(config),
        "list": [serving.list_path()],
        "page": serving.detail_paths(config, prefix=""),
        "search": [serving.search_path()],
        "search-page": [serving.search_page_path()],
    }


def measure(config: BenchConfig, servers: Mapping[K, Server]) -> dict[K, dict[str, list[wrk.WrkResult]]]:
    """wrk results per server and route, round after round, the servers' order alternating each round."""
    paths = route_paths(config)
    results: dict[K, dict[str, list[wrk.WrkResult]]] = {key: {route: [] for route in paths} for key in servers}
    scripts = config.work_dir / "throughput"
    for server in servers.values():
        for targets in paths.values():
            wrk.answering(server.base_url, targets, server.token)
    if not config.smoke:  # warm-up: caches of every worker
        for server in servers.values():
            for route, targets in paths.items():
                wrk.run(server.base_url, targets, server.token, seconds=1, script=scripts / f"{route}.lua")
    order = list(servers)
    for number in range(serving.rounds(config)):
        for key in order if number % 2 == 0 else order[::-1]:
            server = servers[key]
            for route, targets in paths.items():
                results[key][route].append(
                    wrk.run(
                        server.base_url,
                        targets,
                        server.token,
                        seconds=config.load_seconds,
                        script=scripts / f"{route}.lua",
                    )
                )
    return results


def run(config: BenchConfig) -> list[Figure]:
    """Measure req/s, p50/p99 of detail and list as a share of /health's, and the largest worker RSS."""
    setups = _setups()
    with _servers(config, setups) as servers:
        results = measure(config, servers)
        rss = {
            setup: max(psutil.Process(pid).memory_info().rss for pid in server.worker_pids()) / 1e6
            for setup, server in servers.items()
        }
    return [figure for setup in setups for figure in _figures(setup, results[setup], rss[setup])]
