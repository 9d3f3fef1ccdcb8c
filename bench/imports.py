"""Bulk import at scale: ``mks import FILE`` as an operator runs it, timed as a whole process.

For each run of ``config.import_runs``: an empty database (migrated, with the bench admin), a file of
the generated corpus in the import's columns (written before the clock starts), then the real CLI
in its own process, twice. The first run checks every row and adds them all in one transaction
(entries, first revisions, search index); the second, of the same file, must add nothing. After
each, the database must hold exactly the file's entries, each in the search index.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from mks.schemas.transfer import COLUMNS
from mks.search import backend_for

from .config import BenchConfig, ImportRun
from .corpus import Entry, generate, prepared
from .databases import bench_engine, fresh_postgres, size_of, sqlite_url
from .harness import LOG_TAIL_CHARS, command_env
from .report import Figure, at_most
from .server import JWT_SECRET

BENCHMARK = "一括取り込み"
# The target: 100,000 entries imported in under 5 minutes on SQLite.
TARGET_SIZE = 100_000
TARGET = at_most(300)
# The venv's console script, as an operator runs it (the mks package has no ``python -m mks``).
MKS = Path(sys.executable).with_name("mks")
# As bench.corpus configures the app: no demo data, and no statement cut short by the default 30 s timeout.
CLI_SETTINGS = {
    "env": "testing",
    "jwt_secret_key": JWT_SECRET,
    "demo_data": "false",
    "metrics_enabled": "false",
    "database_statement_timeout_seconds": "3600",
}
DATABASE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


class ImportCheckFailed(RuntimeError):
    """The import exited with an error, or the database does not hold what the file held."""


@dataclass(frozen=True)
class Outcome:
    """One ``mks import`` run: its wall time and the summary it printed (``--json``)."""

    seconds: float
    imported: int
    already_imported: int


@dataclass(frozen=True)
class Measured:
    """One run's two imports of the same file, the file's size and how much the database grew."""

    run: ImportRun
    first: Outcome
    second: Outcome
    file_bytes: int
    added_bytes: int


def _record(number: int, entry: Entry) -> dict[str, Any]:
    """One row of the file, in the import's columns (no review date: the corpus has none)."""
    return {
        "external_id": f"bench-{number}",
        "title": entry.title,
        "summary": entry.summary,
        "category": entry.category,
        "owner": entry.owner_department,
        "content": entry.content,
        "tags": list(entry.tags),
        "status": entry.status,
        "priority": entry.priority,
        "project": entry.project_code,
    }


def write_file(path: Path, file_format: str, entries: int, categories: list[str]) -> None:
    """The generated corpus as an import file: JSON Lines, or CSV as Excel saves it (UTF-8 with a BOM, CRLF)."""
    records = (_record(number, entry) for number, entry in enumerate(generate(entries, categories), start=1))
    if file_format == "jsonl":
        with path.open("w", encoding="utf-8") as stream:
            stream.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        return
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows({**record, "tags": ",".join(record["tags"])} for record in records)


def import_once(path: Path, database_url: str, instance: Path) -> Outcome:
    """``mks import PATH --json`` in its own process, configured only by its environment; its wall time."""
    instance.mkdir(parents=True, exist_ok=True)
    env = command_env(instance, database_url=database_url, **CLI_SETTINGS)
    # Progress goes to a file: the tail is quoted if the import fails. The working folder is the
    # instance's, so no .env file of a checkout configures the command.
    with (instance / "import.log").open("a+b") as log:
        started = time.perf_counter()
        result = subprocess.run(
            [str(MKS), "import", str(path), "--json"], cwd=instance, env=env, stdout=subprocess.PIPE, stderr=log
        )
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            log.seek(0)
            output = log.read().decode(errors="replace")[-LOG_TAIL_CHARS:]
            raise ImportCheckFailed(f"mks import {path.name} exited with {result.returncode}: {output}")
    summary = json.loads(result.stdout)
    return Outcome(seconds, summary["imported"], summary["already_imported"])


def _counts(database_url: str) -> tuple[int, int]:
    """How many entries the database holds, and how many rows the search backend's index table holds."""
    engine = bench_engine(database_url)
    try:
        indexed_table = backend_for(engine.dialect.name).indexed_table
        with engine.connect() as connection:
            entries = int(connection.execute(text("SELECT count(*) FROM knowledge")).scalar_one())
            indexed = int(connection.execute(text(f"SELECT count(*) FROM {indexed_table}")).scalar_one())
    finally:
        engine.dispose()
    return entries, indexed


def check(database_url: str, expected: int, outcome: Outcome, imported: int, where: str) -> None:
    """ImportCheckFailed unless the run added ``imported`` entries and the database holds ``expected``, all indexed."""
    found = (outcome.imported, outcome.already_imported, *_counts(database_url))
    wanted = (imported, expected - imported, expected, expected)
    if found != wanted:
        raise ImportCheckFailed(f"{where}: (imported, already imported, entries, indexed) = {found}, expected {wanted}")


@contextmanager
def empty_database(config: BenchConfig, run: ImportRun) -> Iterator[str]:
    """A new, empty database of the run's dialect: a SQLite file, or a fresh PostgreSQL database."""
    name = f"import_{run.file_format}_{run.entries}"
    if run.dialect == "sqlite":
        yield sqlite_url(config.work_dir / f"{name}.sqlite3")
    else:
        with fresh_postgres(config.postgres_url, f"mks_bench_{name}") as url:
            yield url


def measure(config: BenchConfig, run: ImportRun) -> Measured:
    """Import the run's file into an empty database, then again; each run checked."""
    where = f"{run.dialect} {run.file_format} {run.entries}"
    path = config.work_dir / f"import-{run.entries}.{run.file_format}"
    instance = config.work_dir / f"import-{run.dialect}-{run.file_format}-{run.entries}"
    with empty_database(config, run) as url:
        with prepared(url) as database:
            categories = database.categories
        write_file(path, run.file_format, run.entries, categories)
        empty_bytes = size_of(url)
        first = import_once(path, url, instance)
        check(url, run.entries, first, run.entries, f"{where}, first import")
        second = import_once(path, url, instance)
        check(url, run.entries, second, 0, f"{where}, second import of the same file")
        # What the entries take, without the empty schema (PostgreSQL's alone is several MiB).
        added_bytes = size_of(url) - empty_bytes
    return Measured(run, first, second, path.stat().st_size, added_bytes)


def _figures(measured: Measured) -> list[Figure]:
    run = measured.run
    where = f"{DATABASE_NAMES[run.dialect]} {run.entries:,}件 {'JSON Lines' if run.file_format == 'jsonl' else 'CSV'}"
    judged = run.dialect == "sqlite" and run.entries >= TARGET_SIZE
    seconds = measured.first.seconds
    per_10k = 10_000 / run.entries
    file_mib = measured.file_bytes / 2**20
    return [
        Figure(
            BENCHMARK,
            f"{where} mks import（プロセス全体）",
            seconds,
            "s",
            TARGET if judged else None,
            f"全行の検証、1 トランザクションでナレッジ・初版・検索索引; ファイル {file_mib:,.1f} MiB",
        ),
        Figure(BENCHMARK, f"{where} 取り込みの速さ", run.entries / seconds, "件/s"),
        Figure(BENCHMARK, f"{where} 取り込み (1万件あたり)", seconds * per_10k, "s"),
        Figure(
            BENCHMARK,
            f"{where} 同じファイルの 2 回目（追加 0 件）",
            measured.second.seconds,
            "s",
            detail=f"取り込み済みとして飛ばした行 {measured.second.already_imported:,}",
        ),
        Figure(BENCHMARK, f"{where} DB の増加 (1万件あたり)", measured.added_bytes * per_10k / 2**20, "MiB"),
    ]


def run(config: BenchConfig) -> list[Figure]:
    figures: list[Figure] = []
    for import_run in config.import_runs:
        figures += _figures(measure(config, import_run))
    return figures
