"""Scrape cost: time to answer GET /metrics once every route has been served with its usual statuses.

Single process: one server that ran the route script (bench.traffic) once. Multiprocess: gunicorn
with SCRAPE_WORKERS workers, the script repeated until every worker's own files hold every series
(checked in the multiprocess directory), scraped; then the oldest worker is restarted RESTARTS
times (SIGTERM, gunicorn forks a replacement), with a round of the script after each restart so
every worker that dies has served traffic; the script is repeated until the new workers hold
every series too, and the scrape is timed again. A scrape reads every *.db file of the directory,
so the restarts must not leave files behind beyond the live workers' and one archive per type.
Scrapes are sent one at a time from this process; figures are p50 over config.repetitions.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import requests

from . import serving, traffic
from .config import BenchConfig
from .report import Figure, at_most, median, percentile
from .server import Server

BENCHMARK = "スクレイプ時間"
SCRAPE_WORKERS = 4
RESTARTS = 20
WARMUP = 3
# After restarts a scrape also reads the archive of dead workers, at most one more worker's worth
# of series: (4 + 1) / 4 = 125 % of the reading, plus the noise of a shared machine. Files kept
# per dead worker (prometheus_client's default) grow it without bound: 330 % after 20 restarts.
GROWTH_TARGET = at_most(150)
# One archive file per summed type (counter, histogram) beside the live workers' files.
ARCHIVE_FILES = 2


def scrape_times(server: Server, repetitions: int) -> list[float]:
    """Milliseconds of `repetitions` sequential GET /metrics, after a warm-up."""
    times = []
    with requests.Session() as session:
        for number in range(WARMUP + repetitions):
            started = time.perf_counter()
            response = session.get(f"{server.base_url}/metrics", timeout=60)
            elapsed = 1000 * (time.perf_counter() - started)
            response.raise_for_status()
            if number >= WARMUP:
                times.append(elapsed)
    return times


def metric_files(directory: Path) -> int:
    return len(list(directory.glob("*.db")))


def _single(config: BenchConfig, source: Path) -> list[Figure]:
    # The accounts the traffic script creates get a cheap hash: the scrape is what is measured.
    with serving.serve_copy(
        source, "single", workers=1, multiprocess=False, argon2_time_cost="1", argon2_memory_cost_kib="64"
    ) as server:
        traffic.drive(traffic.RouteTraffic(server), passes=1)
        times = scrape_times(server, config.repetitions)
    return [
        Figure(BENCHMARK, "単一プロセス: /metrics p50", median(times), "ms", at_most(25), "スクリプト 1 巡の後"),
        Figure(BENCHMARK, "単一プロセス: /metrics p95", percentile(times, 0.95), "ms"),
    ]


def _multiprocess(config: BenchConfig, source: Path) -> list[Figure]:
    workers = 2 if config.smoke else SCRAPE_WORKERS
    restarts = 2 if config.smoke else RESTARTS
    with serving.serve_copy(
        source, "gunicorn", workers=workers, argon2_time_cost="1", argon2_memory_cost_kib="64"
    ) as server:
        assert server.multiprocess_dir is not None
        script = traffic.RouteTraffic(server)
        passes_before = traffic.drive_every_worker(server, script)
        files_before = metric_files(server.multiprocess_dir)
        before = scrape_times(server, config.repetitions)
        for _restart in range(restarts):
            oldest = min(server.worker_pids(), key=lambda pid: psutil.Process(pid).create_time())
            server.restart_worker(oldest)
            traffic.drive(script, passes=workers, threads=workers)
        passes_after = traffic.drive_every_worker(server, script)
        files_after = metric_files(server.multiprocess_dir)
        after = scrape_times(server, config.repetitions)
    where = f"gunicorn {workers} workers"
    growth = 100 * median(after) / median(before)
    covered = "全ワーカーが全系列を保持（スクリプト {} 巡）"
    return [
        Figure(BENCHMARK, f"{where}: /metrics p50", median(before), "ms", at_most(60), covered.format(passes_before)),
        Figure(BENCHMARK, f"{where}: /metrics p95", percentile(before, 0.95), "ms"),
        Figure(
            BENCHMARK,
            f"{where}, ワーカー再起動 {restarts} 回後: /metrics p50",
            median(after),
            "ms",
            at_most(60),
            covered.format(passes_after),
        ),
        Figure(BENCHMARK, f"{where}: 再起動 {restarts} 回後 ÷ 前（p50）", growth, "%", GROWTH_TARGET),
        Figure(BENCHMARK, f"{where}: メトリクスファイル数（再起動前）", files_before, "個"),
        Figure(
            BENCHMARK,
            f"{where}: メトリクスファイル数（再起動 {restarts} 回後）",
            files_after,
            "個",
            at_most(files_before + ARCHIVE_FILES),
        ),
    ]


def run(config: BenchConfig) -> list[Figure]:
    """p50 of /metrics single-process and under gunicorn, before and after worker restarts."""
    source = serving.database(config, "scrape")
    return _single(config, source) + _multiprocess(config, source)
