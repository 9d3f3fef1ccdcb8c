"""Scratch databases for benchmarks: a SQLite file, or a fresh PostgreSQL database dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url


def sqlite_url(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return f"sqlite:///{path.resolve()}"


@contextmanager
def fresh_postgres(admin_url: str, name: str) -> Iterator[str]:
    """A new, empty database (UTF-8, as Japanese search needs; C.UTF-8 locale) on the server of admin_url."""
    url = make_url(admin_url)
    with psycopg.connect(
        host=url.host, port=url.port or 5432, user=url.username, dbname=url.database, autocommit=True
    ) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(
            f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
        )
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def size_bytes(engine: Engine) -> int:
    """The database's size on disk: the SQLite file (and its WAL), or pg_database_size."""
    if engine.dialect.name == "sqlite":
        path = Path(str(engine.url.database))
        return sum(candidate.stat().st_size for candidate in (path, Path(f"{path}-wal")) if candidate.exists())
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def bench_engine(database_url: str) -> Engine:
    return create_engine(database_url)


def size_of(database_url: str) -> int:
    """size_bytes of the database at database_url, on an engine of its own."""
    engine = bench_engine(database_url)
    try:
        return size_bytes(engine)
    finally:
        engine.dispose()
