"""Instrumentation overhead: the same request mix with MKS_METRICS_ENABLED=true and =false, side by side.

Two servers of the same kind run at once, one with metrics and one without, each on its own copy
of the generated corpus. wrk (its own process, CONNECTIONS connections) sends the mix (detail
pages, a filtered list page, a search) to one and then the other, alternating which goes first
(A/B, B/A, …) so drift favours neither. The figure is the median of the per-round ratios
with ÷ without, each round's pair measured back to back. Done for one single-process server
(prometheus_client's in-memory values) and for gunicorn in multiprocess mode (mmap files).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import serving, wrk
from .config import BenchConfig
from .report import Figure, at_least, median, spread
from .server import Server, running

BENCHMARK = "計装オーバーヘッド"
TARGET = at_least(95)
SWITCHES = ("true", "false")


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


def mix(config: BenchConfig) -> list[str]:
    """The request mix, in the order each wrk connection cycles through it."""
    details = serving.detail_paths(config)
    listing = serving.list_path(category=serving.LIST_CATEGORY)
    search = serving.search_path()
    # Detail pages are the bulk of real traffic: each cycle reads two, lists once and searches once.
    pairs = zip(details[0::2], details[1::2], strict=False)
    return [path for first, second in pairs for path in (first, listing, second, search)]


@contextmanager
def _pair(config: BenchConfig, source: Path, mode: Mode) -> Iterator[dict[str, Server]]:
    with ExitStack() as stack:
        servers = {}
        for switch in SWITCHES:
            name = f"{mode.key}-metrics-{switch}"
            servers[switch] = stack.enter_context(
                running(
                    config.work_dir / "overhead" / name,
                    serving.copy_url(source, name),
                    workers=mode.workers,
                    multiprocess=mode.multiprocess,
                    metrics_enabled=switch,
                )
            )
        yield servers


def _measure(config: BenchConfig, source: Path, mode: Mode) -> dict[str, list[float]]:
    """req/s of each switch per round; the first of a round alternates between the two."""
    paths = mix(config)
    script = config.work_dir / "overhead" / f"{mode.key}.lua"
    rates: dict[str, list[float]] = {switch: [] for switch in SWITCHES}
    with _pair(config, source, mode) as servers:
        if not config.smoke:  # warm-up
            for server in servers.values():
                wrk.run(server.base_url, paths, server.token, seconds=1, script=script)
        # Twice the rounds of the other comparisons: the difference sought is a few per cent, and
        # single 2 s rounds swing by ±6 % on a shared machine.
        for number in range(2 * serving.rounds(config)):
            order = SWITCHES if number % 2 == 0 else SWITCHES[::-1]
            for switch in order:
                server = servers[switch]
                result = wrk.run(server.base_url, paths, server.token, seconds=config.load_seconds, script=script)
                rates[switch].append(result.requests_per_second)
    return rates


def run(config: BenchConfig) -> list[Figure]:
    """Throughput with metrics as a share of throughput without, single-process and under gunicorn."""
    source = serving.database(config, "overhead")
    figures = []
    for mode in _modes():
        rates = _measure(config, source, mode)
        ratios = [100 * on / off for on, off in zip(rates["true"], rates["false"], strict=True)]
        where = f"{mode.label}, wrk {wrk.CONNECTIONS} 接続, 詳細・一覧・検索の混合"
        figures += [
            Figure(BENCHMARK, f"{where}: 計測なし req/s", median(rates["false"]), "req/s"),
            Figure(BENCHMARK, f"{where}: 計測あり req/s", median(rates["true"]), "req/s"),
            Figure(
                BENCHMARK,
                f"{where}: 計測あり ÷ なし（ラウンドごとの比の中央値）",
                median(ratios),
                "%",
                TARGET,
                spread(ratios),
            ),
        ]
    return figures
