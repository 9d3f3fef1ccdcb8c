"""Backup and restore of the knowledge database: SQLite's online backup API, PostgreSQL's pg_dump/pg_restore.

A SQLite backup is itself a SQLite file (``*.sqlite3``), copied page by page from the live
database while the app keeps running; restoring copies it back into the live file the same way,
so processes that have the file open see the restored contents rather than a replaced inode.
A PostgreSQL backup is a ``pg_dump --format=custom`` archive (``*.dump``), restored with
``pg_restore --clean --if-exists --no-owner --single-transaction``: all or nothing.

Either way the backup also holds the search index (``knowledge_tokens`` and
``knowledge_search_text`` / ``knowledge_search``) and ``alembic_version``; after a restore the
database is migrated, so an older backup comes back at the current schema. The attachment files
(content-addressed blobs) are copied beside it, into ``attachments_folder(backup)``, by ``mks backup``.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from .. import migrate

Progress = Callable[[int, int], None]
"""Called with (done, total): SQLite pages, pg_dump tables or pg_restore items."""

SUFFIXES = {"sqlite": ".sqlite3", "postgresql": ".dump"}
DIALECT_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# Tables every MKS database has; a file without them is not an MKS backup.
REQUIRED_TABLES = frozenset({"alembic_version", "knowledge"})
# A SQLite copy runs in about this many steps, so progress moves in roughly 1% increments.
SQLITE_STEPS = 100
# How long a SQLite copy waits for the app's writers to commit before giving up.
SQLITE_TIMEOUT_SECONDS = 30.0
# libpq settings a SQLAlchemy URL may carry as query parameters, and the variables pg_dump reads them from.
LIBPQ_QUERY_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
}
# `pg_restore --verbose` prints one of these per archive item it restores (messages in the C locale).
RESTORED_ITEM = re.compile(r"^pg_restore: (creating|processing data for|executing) ")
DUMPED_TABLE = re.compile(r"^pg_dump: dumping contents of table ")
# Informational --verbose lines; anything else on stderr (errors, warnings, SQL shown with them) is kept.
VERBOSE_INFO = re.compile(r"^pg_(dump|restore): (?!(error|warning|detail|hint):)")
TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE \S+ (\S+) ")


class BackupError(Exception):
    """A backup or restore that could not be done; the message tells the operator why (in Japanese)."""


def backup_suffix(engine: Engine) -> str:
    """The file suffix of a backup of this database: ``.sqlite3`` or ``.dump``."""
    dialect = engine.dialect.name
    if dialect not in SUFFIXES:
        raise BackupError(f"このデータベース ({dialect}) のバックアップには対応していません。")
    return SUFFIXES[dialect]


def default_backup_path(instance_path: Path, engine: Engine, now: datetime | None = None) -> Path:
    """``<instance>/backups/mks-YYYYmmdd-HHMMSS.<suffix>``, stamped with the local time."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return instance_path.resolve() / "backups" / f"mks-{stamp}{backup_suffix(engine)}"


def attachments_folder(backup: Path) -> Path:
    """Where the attachment files of a backup are kept: ``<backup>.attachments`` beside it."""
    return backup.with_name(backup.name + ".attachments")


def create_backup(engine: Engine, path: Path, progress: Progress | None = None) -> None:
    """Write a consistent backup of the database to a new file at path."""
    if backup_suffix(engine) == ".sqlite3":
        _sqlite_backup(engine, path, progress)
    else:
        _pg_backup(engine, path, progress)


def inspect_backup(engine: Engine, path: Path) -> str:
    """The schema revision of the MKS backup at path; BackupError when it is not one this MKS can restore."""
    if not path.is_file():
        raise BackupError(f"バックアップファイルが見つかりません: {path}")
    if backup_suffix(engine) == ".sqlite3":
        revision = _sqlite_revision(path)
    else:
        revision = _pg_revision(path, _pg_environment(engine.url))
    if revision not in _revisions():
        raise BackupError(
            f"このバックアップのスキーマ版 ({revision}) はこの MKS では扱えません"
            "（より新しい版の MKS で作成された可能性があります）。"
        )
    return revision


def restore_backup(engine: Engine, path: Path, progress: Progress | None = None) -> str:
    """Replace the database's contents with the backup and migrate it to the current schema; returns its revision."""
    revision = inspect_backup(engine, path)
    # No pooled connection may outlive the old contents (cached pages, prepared statements, open snapshots).
    engine.dispose()
    if backup_suffix(engine) == ".sqlite3":
        _sqlite_restore(engine, path, progress)
    else:
        _pg_restore(engine, path, revision, progress)
    migrate.upgrade(engine)
    return revision


def _revisions() -> list[str]:
    """Every migration's revision id, oldest first."""
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    return [script.revision for script in reversed(list(ScriptDirectory.from_config(config).walk_revisions()))]


def _not_mks_backup(path: Path, dialect: str, reason: str) -> BackupError:
    return BackupError(
        f"MKS のバックアップではありません: {path}（{reason}）。"
        f" {DIALECT_NAMES[dialect]} には `mks backup` で作った {SUFFIXES[dialect]} ファイルを指定してください。"
    )


@contextmanager
def _new_file(path: Path) -> Iterator[Path]:
    """A private scratch file beside path, renamed onto it only when the backup completes."""
    if path.exists():
        raise BackupError(f"ファイルが既に存在します（上書きはしません）: {path}")
    # The backup holds password hashes: only the owner may read it.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    # A half-written backup never carries the final name, so an interrupted run leaves nothing to trust.
    partial.replace(path)


# --- SQLite ---------------------------------------------------------------------------------


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError(f"この SQLite データベースはファイルとして扱えません: {database!r}")
    return Path(database)


def _sqlite_copy(source: sqlite3.Connection, target: sqlite3.Connection, progress: Progress | None) -> None:
    """Copy every page of source into target in small steps, reporting (done, total) pages."""
    total: int = source.execute("PRAGMA page_count").fetchone()[0]
    report = progress or (lambda _done, _total: None)
    report(0, total)
    source.backup(
        target,
        pages=max(1, -(-total // SQLITE_STEPS)),
        progress=lambda _status, remaining, count: report(count - remaining, count),
    )


def _sqlite_backup(engine: Engine, path: Path, progress: Progress | None) -> None:
    live = _sqlite_path(engine)
    if not live.is_file():
        raise BackupError(f"データベースファイルがありません: {live}")
    with (
        _new_file(path) as partial,
        closing(sqlite3.connect(live, timeout=SQLITE_TIMEOUT_SECONDS, isolation_level=None)) as source,
        closing(sqlite3.connect(partial)) as target,
    ):
        try:
            # One read transaction across every step pins a single WAL snapshot: the copy is consistent
            # and the app's concurrent commits neither block it nor make it restart.
            source.execute("BEGIN")
            tables = {row[0] for row in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not REQUIRED_TABLES.issubset(tables):
                raise BackupError(f"MKS のデータベースではありません（スキーマがありません）: {live}")
            _sqlite_copy(source, target, progress)
            source.execute("COMMIT")
            # A rollback-journal header makes the backup one self-contained file (no -wal/-shm beside it).
            target.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.Error as exc:
            raise BackupError(f"バックアップに失敗しました: {exc}") from exc


def _sqlite_read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=SQLITE_TIMEOUT_SECONDS)


def _sqlite_revision(path: Path) -> str:
    try:
        with closing(_sqlite_read_only(path)) as connection:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not REQUIRED_TABLES.issubset(tables):
                raise _not_mks_backup(path, "sqlite", "alembic_version と knowledge の表がありません")
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise _not_mks_backup(path, "sqlite", f"SQLite のデータベースとして読めません: {exc}") from exc
    if row is None:
        raise _not_mks_backup(path, "sqlite", "スキーマ版が記録されていません")
    return str(row[0])


def _sqlite_restore(engine: Engine, path: Path, progress: Progress | None) -> None:
    live = _sqlite_path(engine)
    # Written through the backup API into the live file, under SQLite's locks, rather than by replacing
    # the file: other processes keep a valid handle and see the restored pages.
    with (
        closing(_sqlite_read_only(path)) as source,
        closing(sqlite3.connect(live, timeout=SQLITE_TIMEOUT_SECONDS)) as target,
    ):
        try:
            _sqlite_copy(source, target, progress)
        except sqlite3.Error as exc:
            raise BackupError(f"復元に失敗しました（データベースは変更されていません）: {exc}") from exc


# --- PostgreSQL -----------------------------------------------------------------------------


def _pg_arguments(url: URL) -> list[str]:
    """pg_dump/pg_restore options naming the URL's server, user and database (never its password)."""
    host = url.host or url.query.get("host")
    arguments = ["--no-password"]  # fail at once rather than prompt when a password is needed but unset
    if isinstance(host, str) and host:
        arguments.append(f"--host={host}")
    if url.port is not None:
        arguments.append(f"--port={url.port}")
    if url.username:
        arguments.append(f"--username={url.username}")
    if not url.database:
        raise BackupError("データベース URL にデータベース名がありません。")
    arguments.append(f"--dbname={url.database}")
    return arguments


def _pg_environment(url: URL) -> dict[str, str]:
    """The tools' environment: the password (kept off the command line, which other users can see) and libpq options."""
    environment = dict(os.environ)
    # --verbose lines are parsed for progress; they must be the untranslated messages.
    environment["LC_ALL"] = "C"
    if url.password is not None:
        environment["PGPASSWORD"] = str(url.password)
    for name, variable in LIBPQ_QUERY_ENV.items():
        value = url.query.get(name)
        if isinstance(value, str):
            environment[variable] = value
    return environment


def _pg_missing(tool: str) -> BackupError:
    return BackupError(
        f"{tool} が見つかりません。PostgreSQL のクライアント（pg_dump / pg_restore、"
        "サーバーと同じかそれより新しい版）をインストールし、PATH に含めてください。"
    )


def _pg_output(tool: str, arguments: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion, capturing its output."""
    try:
        return subprocess.run(
            [tool, *arguments],
            env=environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            check=False,
        )
    except FileNotFoundError:
        raise _pg_missing(tool) from None


class _LineProgress:
    """Reports one step per tool output line matching a pattern; 0 at once, and the total when finished."""

    def __init__(self, pattern: re.Pattern[str], total: int, progress: Progress | None) -> None:
        self._pattern, self._total, self._done = pattern, total, 0
        self._report = progress or (lambda _done, _total: None)
        self._report(0, total)

    def __call__(self, line: str) -> None:
        if self._pattern.match(line):
            self._done = min(self._done + 1, self._total)
            self._report(self._done, self._total)

    def finish(self) -> None:
        """Report completion (some steps may print no matching line)."""
        self._report(self._total, self._total)


def _pg_stream(tool: str, arguments: list[str], environment: dict[str, str], on_line: Callable[[str], None]) -> None:
    """Run a tool, handing each stderr line to on_line as it comes; BackupError with its errors when it fails."""
    try:
        process = subprocess.Popen(
            [tool, *arguments],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except FileNotFoundError:
        raise _pg_missing(tool) from None
    kept: list[str] = []
    with process:
        assert process.stderr is not None
        for line in process.stderr:
            on_line(line)
            if not VERBOSE_INFO.match(line):
                kept.append(line.rstrip())
    if process.returncode != 0:
        raise BackupError(f"{tool} が失敗しました（終了コード {process.returncode}）:\n" + "\n".join(kept))


def _pg_table_count(engine: Engine) -> int:
    """How many tables pg_dump will dump the contents of (every table outside the system schemas)."""
    with engine.connect() as connection:
        count: int = connection.execute(
            text("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
        ).scalar_one()
    return count


def _pg_backup(engine: Engine, path: Path, progress: Progress | None) -> None:
    if migrate.current_revision(engine) is None:
        raise BackupError("MKS のデータベースではありません（スキーマがありません）。")
    on_line = _LineProgress(DUMPED_TABLE, max(1, _pg_table_count(engine)), progress)
    with _new_file(path) as partial:
        arguments = ["--format=custom", "--verbose", f"--file={partial}", *_pg_arguments(engine.url)]
        _pg_stream("pg_dump", arguments, _pg_environment(engine.url), on_line)
    on_line.finish()


def _pg_entries(path: Path, environment: dict[str, str]) -> list[str]:
    """The archive's table of contents (``pg_restore --list``), one line per item."""
    listed = _pg_output("pg_restore", ["--list", str(path)], environment)
    if listed.returncode != 0:
        raise _not_mks_backup(path, "postgresql", listed.stderr.strip() or "pg_restore が読めません")
    return [line for line in listed.stdout.splitlines() if line and not line.startswith(";")]


def _pg_revision(path: Path, environment: dict[str, str]) -> str:
    tables = {match.group(1) for line in _pg_entries(path, environment) if (match := TOC_TABLE.match(line))}
    if not REQUIRED_TABLES.issubset(tables):
        raise _not_mks_backup(path, "postgresql", "alembic_version と knowledge の表がありません")
    # The data of alembic_version, as the COPY block of a plain SQL script: the row after the COPY line.
    script = _pg_output("pg_restore", ["--data-only", "--table=alembic_version", "--file=-", str(path)], environment)
    lines = script.stdout.splitlines()
    copy = next((index for index, line in enumerate(lines) if line.startswith("COPY ")), None)
    if script.returncode != 0 or copy is None or copy + 1 >= len(lines) or lines[copy + 1] == "\\.":
        raise _not_mks_backup(path, "postgresql", "スキーマ版が記録されていません")
    return lines[copy + 1].strip()


def _pg_undo_newer_migrations(engine: Engine, revision: str) -> bool:
    """Downgrade to the backup's revision when the database is newer.

    Tables added by newer migrations are not in the archive, so ``--clean`` would not drop them, and
    their foreign keys would stop it from dropping the tables it restores. Their contents are lost,
    as the restore replaces everything anyway; the upgrade afterwards recreates them.
    """
    order = _revisions()
    current = migrate.current_revision(engine)
    if current not in order or order.index(current) <= order.index(revision):
        return False
    migrate.downgrade(engine, revision)
    engine.dispose()
    return True


def _pg_restore(engine: Engine, path: Path, revision: str, progress: Progress | None) -> None:
    environment = _pg_environment(engine.url)
    total = max(1, len(_pg_entries(path, environment)))
    downgraded = _pg_undo_newer_migrations(engine, revision)
    on_line = _LineProgress(RESTORED_ITEM, total, progress)
    arguments = ["--clean", "--if-exists", "--no-owner", "--single-transaction", "--verbose"]
    try:
        _pg_stream("pg_restore", [*arguments, *_pg_arguments(engine.url), str(path)], environment, on_line)
    except BackupError as exc:
        state = f"スキーマ版 {revision} まで戻した状態です" if downgraded else "復元前のままです"
        raise BackupError(f"{exc}\n（1 トランザクションで実行したため、データベースは{state}。）") from exc
    on_line.finish()
