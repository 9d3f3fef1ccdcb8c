"""Versions of what a benchmark figure depends on, for the record next to the table."""

from __future__ import annotations

import sqlite3
import subprocess
from importlib.metadata import version

import psycopg
from sqlalchemy.engine import make_url


def _postgres_version(postgres_url: str) -> str:
    """The server's version and its shared_buffers, which decide whether the search's index stays in memory."""
    url = make_url(postgres_url)
    try:
        with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database) as conn:
            found = conn.execute(
                "SELECT current_setting('server_version'), current_setting('shared_buffers')"
            ).fetchone()
    except psycopg.OperationalError:
        return "unreachable"
    assert found is not None
    return f"{found[0]}, shared_buffers {found[1]}"


def _wrk_version() -> str:
    try:
        result = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return "not installed"
    return (result.stdout or result.stderr).split()[1] if (result.stdout or result.stderr) else "unknown"


def software(postgres_url: str) -> str:
    return (
        f"SQLite {sqlite3.sqlite_version}, PostgreSQL {_postgres_version(postgres_url)}, "
        f"gunicorn {version('gunicorn')}, prometheus-client {version('prometheus-client')}, wrk {_wrk_version()}"
    )
