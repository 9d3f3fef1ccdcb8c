"""Throughput and memory under gunicorn: the detail and list routes against /health, the ceiling of the same server.

One production gunicorn (default worker count, multiprocess metrics) serves the generated corpus;
wrk, in its own process on loopback with CONNECTIONS connections, loads /health, a rotation of
detail pages and the first list page (20 entries) in turn, round after round, so the three share
the machine's noise. Each route's req/s is divided by /health's of the same round; figures are the
medians over rounds. RSS of every worker is read after the last round.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from . import serving, wrk
from .config import BenchConfig
from .report import Figure, Target, at_least, at_most, median
from .server import running

BENCHMARK = "スループット"
P99_TARGET = at_most(50)
RSS_TARGET = at_most(150)


@dataclass(frozen=True)
class Route:
    key: str
    label: str
    share_target: Target


ROUTES = (
    Route("detail", "詳細", at_least(40)),
    Route("list", "一覧 20 件", at_least(25)),
)


def run(config: BenchConfig) -> list[Figure]:
    """Measure req/s, p50/p99 of detail and list as a share of /health's, and the largest worker RSS."""
    source = serving.database(config, "throughput")
    workers = serving.default_workers()
    paths = {"health": ["/health"], "detail": serving.detail_paths(config), "list": [serving.list_path()]}
    results: dict[str, list[wrk.WrkResult]] = {key: [] for key in paths}
    scripts = config.work_dir / "throughput"
    with running(scripts / "instance", serving.copy_url(source, "served"), workers=workers) as server:
        if not config.smoke:  # warm-up: caches of every worker
            for key, route_paths in paths.items():
                wrk.run(server.base_url, route_paths, server.token, seconds=1, script=scripts / f"{key}.lua")
        for _round in range(config.rounds):
            for key, route_paths in paths.items():
                results[key].append(
                    wrk.run(
                        server.base_url,
                        route_paths,
                        server.token,
                        seconds=config.load_seconds,
                        script=scripts / f"{key}.lua",
                    )
                )
        rss_mb = max(psutil.Process(pid).memory_info().rss for pid in server.worker_pids()) / 1e6

    where = f"gunicorn {workers} workers, wrk {wrk.CONNECTIONS} 接続"
    health = [result.requests_per_second for result in results["health"]]
    figures = [Figure(BENCHMARK, f"{where}: /health req/s", median(health), "req/s")]
    for route in ROUTES:
        measured = results[route.key]
        shares = [100 * result.requests_per_second / ceiling for result, ceiling in zip(measured, health, strict=True)]
        figures += [
            Figure(
                BENCHMARK, f"{where}: {route.label} req/s", median([r.requests_per_second for r in measured]), "req/s"
            ),
            Figure(BENCHMARK, f"{where}: {route.label} req/s ÷ /health", median(shares), "%", route.share_target),
            Figure(BENCHMARK, f"{where}: {route.label} p50", median([r.p50_ms for r in measured]), "ms"),
            Figure(BENCHMARK, f"{where}: {route.label} p99", median([r.p99_ms for r in measured]), "ms", P99_TARGET),
        ]
    figures.append(
        Figure(BENCHMARK, f"gunicorn {workers} workers: ワーカー RSS 最大（負荷後）", rss_mb, "MB", RSS_TARGET)
    )
    return figures
