"""Japanese search at scale: p50/p95 of /api/v1/knowledge/search, and the search against a naive LIKE scan.

For each size and database: load the generated corpus (timing the rows and the search index),
serve it with gunicorn, then, interleaved round by round:

- the query set over HTTP from this process (the latency targets);
- the search backend's own query (what the app runs inside that request) and the naive baseline,
  ``LIKE '%term%'`` over title, summary, body and tags, counted and ordered by date as a search
  page needs, both straight on one connection of this process: the speed-up compares the two
  ways of asking the database, with nothing else in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, text

from mks.config import Settings
from mks.db import Database
from mks.search import SearchBackend, SearchFilters, SearchRequest
from mks.search.text import parse_query

from . import server
from .config import BenchConfig
from .corpus import LoadReport, build_database
from .databases import fresh_postgres, sqlite_url
from .report import Figure, Target, at_least, at_most, median, percentile
from .vocabulary import (
    COMMON_TERM_2,
    COMMON_TERM_3,
    COMMON_TERM_5,
    NO_MATCH_TERM,
    RARE_TERM_2,
    RARE_TERM_3,
    RARE_TERM_5,
)

BENCHMARK = "日本語検索"
TARGET_SIZE = 100_000
PAGE = 20
SPEEDUP_TARGET = at_least(20)
WARMUP = 3


@dataclass(frozen=True)
class Query:
    length_class: str
    frequency: str  # "common" (≥ 30 % of entries), "rare" (< 0.1 %) or "none"
    q: str
    p95_target_ms: float

    @property
    def label(self) -> str:
        frequency = {"common": "頻出", "rare": "希少", "none": "該当なし"}[self.frequency]
        return f"{self.length_class}・{frequency}「{self.q}」"

    @property
    def share_target(self) -> Target:
        # The corpus must give each query the frequency it stands for, or its figure means nothing.
        return {"common": at_least(30.0), "rare": Target("<", 0.1), "none": at_most(0.0)}[self.frequency]


QUERIES = (
    Query("2文字", "common", COMMON_TERM_2, 150),
    Query("2文字", "rare", RARE_TERM_2, 150),
    Query("3–4文字", "common", COMMON_TERM_3, 50),
    Query("3–4文字", "rare", RARE_TERM_3, 50),
    Query("5文字以上", "common", COMMON_TERM_5, 50),
    Query("5文字以上", "rare", RARE_TERM_5, 50),
    Query("2語", "common", f"{COMMON_TERM_5} {COMMON_TERM_3}", 50),
    Query("2語", "rare", f"{RARE_TERM_3} {COMMON_TERM_5}", 50),
    Query("3文字以上", "none", NO_MATCH_TERM, 50),
)


class SideBySide:
    """The search backend's query and the naive baseline, on the same connection."""

    def __init__(self, connection: Connection, backend: SearchBackend, exact_total: int) -> None:
        self.connection = connection
        self.backend = backend
        self.exact_total = exact_total

    def search(self, q: str) -> int:
        """The search backend's query, as the app runs it for an administrator's first page."""
        request = SearchRequest(
            parse_query(q).terms, SearchFilters(), limit=PAGE, offset=0, exact_total=self.exact_total
        )
        return self.backend.search(self.connection, request).total

    def where(self, q: str) -> tuple[str, dict[str, str]]:
        params = {f"p{index}": f"%{term}%" for index, term in enumerate(q.split())}
        clauses = [
            f"(title LIKE :{name} OR summary LIKE :{name} OR content LIKE :{name} OR EXISTS ("
            "SELECT 1 FROM knowledge_tags JOIN tags ON tags.id = knowledge_tags.tag_id "
            f"WHERE knowledge_tags.knowledge_id = knowledge.id AND tags.name LIKE :{name}))"
            for name in params
        ]
        return " AND ".join(clauses), params

    def naive(self, q: str) -> int:
        """Every term as LIKE '%term%' over title, summary, body and tags; count, then the first page."""
        where, params = self.where(q)
        total = int(self.connection.execute(text(f"SELECT count(*) FROM knowledge WHERE {where}"), params).scalar_one())
        self.connection.execute(
            text(f"SELECT id FROM knowledge WHERE {where} ORDER BY updated_at DESC, id DESC LIMIT {PAGE}"), params
        ).all()
        return total


@dataclass
class Timings:
    http: list[float]
    backend: list[float]
    naive: list[float]
    total: int = 0
    matches: int = 0


def _timed(action: Callable[[str], object], argument: str) -> float:
    started = time.perf_counter()
    action(argument)
    return (time.perf_counter() - started) * 1000


def _measure(srv: server.Server, queries: SideBySide, repetitions: int) -> dict[Query, Timings]:
    timings = {query: Timings([], [], []) for query in QUERIES}

    def ask(q: str) -> int:
        response = srv.session.get(
            f"{srv.base_url}/api/v1/knowledge/search", params={"q": q, "limit": str(PAGE)}, timeout=60
        )
        response.raise_for_status()
        return int(response.json()["total"])

    for query in QUERIES:
        for _ in range(WARMUP):
            timings[query].matches = ask(query.q)
        timings[query].total = queries.naive(query.q)
    # Interleaved: each round asks every query once each way, so drift hits all alike.
    for _ in range(repetitions):
        for query in QUERIES:
            timings[query].http.append(_timed(ask, query.q))
            timings[query].backend.append(_timed(queries.search, query.q))
            timings[query].naive.append(_timed(queries.naive, query.q))
    return timings


@contextmanager
def database_url_for(config: BenchConfig, dialect: str, size: int) -> Iterator[str]:
    """An empty database of the dialect for ``size`` entries: a SQLite file, or a fresh PostgreSQL database."""
    if dialect == "sqlite":
        yield sqlite_url(config.work_dir / f"search-{size}.sqlite3")
    else:
        with fresh_postgres(config.postgres_url, f"mks_bench_search_{size}") as url:
            yield url


def _figures(database: str, size: int, timings: dict[Query, Timings], judged: bool) -> list[Figure]:
    figures = []
    exact_total = Settings().search_exact_total
    for query, timing in timings.items():
        share = 100 * timing.total / size
        where = f"{database} {size:,}件 {query.label}"
        if timing.matches != min(timing.total, exact_total):
            raise RuntimeError(f"{where}: search reported {timing.matches} matches, the LIKE scan found {timing.total}")
        figures += [
            Figure(
                BENCHMARK,
                f"{where} HTTP p95",
                percentile(timing.http, 0.95),
                "ms",
                at_most(query.p95_target_ms) if judged else None,
                f"p50 {median(timing.http):.1f} ms",
            ),
            Figure(
                BENCHMARK,
                f"{where} 素朴な LIKE 比 (p50)",
                median(timing.naive) / median(timing.backend),
                "倍",
                SPEEDUP_TARGET if judged else None,
                f"検索クエリ p50 {median(timing.backend):.2f} ms, p95 {percentile(timing.backend, 0.95):.2f} ms; "
                f"LIKE p50 {median(timing.naive):.0f} ms",
            ),
            Figure(
                BENCHMARK,
                f"{where} 一致率",
                share,
                "%",
                query.share_target if judged else None,
                f"{timing.total:,} 件",
            ),
        ]
    return figures


def _load_figures(database: str, report: LoadReport) -> list[Figure]:
    per_10k = 10_000 / report.entries
    where = f"{database} {report.entries:,}件"
    return [
        Figure(BENCHMARK, f"{where} 行の投入 (1万件あたり)", report.rows_seconds * per_10k, "s"),
        Figure(BENCHMARK, f"{where} 検索索引の構築 (1万件あたり)", report.index_seconds * per_10k, "s"),
        Figure(BENCHMARK, f"{where} DB サイズ (1万件あたり)", report.size_bytes * per_10k / 2**20, "MiB"),
    ]


def run(config: BenchConfig) -> list[Figure]:
    figures: list[Figure] = []
    for size in config.search_sizes:
        for dialect, database in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
            with database_url_for(config, dialect, size) as url:
                report = build_database(url, size)
                figures += _load_figures(database, report)
                # The app's own database set-up, so the side-by-side queries run as the app runs them.
                settings = Settings(database_url=url)
                app_database = Database(settings)
                try:
                    instance = config.work_dir / f"search-{dialect}-{size}"
                    with server.running(instance, url, workers=2) as srv, app_database.engine.connect() as connection:
                        side_by_side = SideBySide(connection, app_database.search, settings.search_exact_total)
                        timings = _measure(srv, side_by_side, config.repetitions)
                finally:
                    app_database.engine.dispose()
                figures += _figures(database, size, timings, judged=size >= TARGET_SIZE)
    return figures
