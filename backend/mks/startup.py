"""What happens before the first request: migrations, sanity checks, demo data."""

from __future__ import annotations

import logging

from sqlalchemy import select

from . import migrate
from .config import ConfigError, Environment, Settings
from .db import current_db, get_session
from .demo import DEMO_USERS, seed_demo
from .models import User
from .search import backend_for
from .security import verify_password

log = logging.getLogger(__name__)


def prepare_database(settings: Settings) -> None:
    """Bring the database to the current schema, check it can search Japanese, refuse unsafe data."""
    database = current_db()
    current = migrate.current_revision(database.engine)
    head = migrate.head_revision()
    if current is None or (current != head and settings.env is not Environment.PRODUCTION):
        log.info("migrating database from %s to %s", current, head)
        migrate.upgrade(database.engine)
    elif current != head:
        raise ConfigError(f"データベースのスキーマが古い版 ({current}) です。`mks db upgrade` を実行してください。")
    with database.engine.connect() as connection:
        backend_for(database.dialect).check(connection)
    if settings.seed_demo_data and get_session().scalar(select(User.id).limit(1)) is None:
        seed_demo()
    if settings.env is Environment.PRODUCTION:
        settings.check_production()
        refuse_demo_passwords()


def refuse_demo_passwords() -> None:
    """Raise ConfigError when any demo account still accepts its published password."""
    session = get_session()
    still_valid = [
        demo["username"]
        for demo in DEMO_USERS
        if (user := session.scalar(select(User).where(User.username == demo["username"]))) is not None
        and user.is_active
        and verify_password(user.password_hash, demo["password"])
    ]
    if still_valid:
        names = ", ".join(still_valid)
        raise ConfigError(
            f"デモ用パスワードが有効なままのユーザーがいます: {names}。"
            f" `mks set-password <ユーザー名>` で変更するか `mks disable-user <ユーザー名>` で無効化してください。"
        )
