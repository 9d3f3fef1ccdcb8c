"""What the serving benchmarks share: their database, the requests they send, the worker count."""

from __future__ import annotations

import os
import shutil
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from .config import BenchConfig
from .corpus import build_database
from .databases import sqlite_url
from .server import Server, running
from .vocabulary import COMMON_TERM_3

# The category filter of the list mix: one of the categories every migrated database has.
LIST_CATEGORY = "安全"
PAGE = 20
DETAIL_IDS = 50


def default_workers() -> int:
    """gunicorn.conf.py's default worker count: 2 × cores + 1."""
    return 2 * (os.cpu_count() or 1) + 1


def rounds(config: BenchConfig) -> int:
    """Interleaved rounds of a side-by-side comparison; one proves the harness in a smoke run."""
    return 1 if config.smoke else config.rounds


def database(config: BenchConfig, benchmark: str) -> Path:
    """A SQLite file with config.serving_entries generated entries, built under the benchmark's work dir."""
    path = config.work_dir / benchmark / "mks.sqlite3"
    build_database(sqlite_url(path), config.serving_entries)
    return path


def _copy_url(source: Path, name: str) -> str:
    """A private copy of a built database (so two servers compared side by side share nothing)."""
    target = source.with_name(f"{name}.sqlite3")
    # A journal left beside an earlier copy (a reused --work-dir) would be replayed into this one.
    for journal in ("-wal", "-shm"):
        target.with_name(target.name + journal).unlink(missing_ok=True)
    shutil.copyfile(source, target)
    return f"sqlite:///{target.resolve()}"


def serve_copy(source: Path, name: str, *, workers: int, **options: Any) -> AbstractContextManager[Server]:
    """A server (see ``server.running`` for the options) on its own copy of a built database, with
    its instance folder ``name`` beside the database."""
    return running(source.parent / name, _copy_url(source, name), workers=workers, **options)


def detail_paths(config: BenchConfig, prefix: str = "/api/v1") -> list[str]:
    """Entries spread over the whole corpus (every entry is visible to the bench admin): the API's detail
    routes, or with ``prefix=""`` the entries' pages."""
    count = min(DETAIL_IDS, config.serving_entries)
    return [f"{prefix}/knowledge/{1 + index * config.serving_entries // count}" for index in range(count)]


def list_path(**filters: str) -> str:
    return "/api/v1/knowledge?" + urlencode({**filters, "limit": PAGE})


def search_path() -> str:
    return "/api/v1/knowledge/search?" + urlencode({"q": COMMON_TERM_3, "limit": PAGE})


def search_page_path() -> str:
    """The search page of the same query (it shows 20 results, as the API's page of search_path)."""
    return "/?" + urlencode({"q": COMMON_TERM_3})
