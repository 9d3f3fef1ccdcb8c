"""Fixtures: the app on a fresh real database (SQLite file or PostgreSQL), a client, and logged-in users.

Every test that takes ``app`` runs twice, once per database. PostgreSQL comes from
MKS_TEST_POSTGRES_URL (default: the local server, trust auth). When it cannot be reached the
PostgreSQL half is skipped locally, and fails under CI=true so CI never passes without it.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from mks import migrate
from mks.app import create_app
from mks.config import Settings
from mks.context import service_context, wait_for_background
from mks.schemas.users import UserCreate
from mks.services.users import create_user

from .tools import unavailable

pytest.register_assert_rewrite("tests.metrics_script")

POSTGRES_URL = os.environ.get("MKS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PASSWORDS = {"admin": "admin-pass-1", "kimura": "kimura-pass-1", "yamada": "yamada-pass-1", "partner": "partner-pass-1"}
ROLES = {"admin": "admin", "kimura": "approver", "yamada": "editor", "partner": "viewer"}
_database_numbers = itertools.count()


def _admin_connection() -> psycopg.Connection:
    url = make_url(POSTGRES_URL)
    return psycopg.connect(
        host=url.host, port=url.port or 5432, user=url.username, dbname=url.database, autocommit=True, connect_timeout=3
    )


def make_settings(database_url: str, instance: Path, **overrides: object) -> Settings:
    """Settings of a test app: cheap password hashing, no demo data, generous rate limits."""
    values: dict[str, object] = {
        "env": "testing",
        "database_url": database_url,
        "instance_path": instance,
        "jwt_secret_key": "test-secret-" + "x" * 40,
        "argon2_time_cost": 1,
        "argon2_memory_cost_kib": 64,
        "demo_data": False,
        "database_lock_timeout_seconds": 1,
        "metrics_cache_seconds": 0,
        "ratelimit_default": "10000 per minute",
        "ratelimit_login_per_client": "1000 per minute",
        "ratelimit_login_per_username": "1000 per minute",
        "ratelimit_search": "10000 per minute",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def add_admin(database_url: str, folder: Path, password: str) -> None:
    """Create the admin user in the database, for a server process started on it afterwards."""
    app = create_app(make_settings(database_url, folder, metrics_enabled=False))
    with app.app_context():
        data = UserCreate(username="admin", display_name="admin", password=password, role="admin")  # type: ignore[arg-type]
        create_user(service_context(), data)
    app.extensions["mks_db"].engine.dispose()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database used as the template of each test's database."""
    try:
        admin = _admin_connection()
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL is unreachable: {exc}")
    name = f"mks_tpl_{os.getpid()}"
    admin.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'")
    url = make_url(POSTGRES_URL).set(database=name)
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield name
    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file copied for each test."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@contextmanager
def postgres_database(template: str, ctype: str = "C.UTF-8", encoding: str = "UTF8") -> Iterator[str]:
    """A new PostgreSQL database copied from the template, dropped afterwards; yields its URL."""
    name = f"mks_test_{os.getpid()}_{next(_database_numbers)}"
    with _admin_connection() as admin:
        admin.execute(
            f"CREATE DATABASE {name} TEMPLATE {template} ENCODING '{encoding}' LC_COLLATE '{ctype}' LC_CTYPE '{ctype}'"
        )
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with _admin_connection() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "mks.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    with postgres_database(request.getfixturevalue("postgres_template")) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a database of each kind without any table."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    request.getfixturevalue("postgres_template")  # skips or fails when the server is unreachable
    with postgres_database("template0") as url:
        yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "instance")


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    with app.app_context():
        for username, password in PASSWORDS.items():
            create_user(
                service_context(),
                UserCreate(username=username, display_name=username, password=password, role=ROLES[username]),  # type: ignore[arg-type]
            )
    yield app
    wait_for_background(app, timeout=60)
    app.extensions["mks_db"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class Auth:
    """Logs users in through the API and hands out their Authorization headers."""

    client: FlaskClient

    def tokens(self, username: str) -> dict[str, str]:
        response = self.client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORDS[username]})
        assert response.status_code == 200, response.json
        return response.json  # type: ignore[return-value]

    def headers(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens(username)['access_token']}"}


@pytest.fixture
def auth(client: FlaskClient) -> Auth:
    return Auth(client)


@pytest.fixture
def admin(auth: Auth) -> dict[str, str]:
    return auth.headers("admin")


@pytest.fixture
def approver(auth: Auth) -> dict[str, str]:
    return auth.headers("kimura")


@pytest.fixture
def editor(auth: Auth) -> dict[str, str]:
    return auth.headers("yamada")


@pytest.fixture
def viewer(auth: Auth) -> dict[str, str]:
    return auth.headers("partner")


@contextmanager
def database_outage(app: Flask) -> Iterator[None]:
    """Make the app's real database unreachable for the duration, then bring it back.

    SQLite: the file is moved away (a new connection then finds no tables). PostgreSQL: the
    database is renamed after its connections are ended (a new connection is refused).
    """
    engine = app.extensions["mks_db"].engine
    url = engine.url
    engine.dispose()
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        files = [path.with_name(path.name + suffix) for suffix in ("", "-wal", "-shm")]
        moved = [(file, file.with_name(file.name + ".away")) for file in files if file.exists()]
        for file, away in moved:
            file.rename(away)
        try:
            yield
        finally:
            engine.dispose()
            for file in files:
                file.unlink(missing_ok=True)
            for file, away in moved:
                away.rename(file)
        return
    name = url.database
    with _admin_connection() as admin:
        admin.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        admin.execute(f"ALTER DATABASE {name} RENAME TO {name}_away")
    try:
        yield
    finally:
        engine.dispose()
        with _admin_connection() as admin:
            admin.execute(f"ALTER DATABASE {name}_away RENAME TO {name}")
