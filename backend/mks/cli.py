"""The `mks` command line: serve, database migrations, accounts, demo data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import FlaskGroup
from pydantic import ValidationError
from sqlalchemy import select

from . import migrate
from .app import create_app
from .config import Settings
from .db import current_db, get_session
from .demo import seed_demo
from .errors import ApiError
from .models import Role, User
from .schemas import UserCreate, UserUpdate
from .services import users

GUNICORN_CONFIG = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


def _cli_app() -> Flask:
    # Commands manage the database themselves, so the app must not migrate or check it on creation.
    app = create_app(prepare=False)
    click.get_current_context().call_on_close(app.extensions["mks_db"].engine.dispose)
    return app


@click.group(cls=FlaskGroup, create_app=_cli_app, add_default_commands=False)
def main() -> None:
    """Mirai Knowledge System の管理コマンド。"""


@main.command()
@click.option("--dev", is_flag=True, help="Flask の開発サーバーで起動する（自動リロード）。")
def serve(dev: bool) -> None:
    """API サーバーを起動する（既定は gunicorn、MKS_HOST:MKS_PORT）。"""
    settings = Settings()
    if dev:
        create_app(settings).run(host=settings.host, port=settings.port, debug=True)
        return
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG), "mks.wsgi:app"])


@main.group()
def db() -> None:
    """データベースのスキーマ管理。"""


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """マイグレーションを適用する。"""
    migrate.upgrade(current_db().engine, revision)
    click.echo(f"スキーマ版: {migrate.current_revision(current_db().engine)}")


@db.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """指定した版までスキーマを戻す。"""
    migrate.downgrade(current_db().engine, revision)
    click.echo(f"スキーマ版: {migrate.current_revision(current_db().engine)}")


@db.command()
def current() -> None:
    """データベースのスキーマ版と最新版を表示する。"""
    click.echo(f"現在: {migrate.current_revision(current_db().engine)}  最新: {migrate.head_revision()}")


def _fail(message: str) -> None:
    raise click.ClickException(message)


@main.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice([role.value for role in Role]), default=Role.VIEWER.value)
@click.option("--display-name", default=None, help="表示名（省略時はユーザー名）")
@click.password_option(help="パスワード（省略時は入力を求める）")
def create_user(username: str, role: str, display_name: str | None, password: str) -> None:
    """ユーザーを作成する。"""
    try:
        data = UserCreate(username=username, display_name=display_name or username, password=password, role=Role(role))
        user = users.create_user(data)
    except (ValidationError, ApiError) as exc:
        _fail(str(exc))
    click.echo(f"作成しました: {user.username} ({user.role})")


def _user(username: str) -> User:
    user = get_session().scalar(select(User).where(User.username == username))
    if user is None:
        _fail(f"ユーザーが見つかりません: {username}")
    assert user is not None
    return user


@main.command("set-password")
@click.argument("username")
@click.password_option(help="新しいパスワード（省略時は入力を求める）")
def set_password(username: str, password: str) -> None:
    """ユーザーのパスワードを変更する。"""
    user = _user(username)
    try:
        users.update_user(user.id, UserUpdate(password=password), acting=user)
    except ValidationError as exc:
        _fail(str(exc))
    click.echo(f"パスワードを変更しました: {username}")


@main.command("disable-user")
@click.argument("username")
def disable_user(username: str) -> None:
    """ユーザーを無効化する（ログインできなくなる）。"""
    user = _user(username)
    user.is_active = False
    get_session().commit()
    click.echo(f"無効化しました: {username}")


@main.command("seed-demo")
def seed_demo_command() -> None:
    """デモユーザーとデモ用ナレッジを投入する（既にあれば何もしない）。"""
    created = seed_demo()
    click.echo(f"デモデータを投入しました（ナレッジ {created} 件）。")
