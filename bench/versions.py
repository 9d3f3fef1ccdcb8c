"""Versions of what a benchmark figure depends on, for the record next to the table."""

from __future__ import annotations

import sqlite3
import subprocess
from importlib.metadata import version

import psycopg

from .config import POSTGRES_URL


def _postgres_version() -> str:
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_URL)
    try:
        with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    except psycopg.OperationalError:
        return "unreachable"


def _wrk_version() -> str:
    try:
        result = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return "not installed"
    return (result.stdout or result.stderr).split()[1] if (result.stdout or result.stderr) else "unknown"


def software() -> str:
    return (
        f"SQLite {sqlite3.sqlite_version}, PostgreSQL {_postgres_version()}, "
        f"gunicorn {version('gunicorn')}, prometheus-client {version('prometheus-client')}, wrk {_wrk_version()}"
    )
