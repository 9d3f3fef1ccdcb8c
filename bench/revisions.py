"""``python -m bench.revisions REVISION``: search latency of an earlier revision beside this one.

Both revisions serve the same generated database at once (gunicorn each, the earlier one from a
git worktree) and the query set of the search benchmark goes to one then the other, round by
round, so both see the same machine. Prints one Markdown table of HTTP p50/p95 per query.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from . import harness, server
from .config import BenchConfig
from .corpus import build_database
from .report import median, percentile
from .search import PAGE, QUERIES, WARMUP, database_url_for

REPOSITORY = Path(__file__).resolve().parent.parent


def _worktree(revision: str, folder: Path) -> Path:
    subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "add", "--detach", str(folder), revision], check=True)
    return folder / "backend"


def _elapsed_ms(srv: server.Server, q: str) -> float:
    started = time.perf_counter()
    response = srv.session.get(f"{srv.base_url}/api/v1/knowledge/search", params={"q": q, "limit": str(PAGE)})
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000


def compare(revision: str, size: int, repetitions: int, work_dir: Path) -> str:
    config = BenchConfig(work_dir=work_dir)
    lines = [
        f"| DB | 語 | {revision} p50 | {revision} p95 | 現在 p50 | 現在 p95 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    folder = work_dir / "before"
    before_backend = _worktree(revision, folder)
    try:
        for dialect, name in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
            with ExitStack() as stack:
                url = stack.enter_context(database_url_for(config, dialect, size))
                build_database(url, size)
                servers = [
                    stack.enter_context(
                        server.running(work_dir / f"{label}-{dialect}", url, workers=2, backend=backend)
                    )
                    for label, backend in (("before", before_backend), ("after", harness.BACKEND))
                ]
                timings: dict[tuple[int, str], list[float]] = {}
                for query in QUERIES:
                    for srv in servers:
                        for _ in range(WARMUP):
                            _elapsed_ms(srv, query.q)
                for _ in range(repetitions):
                    for query in QUERIES:
                        for index, srv in enumerate(servers):
                            timings.setdefault((index, query.q), []).append(_elapsed_ms(srv, query.q))
                for query in QUERIES:
                    cells = [
                        f"{statistic(timings[(index, query.q)]):.1f} ms"
                        for index in range(2)
                        for statistic in (median, lambda samples: percentile(samples, 0.95))
                    ]
                    lines.append(f"| {name} {size:,}件 | {query.label} | {' | '.join(cells)} |")
    finally:
        subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "remove", "--force", str(folder)], check=False)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.revisions", description=__doc__)
    parser.add_argument("revision", help="比べる以前の git リビジョン")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--repetitions", type=int, default=30)
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mks-bench-revisions-") as scratch:
        print(compare(arguments.revision, arguments.size, arguments.repetitions, Path(scratch)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
