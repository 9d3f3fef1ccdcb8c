"""Instrumentation overhead: the same request mix with MKS_METRICS_ENABLED=true and =false, side by side.

Three servers of the same kind run at once, each on its own copy of the generated corpus: one
with metrics, one without, and a second one without (the control). Every round loads all three
at the same time for the same seconds, each through its own wrk process (CONNECTIONS
connections, the mix of detail pages, a filtered list page and a search), rotating which wrk
starts first. The servers are confined to one shared CPU and the load generators to another, so
at every moment the three compete for the same core under the same conditions; taking turns
instead (A for 2 s, then B) measured the machine's swings as much as the metrics (single rounds
from 57 % to 130 %). The figure is the median of the per-round ratios with ÷ without; the
control's ratio to the other server without metrics shows what the method itself can resolve.
Done for one single-process server (prometheus_client's in-memory values) and for gunicorn in
multiprocess mode (mmap files).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import serving, wrk
from .config import BenchConfig
from .report import Figure, at_least, median, spread
from .server import Server

BENCHMARK = "計装オーバーヘッド"
TARGET = at_least(95)
# Each arm's MKS_METRICS_ENABLED: with metrics, without, and the control (without again).
ARMS = {"on": "true", "off": "false", "control": "false"}


@dataclass(frozen=True)
class Mode:
    key: str
    label: str
    workers: int
    multiprocess: bool


def _modes() -> tuple[Mode, ...]:
    workers = serving.default_workers()
    return (
        Mode("single", "単一プロセス", 1, False),
        Mode("gunicorn", f"gunicorn {workers} workers（マルチプロセス）", workers, True),
    )


def _cpus() -> tuple[str | None, str | None]:
    """The CPU of the load generators and the CPU the servers share (none pinned on a 1-CPU machine)."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return str(available[0]), str(available[-1])


def mix(config: BenchConfig) -> list[str]:
    """The request mix, in the order each wrk connection cycles through it."""
    details = serving.detail_paths(config)
    listing = serving.list_path(category=serving.LIST_CATEGORY)
    search = serving.search_path()
    # Detail pages are the bulk of real traffic: each cycle reads two, lists once and searches once.
    pairs = zip(details[0::2], details[1::2], strict=False)
    return [path for first, second in pairs for path in (first, listing, second, search)]


@contextmanager
def _servers(config: BenchConfig, source: Path, mode: Mode, cpus: str | None) -> Iterator[dict[str, Server]]:
    with ExitStack() as stack:
        servers = {}
        for arm, metrics_enabled in ARMS.items():
            name = f"{mode.key}-{arm}"
            servers[arm] = stack.enter_context(
                serving.serve_copy(
                    source,
                    name,
                    workers=mode.workers,
                    multiprocess=mode.multiprocess,
                    cpus=cpus,
                    metrics_enabled=metrics_enabled,
                )
            )
        yield servers


def _measure(config: BenchConfig, source: Path, mode: Mode) -> dict[str, list[float]]:
    """req/s of each arm per round, all arms loaded at once."""
    paths = mix(config)
    load_cpu, server_cpu = _cpus()
    arms = list(ARMS)
    rates: dict[str, list[float]] = {arm: [] for arm in arms}
    with _servers(config, source, mode, server_cpu) as servers, ThreadPoolExecutor(len(arms)) as pool:

        def load_together(seconds: float, first: int) -> dict[str, float]:
            runs = {
                arm: pool.submit(
                    wrk.run,
                    servers[arm].base_url,
                    paths,
                    servers[arm].token,
                    seconds=seconds,
                    script=config.work_dir / "overhead" / f"{mode.key}-{arm}.lua",
                    cpus=load_cpu,
                )
                for arm in arms[first:] + arms[:first]
            }
            return {arm: run.result().requests_per_second for arm, run in runs.items()}

        if not config.smoke:
            load_together(1, 0)  # warm-up
        # Three times the rounds of the other comparisons: the difference sought is a few per cent.
        for number in range(3 * serving.rounds(config)):
            for arm, rate in load_together(config.load_seconds, number % len(arms)).items():
                rates[arm].append(rate)
    return rates


def _ratios(numerators: list[float], denominators: list[float]) -> list[float]:
    return [100 * top / bottom for top, bottom in zip(numerators, denominators, strict=True)]


def run(config: BenchConfig) -> list[Figure]:
    """Throughput with metrics as a share of throughput without, single-process and under gunicorn."""
    source = serving.database(config, "overhead")
    figures = []
    for mode in _modes():
        rates = _measure(config, source, mode)
        ratios = _ratios(rates["on"], rates["off"])
        control = _ratios(rates["control"], rates["off"])
        where = f"{mode.label}, 3 台同時・CPU 1 個を共有, wrk 各 {wrk.CONNECTIONS} 接続, 詳細・一覧・検索の混合"
        figures += [
            Figure(BENCHMARK, f"{where}: 計測なし req/s", median(rates["off"]), "req/s"),
            Figure(BENCHMARK, f"{where}: 計測あり req/s", median(rates["on"]), "req/s"),
            Figure(
                BENCHMARK,
                f"{where}: 計測あり ÷ なし（ラウンドごとの比の中央値）",
                median(ratios),
                "%",
                TARGET,
                spread(ratios),
            ),
            Figure(
                BENCHMARK,
                f"{where}: 対照 — 計測なしの 2 台目 ÷ なし（方法の誤差）",
                median(control),
                "%",
                detail=spread(control),
            ),
        ]
    return figures
