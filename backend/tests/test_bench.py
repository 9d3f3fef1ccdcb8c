"""The benchmark harness (`python -m bench`) runs end to end at smoke scale, so it cannot rot.

Smoke numbers mean nothing and no target is judged: the test checks that every benchmark ran
against the real servers and reported a finite number for each figure, never how fast.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

from bench.search import QUERIES

from .tools import require_tools

REPOSITORY = Path(__file__).resolve().parents[2]
BENCHMARKS = {"計装オーバーヘッド", "スクレイプ時間", "日本語検索", "検索の関連度", "スループット", "一括取り込み"}


def _rows(table: str) -> list[list[str]]:
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


def _bench(module: str, *arguments: str) -> list[list[str]]:
    """The table rows a benchmark command prints, once it has exited 0."""
    result = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return _rows(result.stdout)


def test_smoke_run_reports_every_figure(tmp_path: Path) -> None:
    require_tools("wrk", packages="wrk")
    rows = _bench("bench", "--smoke", "--work-dir", str(tmp_path))
    assert {row[0] for row in rows} == BENCHMARKS
    for benchmark, name, value, target, verdict, _detail in rows:
        number = float(value.split()[0].replace(",", ""))
        assert math.isfinite(number) and number >= 0, (benchmark, name, value)
        assert (target, verdict) == ("—", "—"), "smoke runs judge no target"
    search_rows = [row for row in rows if row[0] == "日本語検索"]
    # 300 entries on 2 databases: 3 load figures + 4 figures per query (API, search page, LIKE ratio, share).
    assert len(search_rows) == 2 * (3 + len(QUERIES) * 4)
    page_rows = [row[1] for row in search_rows if row[1].endswith("検索画面 HTTP p95")]
    assert page_rows[:2] == [
        "SQLite 300件 1文字・頻出「杭」 検索画面 HTTP p95",
        "SQLite 300件 1文字・希少「鑿」 検索画面 HTTP p95",
    ]
    shares = {row[1]: row[2] for row in search_rows if row[1].endswith("一致率")}
    assert shares["SQLite 300件 3文字以上・該当なし「量子暗号通信」 一致率"] == "0.00 %"
    assert shares["SQLite 300件 2文字・頻出「養生」 一致率"] == shares["PostgreSQL 300件 2文字・頻出「養生」 一致率"]
    relevance_rows = [row[1] for row in rows if row[0] == "検索の関連度"]
    assert relevance_rows == ["SQLite MRR", "SQLite nDCG@10", "PostgreSQL MRR", "PostgreSQL nDCG@10"]
    # Each smoke import run (checked by the harness: every entry imported and indexed, none twice) has 5 figures.
    import_rows = [row[1] for row in rows if row[0] == "一括取り込み"]
    assert len(import_rows) == 3 * 5
    assert [name for name in import_rows if name.endswith("mks import（プロセス全体）")] == [
        "SQLite 200件 JSON Lines mks import（プロセス全体）",
        "SQLite 100件 CSV mks import（プロセス全体）",
        "PostgreSQL 200件 JSON Lines mks import（プロセス全体）",
    ]


def test_revision_comparison_reports_both_revisions() -> None:
    """`python -m bench.revisions` (smoke) serves HEAD from a worktree beside this checkout, for both benchmarks."""
    require_tools("wrk", packages="wrk")
    tables = {
        benchmark: _bench("bench.revisions", "HEAD", "--benchmark", benchmark, "--smoke")
        for benchmark in ("search", "throughput")
    }
    # 2 databases x every query x the API and the page; both revisions' p50 and p95 for each.
    assert len(tables["search"]) == 2 * len(QUERIES) * 2
    assert [row[2] for row in tables["search"][:2]] == ["API", "画面"]
    assert all(cell.endswith(" ms") for row in tables["search"] for cell in row[3:])
    assert [row[0] for row in tables["throughput"]] == [
        "/health req/s",
        "詳細 req/s ÷ /health",
        "詳細 p50",
        "詳細 p99",
        "一覧 20 件 req/s ÷ /health",
        "一覧 20 件 p50",
        "一覧 20 件 p99",
        "ナレッジの画面 req/s ÷ /health",
        "ナレッジの画面 p50",
        "ナレッジの画面 p99",
        "検索 20 件 req/s ÷ /health",
        "検索 20 件 p50",
        "検索 20 件 p99",
        "検索画面 req/s ÷ /health",
        "検索画面 p50",
        "検索画面 p99",
    ]
    assert all(len(row) == 3 for row in tables["throughput"])
