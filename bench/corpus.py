"""A deterministic corpus of Japanese construction knowledge, loaded through the product's own code.

Entries read like site notes: a title of 10-40 characters, a summary of 40-120, a Markdown body
of 300-3,000 (log-uniform, so most are short and a few are long) and 3-8 tags, their terms drawn
from vocabulary.ranked_terms with a Zipf-like law, so a few terms are everywhere and most are rare.
The same seed gives the same corpus, entry for entry.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, text

from mks.app import create_app
from mks.config import Settings
from mks.context import service_context
from mks.db import current_db, get_session
from mks.models import Category, Knowledge, Role, Tag, knowledge_tags
from mks.schemas.users import UserCreate
from mks.search.rebuild import reindex
from mks.services.users import create_user
from mks.startup import prepare

from .databases import size_of
from .server import BENCH_PASSWORD, BENCH_USER, JWT_SECRET
from .vocabulary import RARE_PERIOD, RARE_TERMS, ranked_terms

SEED = 20_261_129
ZIPF_EXPONENT = 1.0
STATUSES = (("approved", 80), ("review", 8), ("draft", 8), ("archived", 4))
PRIORITIES = (("normal", 70), ("high", 20), ("low", 7), ("critical", 3))
DEPARTMENTS = (
    "工事部",
    "設計部",
    "安全衛生部",
    "品質管理部",
    "技術研究所",
    "東京支店",
    "大阪支店",
)
SENTENCES = (
    "{0}の前に{1}を必ず確認すること。",
    "{0}では{1}と{2}の取り合いに注意する。",
    "{0}の後は{1}を記録し、{2}の担当者に報告する。",
    "過去に{0}で{1}の不具合が発生した事例がある。",
    "{0}の{1}は{2}に従って実施する。",
    "{0}を行う場合、{1}の状態を事前に点検しておく。",
    "{0}が不十分だと{1}に影響するため、{2}を徹底する。",
    "{0}については{1}の基準値を満たしていることを確認した。",
)
SECTIONS = ("## 背景", "## 手順", "## 注意点", "## 確認事項", "## 参考")
BATCH = 1_000


@dataclass(frozen=True)
class Entry:
    title: str
    summary: str
    content: str
    tags: tuple[str, ...]
    category: str
    status: str
    priority: str
    project_code: str
    owner_department: str
    updated_at: datetime

    @property
    def tag_names(self) -> list[str]:
        """Tag names in code-point order, as Knowledge.tag_names gives them to the search index."""
        return sorted(self.tags)


class _Words:
    """Terms drawn with probability proportional to 1 / rank**s."""

    def __init__(self, rng: random.Random) -> None:
        self.terms = ranked_terms(SEED)
        weights = [1 / rank**ZIPF_EXPONENT for rank in range(1, len(self.terms) + 1)]
        self.cumulative = list(itertools.accumulate(weights))
        self.rng = rng

    def draw(self) -> str:
        point = self.rng.random() * self.cumulative[-1]
        return self.terms[bisect.bisect_left(self.cumulative, point)]

    def sentence(self) -> str:
        return self.rng.choice(SENTENCES).format(self.draw(), self.draw(), self.draw())


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([name for name, _ in choices], weights=[weight for _, weight in choices])[0]


def _fit(text: str, shortest: int, longest: int, filler: Iterator[str]) -> str:
    while len(text) < shortest:
        text += next(filler)
    return text[:longest]


def _body(words: _Words, length: int, rare: bool) -> str:
    lines: list[str] = [f"関連: {' / '.join(RARE_TERMS)}"] if rare else []
    size = 0
    for section in itertools.cycle(SECTIONS):
        lines.append(section)
        for step in range(1, words.rng.randint(2, 5) + 1):
            line = f"{step}. {words.sentence()}" if section == "## 手順" else words.sentence()
            lines.append(line)
            size += len(line)
        if size >= length:
            break
    return "\n".join(lines)[: max(length, 300)]


def _distinct(words: _Words, count: int) -> tuple[str, ...]:
    found: dict[str, None] = {}
    while len(found) < count:
        found[words.draw()] = None
    return tuple(found)


def generate(count: int, categories: list[str], seed: int = SEED) -> Iterator[Entry]:
    """``count`` entries, the same ones for the same seed."""
    rng = random.Random(seed)
    words = _Words(rng)
    epoch = datetime(2023, 4, 1, tzinfo=UTC)
    for number in range(count):
        rare = number % RARE_PERIOD == RARE_PERIOD // 2
        filler = (f"の{words.draw()}" for _ in itertools.count())
        title = _fit(f"{words.draw()}における{words.draw()}の{words.draw()}", 10, 40, filler)
        summary = _fit(words.sentence(), 40, 120, (words.sentence() for _ in itertools.count()))
        body_length = round(math.exp(rng.uniform(math.log(300), math.log(3_000))))
        tags = _distinct(words, rng.randint(3, 8))
        yield Entry(
            title=title,
            summary=summary,
            content=_body(words, body_length, rare),
            tags=tags,
            category=rng.choice(categories),
            status=_weighted(rng, STATUSES),
            priority=_weighted(rng, PRIORITIES),
            project_code=f"PRJ-{2023 + number % 4}-{number % 97:03d}",
            owner_department=rng.choice(DEPARTMENTS),
            updated_at=epoch + timedelta(minutes=number * 7 + rng.randint(0, 6)),
        )


@dataclass(frozen=True)
class LoadReport:
    entries: int
    rows_seconds: float
    index_seconds: float
    size_bytes: int


def _settings(database_url: str) -> Settings:
    return Settings(
        env="testing",  # type: ignore[arg-type]
        database_url=database_url,
        jwt_secret_key=JWT_SECRET,
        demo_data=False,
        metrics_enabled=False,
        database_statement_timeout_seconds=3_600,
    )


def _insert_rows(entries: list[Entry], admin_id: int) -> dict[str, int]:
    """Tags, entries and their tag links, in batches; returns the tag ids by name."""
    session = get_session()
    category_ids = {name: id_ for name, id_ in session.execute(select(Category.name, Category.id))}
    tag_names = sorted({tag for entry in entries for tag in entry.tags})
    session.execute(insert(Tag), [{"name": name} for name in tag_names])
    tag_ids = {name: id_ for name, id_ in session.execute(select(Tag.name, Tag.id))}
    for offset in range(0, len(entries), BATCH):
        batch = entries[offset : offset + BATCH]
        rows = [
            {
                "id": offset + index + 1,
                "title": entry.title,
                "summary": entry.summary,
                "content": entry.content,
                "category_id": category_ids[entry.category],
                "status": entry.status,
                "priority": entry.priority,
                "project_code": entry.project_code,
                "owner_department": entry.owner_department,
                "created_by_id": admin_id,
                "updated_by_id": admin_id,
                "created_at": entry.updated_at,
                "updated_at": entry.updated_at,
                "view_count": 0,
                "version": 1,
            }
            for index, entry in enumerate(batch)
        ]
        session.execute(insert(Knowledge), rows)
        links = [
            {"knowledge_id": row["id"], "tag_id": tag_ids[tag]}
            for row, entry in zip(rows, batch, strict=True)
            for tag in entry.tags
        ]
        session.execute(insert(knowledge_tags), links)
    if current_db().dialect == "postgresql":
        # Rows were inserted with explicit ids: move the sequence past them for later creates.
        session.execute(text("SELECT setval(pg_get_serial_sequence('knowledge', 'id'), max(id)) FROM knowledge"))
    session.commit()
    return tag_ids


def _build_index() -> None:
    """The search index of every entry, as ``mks search reindex`` builds it: the indexed words learned, then each entry.

    On PostgreSQL the GIN indexes are dropped first and built once at the end, as for any bulk load.
    """
    database = current_db()
    with database.engine.begin() as connection:
        gin_indexes: list[tuple[str, str]] = []
        if database.dialect == "postgresql":
            gin_indexes = list(
                connection.execute(
                    text(
                        "SELECT indexname, indexdef FROM pg_indexes "
                        "WHERE tablename = 'knowledge_search' AND indexdef LIKE '%USING gin%'"
                    )
                ).tuples()
            )
            for name, _definition in gin_indexes:
                connection.execute(text(f"DROP INDEX {name}"))
        reindex(connection, database.search, lambda _done, _total: None)
        if gin_indexes:
            connection.execute(text("SET maintenance_work_mem = '1GB'"))
            for _name, definition in gin_indexes:
                connection.execute(text(definition))
    if database.dialect == "postgresql":
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
            # The load leaves most of the database dirty in shared_buffers (20,000 entries: 92,809 of
            # 123,948 buffers still dirty 5 minutes later), for checkpoints to write back while a
            # benchmark measures: written now, before anything is timed.
            connection.execute(text("CHECKPOINT"))


@dataclass(frozen=True)
class Prepared:
    """An empty database, migrated, with the bench admin: its category names and the admin's id."""

    categories: list[str]
    admin_id: int


@contextmanager
def prepared(database_url: str) -> Iterator[Prepared]:
    """Migrate the empty database at database_url and add the bench admin; the block runs in the
    app's context, and every connection of the app is closed after it."""
    settings = _settings(database_url)
    prepare(settings)
    app = create_app(settings)
    try:
        with app.app_context():
            categories = sorted(get_session().scalars(select(Category.name)))
            admin = create_user(
                service_context(),
                UserCreate(
                    username=BENCH_USER,
                    display_name="ベンチマーク管理者",
                    password=BENCH_PASSWORD,
                    role=Role.ADMIN,
                ),
            )
            get_session().commit()
            yield Prepared(categories, admin.id)
    finally:
        app.extensions["mks_db"].engine.dispose()


def build_database(database_url: str, count: int) -> LoadReport:
    """Migrate the empty database at database_url, add the bench admin, load ``count`` generated entries."""
    with prepared(database_url) as database:
        entries = list(generate(count, database.categories))
        started = time.perf_counter()
        _insert_rows(entries, database.admin_id)
        rows_seconds = time.perf_counter() - started
        started = time.perf_counter()
        _build_index()
        index_seconds = time.perf_counter() - started
    # Measured once every connection is closed: SQLite has then checkpointed its WAL into the file.
    return LoadReport(count, rows_seconds, index_seconds, size_of(database_url))
