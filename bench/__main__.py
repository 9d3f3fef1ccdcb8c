"""``python -m bench``: run the benchmarks, print one Markdown table, optionally record it in the docs."""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from . import imports, overhead, relevance, scrape, search, throughput
from .config import BenchConfig
from .postgres import benchmark_server
from .report import Figure, machine, table
from .versions import software

BENCHMARKS: dict[str, Callable[[BenchConfig], list[Figure]]] = {
    "overhead": overhead.run,
    "scrape": scrape.run,
    "search": search.run,
    "relevance": relevance.run,
    "throughput": throughput.run,
    "import": imports.run,
}
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="MKS のベンチマークを実行し、結果を表で出力します。"
    )
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS), help="実行するベンチマーク")
    parser.add_argument(
        "--sizes", type=lambda value: tuple(int(n) for n in value.split(",")), help="検索の件数 (例: 10000,100000)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="ハーネスの動作確認用の極小版（数値に意味はなく、目標も判定しない）"
    )
    parser.add_argument("--work-dir", type=Path, help="作業ディレクトリ（既定: 一時ディレクトリ）")
    parser.add_argument("--write", action="store_true", help=f"結果の表を {DOCS.name} に書き込む")
    return parser.parse_args(argv)


def _record(result: str, command: str, versions: str) -> None:
    """Replace the recorded run in docs/benchmarks.md (between the markers) with this one."""
    document = DOCS.read_text()
    head, _, rest = document.partition(BEGIN)
    _, _, tail = rest.partition(END)
    recorded = (
        f"{BEGIN}\n実行日時: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  \n"
        f"マシン: {machine()}  \nソフトウェア: {versions}  \nコマンド: `{command}`\n\n{result}\n{END}"
    )
    DOCS.write_text(head + recorded + tail)


def main(argv: list[str]) -> int:
    arguments = _arguments(argv)
    with tempfile.TemporaryDirectory(prefix="mks-bench-") as scratch, benchmark_server() as postgres_url:
        work_dir = arguments.work_dir or Path(scratch)
        config = (
            BenchConfig.for_smoke(work_dir, postgres_url) if arguments.smoke else BenchConfig(work_dir, postgres_url)
        )
        if arguments.sizes:
            config = replace(config, search_sizes=arguments.sizes)
        figures: list[Figure] = []
        for name in arguments.only:
            print(f"# {name} ...", file=sys.stderr, flush=True)
            figures += BENCHMARKS[name](config)
        versions = software(postgres_url)
    if config.smoke:
        figures = [replace(figure, target=None) for figure in figures]
    result = table(figures)
    print(result)
    if arguments.write:
        _record(result, "python -m bench " + shlex.join(argv), versions)
    return 1 if any(figure.passed is False for figure in figures) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
