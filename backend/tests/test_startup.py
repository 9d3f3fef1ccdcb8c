"""First start: migrations run by themselves, demo data appears in development, production refuses unsafe setups."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select

from mks import migrate
from mks.app import create_app
from mks.config import ConfigError
from mks.db import get_session
from mks.demo_corpus import DEMO_ENTRIES
from mks.models import Knowledge, KnowledgeRevision, User

from .conftest import make_settings, postgres_database


def test_first_start_migrates_and_seeds_demo_data(empty_database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(empty_database_url, tmp_path, env="development", demo_data=None))
    with app.app_context():
        session = get_session()
        assert migrate.current_revision(app.extensions["mks_db"].engine) == migrate.head_revision()
        assert sorted(session.scalars(select(User.username))) == ["admin", "partner", "yamada"]
        assert session.scalar(select(func.count()).select_from(Knowledge)) == len(DEMO_ENTRIES)
        assert session.scalar(select(func.count()).select_from(KnowledgeRevision)) == len(DEMO_ENTRIES)
    client = app.test_client()
    login = client.post("/api/v1/auth/login", json={"username": "admin", "password": "admin123"})
    assert login.status_code == 200
    hits = client.get(
        "/api/v1/knowledge/search",
        query_string={"q": "養生"},
        headers={"Authorization": f"Bearer {login.json['access_token']}"},
    ).json
    assert hits["total"] >= 4
    assert all("<mark>" in item["snippet"] for item in hits["items"])
    app.extensions["mks_db"].engine.dispose()


def test_second_start_changes_nothing(empty_database_url: str, tmp_path: Path) -> None:
    settings = make_settings(empty_database_url, tmp_path, env="development", demo_data=None)
    create_app(settings).extensions["mks_db"].engine.dispose()
    app = create_app(settings)
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(Knowledge)) == len(DEMO_ENTRIES)
    app.extensions["mks_db"].engine.dispose()


def test_testing_and_production_start_without_demo_data(empty_database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(empty_database_url, tmp_path, env="testing"))
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(User)) == 0
        assert set(inspect(app.extensions["mks_db"].engine).get_table_names()) >= {
            "knowledge",
            "users",
            "alembic_version",
        }
    app.extensions["mks_db"].engine.dispose()


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "MKS_JWT_SECRET_KEY の設定が必要です"),
        ("too-short-secret", "MKS_JWT_SECRET_KEY が短すぎます（16 バイト）"),
    ],
)
def test_production_refuses_missing_or_short_secret(
    database_url: str, tmp_path: Path, secret: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        create_app(make_settings(database_url, tmp_path, env="production", jwt_secret_key=secret))


def test_production_refuses_valid_demo_passwords(empty_database_url: str, tmp_path: Path) -> None:
    dev = make_settings(empty_database_url, tmp_path, env="development", demo_data=None)
    create_app(dev).extensions["mks_db"].engine.dispose()
    production = make_settings(empty_database_url, tmp_path, env="production")
    with pytest.raises(ConfigError, match="デモ用パスワードが有効なままのユーザーがいます: admin, yamada, partner"):
        create_app(production)
    app = create_app(dev, prepare=False)
    with app.app_context():
        session = get_session()
        for user in session.scalars(select(User)):
            user.is_active = user.username == "admin"
        session.commit()
    with pytest.raises(ConfigError, match="ユーザーがいます: admin。"):
        create_app(production)
    app.extensions["mks_db"].engine.dispose()


def test_postgres_with_c_locale_is_refused(postgres_template: str, tmp_path: Path) -> None:
    """pg_trgm drops every Japanese character under LC_CTYPE=C; the app must say so, not search slowly."""
    with (
        postgres_database("template0", ctype="C") as url,
        pytest.raises(ConfigError, match=r"LC_CTYPE=C\) では pg_trgm が日本語を索引できません"),
    ):
        create_app(make_settings(url, tmp_path))
