"""``python -m bench.revisions REVISION``: an earlier revision beside this one, on the same machine at once.

Both revisions serve the same generated database at once (gunicorn each, the earlier one from a
git worktree) and the load goes to one then the other, round by round, so both see the same
machine. Prints one Markdown table:

- ``--benchmark search`` (default): HTTP p50/p95 per query of the search benchmark's query set, through the
  API and as the search page (with its facets);
- ``--benchmark throughput``: the throughput benchmark's wrk rounds (detail and list as a share
  of /health's req/s, their p50/p99) with as many workers as cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from . import harness, server, serving, throughput, wrk
from .config import BenchConfig
from .corpus import build_database
from .postgres import benchmark_server
from .report import median, percentile, spread
from .search import QUERIES, WARMUP, ask, database_url_for, show

REPOSITORY = Path(__file__).resolve().parent.parent


def _worktree(revision: str, folder: Path) -> Path:
    subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "add", "--detach", str(folder), revision], check=True)
    return folder / "backend"


def _elapsed_ms(action: Callable[[server.Server, str], object], srv: server.Server, q: str) -> float:
    started = time.perf_counter()
    action(srv, q)
    return (time.perf_counter() - started) * 1000


def compare_search(
    revision: str,
    before_backend: Path,
    size: int,
    repetitions: int,
    config: BenchConfig,
    built: dict[str, list[str]],
    dialects: list[str],
) -> str:
    """HTTP p50/p95 per query of the search benchmark, through the API and as the search page, on each dialect.

    ``built`` maps a dialect to the URL of a database bench.corpus already built with ``size``
    entries, used as it is, or to two URLs, the earlier revision's and this one's, when their
    schemas differ (a copy upgraded); the others are built here (100,000 entries: 15-30 minutes each).
    """
    work_dir = config.work_dir
    lines = [
        f"| DB | 語 | 経路 | {revision} p50 | {revision} p95 | 現在 p50 | 現在 p95 |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    routes = (("API", ask), ("画面", show))
    for dialect, name in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        if dialect not in dialects:
            continue
        with ExitStack() as stack:
            urls = built.get(dialect)
            if urls is None:
                urls = [stack.enter_context(database_url_for(config, dialect, size))]
                build_database(urls[0], size)
            servers = [
                stack.enter_context(server.running(work_dir / f"{label}-{dialect}", url, workers=2, backend=backend))
                for label, url, backend in (("before", urls[0], before_backend), ("after", urls[-1], harness.BACKEND))
            ]
            timings: dict[tuple[int, str, str], list[float]] = {}
            for query in QUERIES:
                for srv in servers:
                    for _ in range(WARMUP):
                        for _route, action in routes:
                            _elapsed_ms(action, srv, query.q)
            for repetition in range(repetitions):
                # Each revision goes first every other round: the one asked second must not pay for the
                # first one's work after its answer (access log, metrics files) on the shared cores.
                order = list(enumerate(servers))
                for query in QUERIES:
                    for route, action in routes:
                        for index, srv in order if repetition % 2 == 0 else order[::-1]:
                            key = (index, query.q, route)
                            timings.setdefault(key, []).append(_elapsed_ms(action, srv, query.q))
            for query in QUERIES:
                for route, _action in routes:
                    cells = [
                        f"{statistic(timings[(index, query.q, route)]):.1f} ms"
                        for index in range(2)
                        for statistic in (median, lambda samples: percentile(samples, 0.95))
                    ]
                    lines.append(f"| {name} {size:,}件 | {query.label} | {route} | {' | '.join(cells)} |")
    return "\n".join(lines)


def compare_throughput(revision: str, before_backend: Path, config: BenchConfig) -> str:
    """The throughput benchmark's rounds against both revisions, workers = cores, on copies of one database."""
    workers = os.cpu_count() or 1
    source = serving.database(config, "throughput")
    with ExitStack() as stack:
        servers = {
            label: stack.enter_context(serving.serve_copy(source, folder, workers=workers, backend=backend))
            for label, folder, backend in ((revision, "before", before_backend), ("現在", "after", harness.BACKEND))
        }
        results = throughput.measure(config, servers)
    columns = [_throughput_cells(results[label]) for label in servers]
    lines = [f"| 項目 ({workers} workers, wrk {wrk.CONNECTIONS} 接続) | {revision} | 現在 |", "|---|---:|---:|"]
    lines += [f"| {name} | {before} | {after} |" for (name, before), (_, after) in zip(*columns, strict=True)]
    return "\n".join(lines)


def _throughput_cells(by_route: dict[str, list[wrk.WrkResult]]) -> list[tuple[str, str]]:
    """(figure, value) of one server: /health req/s, then each route's share of it, p50 and p99."""
    health = [result.requests_per_second for result in by_route["health"]]
    cells = [("/health req/s", f"{median(health):,.0f}")]
    for route in throughput.ROUTES:
        measured = by_route[route.key]
        shares = throughput.shares_of_health(by_route, route.key)
        cells += [
            (f"{route.label} req/s ÷ /health", f"{median(shares):.1f} %（{spread(shares)}）"),
            (f"{route.label} p50", f"{median([result.p50_ms for result in measured]):.1f} ms"),
            (f"{route.label} p99", f"{median([result.p99_ms for result in measured]):.1f} ms"),
        ]
    return cells


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.revisions", description=__doc__)
    parser.add_argument("revision", help="比べる以前の git リビジョン")
    parser.add_argument("--size", type=int, help="検索: 件数（既定 100,000、--smoke では 300）")
    parser.add_argument("--repetitions", type=int, help="検索: 各クエリの計測回数（既定 30、--smoke では 3）")
    parser.add_argument("--benchmark", choices=("search", "throughput"), default="search", help="比べるベンチマーク")
    parser.add_argument("--smoke", action="store_true", help="ハーネスの動作確認用の極小版（数値に意味はない）")
    parser.add_argument(
        "--database",
        action="append",
        default=[],
        metavar="DIALECT=URL[,URL]",
        help="検索: bench.corpus で --size 件を構築済みの DB（sqlite か postgresql）。構築せずに使う。"
        "スキーマが違うときは以前の版用と現在用の 2 つ",
    )
    parser.add_argument(
        "--dialect",
        action="append",
        choices=("sqlite", "postgresql"),
        help="検索: 比べるデータベース（既定は両方）",
    )
    arguments = parser.parse_args(argv)
    built = {dialect: urls.split(",") for dialect, urls in (item.split("=", 1) for item in arguments.database)}
    if not built.keys() <= {"sqlite", "postgresql"}:
        parser.error("--database は sqlite=URL または postgresql=URL で指定してください")
    with tempfile.TemporaryDirectory(prefix="mks-bench-revisions-") as scratch, benchmark_server() as postgres_url:
        work_dir = Path(scratch)
        folder = work_dir / "before"
        before_backend = _worktree(arguments.revision, folder)
        config = (
            BenchConfig.for_smoke(work_dir, postgres_url) if arguments.smoke else BenchConfig(work_dir, postgres_url)
        )
        try:
            if arguments.benchmark == "search":
                size = arguments.size or config.search_sizes[-1]
                repetitions = arguments.repetitions or config.repetitions
                dialects = arguments.dialect or ["sqlite", "postgresql"]
                result = compare_search(arguments.revision, before_backend, size, repetitions, config, built, dialects)
            else:
                result = compare_throughput(arguments.revision, before_backend, config)
            print(result)
        finally:
            subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "remove", "--force", str(folder)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
