"""The `mks` command line: serve, database migrations, backup and restore, accounts, demo data, search index."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from . import doctor as checks
from . import migrate
from .app import create_app, create_serving_app
from .config import ConfigError, Settings
from .context import dependencies, service_context
from .db import current_db, get_session
from .demo import seed_demo
from .models import Knowledge, Role, User
from .schemas.transfer import FileFormat
from .schemas.users import UserCreate, UserUpdate
from .search.rebuild import reindex
from .services import auth, users
from .services.backup import (
    BackupError,
    Progress,
    attachments_folder,
    create_backup,
    default_backup_path,
    inspect_backup,
    restore_backup,
)
from .services.errors import DomainError, InvalidField
from .services.transfer.exports import export_records
from .services.transfer.formats import format_of, write_records
from .services.transfer.imports import InvalidRows, check_file, import_file
from .startup import ensure_jwt_secret, prepare, show_progress, startup_lock, wait_for_database
from .storage import LocalBlobStore, copy_blobs
from .systemd import backend_unit

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

GUNICORN_CONFIG = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


def _cli_app() -> Flask:
    # Commands manage the database themselves (create_app never touches it). They sign no token, but
    # the app reads the JWT secret: in development, the same file the server uses, written if missing.
    settings = Settings()
    ensure_jwt_secret(settings)
    app = create_app(settings)
    click.get_current_context().call_on_close(app.extensions["mks_db"].engine.dispose)
    return app


@click.group(cls=FlaskGroup, create_app=_cli_app, add_default_commands=False)
def main() -> None:
    """Mirai Knowledge System の管理コマンド。"""


@main.command(with_appcontext=False)
@click.option("--dev", is_flag=True, help="Flask の開発サーバーで起動する（自動リロード）。")
def serve(dev: bool) -> None:
    """API サーバーを起動する（既定は gunicorn、MKS_HOST:MKS_PORT）。"""
    if dev:
        settings = _prepared()
        create_serving_app(settings).run(host=settings.bind_host, port=settings.port, debug=True)
        return
    # gunicorn's master runs the start-up step itself (gunicorn.conf.py on_starting).
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG), "mks.wsgi:app"])


@main.command("systemd-unit", with_appcontext=False)
@click.option(
    "--user", default="mks", show_default=True, help="サービスを実行する専用ユーザー（先に作成してください）。"
)
@click.option(
    "--environment-file",
    type=click.Path(path_type=Path),
    default=Path("/etc/mks/mks.env"),
    show_default=True,
    help="MKS_* の設定（秘密鍵を含む）を書いたファイル。root だけが読めるようにしてください。",
)
def systemd_unit_command(user: str, environment_file: Path) -> None:
    """このインストールの `mks serve` を専用ユーザーで動かす systemd ユニットを標準出力に書く。"""
    executable = Path(sys.executable).parent / "mks"
    if not executable.exists():
        raise click.ClickException(f"{executable} がありません。MKS を入れた仮想環境の mks で実行してください。")
    click.echo(backend_unit(executable, GUNICORN_CONFIG.parent, environment_file.absolute(), user), nl=False)


@main.command("prepare", with_appcontext=False)
def prepare_command() -> None:
    """起動処理だけを行う（JWT 秘密鍵の作成・マイグレーション・検査・デモデータ）。サーバーを別の方法で起動する前に。"""
    _prepared()
    click.echo("起動処理が完了しました。")


def _prepared() -> Settings:
    """Run the start-up step, turning a refusal into the operator's one-line message and exit code 1."""
    show_progress()
    try:
        settings = Settings()
        prepare(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return settings


@main.group()
def db() -> None:
    """データベースのスキーマ管理。"""


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """マイグレーションを適用する（同時に起動するインスタンスとは起動ロックで順番に）。"""
    settings: Settings = current_app.extensions["mks_settings"]
    try:
        wait_for_database(current_db().engine, settings.startup_wait_seconds)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    with startup_lock(current_db().engine, settings.startup_wait_seconds):
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
@click.option("--email", default=None, help="レビュー通知の送り先（省略時は通知しない）")
@click.password_option(help="パスワード（省略時は入力を求める）")
def create_user(username: str, role: str, display_name: str | None, email: str | None, password: str) -> None:
    """ユーザーを作成する。"""
    try:
        data = UserCreate(
            username=username, display_name=display_name or username, password=password, role=Role(role), email=email
        )
        user = users.create_user(service_context(), data, actor=None)
    except (ValidationError, DomainError) as exc:
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
        users.update_user(service_context(), user.id, UserUpdate(password=password), actor=None)
    except ValidationError as exc:
        _fail(str(exc))
    click.echo(f"パスワードを変更しました: {username}（発行済みのトークンはすべて失効）")


@main.command("disable-user")
@click.argument("username")
def disable_user(username: str) -> None:
    """ユーザーを無効化する（ログインできなくなり、発行済みのトークンはすべて失効する）。"""
    users.update_user(service_context(), _user(username).id, UserUpdate(is_active=False), actor=None)
    click.echo(f"無効化しました: {username}")


@main.command("purge-tokens")
def purge_tokens() -> None:
    """期限切れの失効トークンを失効リストから削除する（ログアウト・再発行の際にも 1 分に 1 回まで自動で行う）。"""
    click.echo(f"期限切れの失効トークンを {auth.purge_expired_tokens(service_context(), actor=None)} 件削除しました。")


@main.group("search")
def search_group() -> None:
    """全文検索の索引を管理する。"""


@search_group.command("reindex")
def reindex_command() -> None:
    """タグ・同義語の頻出語を学び、全ナレッジから検索索引を作り直す。

    1 トランザクションで行い、失敗すれば元の索引のまま終了コード 1。
    """
    database = current_db()
    try:
        with database.engine.begin() as connection, _progress("検索索引の再作成") as progress:
            rebuilt = reindex(connection, database.search, progress)
    except SQLAlchemyError as error:
        raise click.ClickException(f"検索索引を作り直せませんでした（索引は元のままです）: {error}") from error
    click.echo(
        f"検索索引を作り直しました（ナレッジ {rebuilt.entries} 件、"
        f"1 語として索引する語 {rebuilt.words} 語、うち今回追加 {rebuilt.words_learned} 語）。"
    )


FORMAT_OPTION = click.option(
    "--format",
    "file_format",
    type=click.Choice([member.value for member in FileFormat]),
    default=None,
    help="ファイル形式（省略時は拡張子 .csv / .jsonl から）",
)
ERRORS_SHOWN = 50


def _file_format(path: Path, given: str | None) -> FileFormat:
    try:
        return FileFormat(given) if given else format_of(path.name)
    except InvalidField as exc:
        raise click.ClickException(exc.message) from None


def _importer(username: str | None) -> User:
    """The user the imported entries are created by: the one named, else the first admin."""
    if username is not None:
        return _user(username)
    admin = get_session().scalar(
        select(User).where(User.role == Role.ADMIN, User.is_active.is_(True)).order_by(User.id).limit(1)
    )
    if admin is None:
        _fail("管理者がいません。--user で作成者を指定してください。")
    assert admin is not None
    return admin


@main.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@FORMAT_OPTION
@click.option(
    "--skip-invalid", is_flag=True, help="不正な行を飛ばして残りを取り込む（既定は 1 行でも不正なら何も取り込まない）"
)
@click.option("--user", "username", default=None, help="作成者として記録するユーザー（省略時は最初の管理者）")
@click.option("--json", "as_json", is_flag=True, help="結果（不正な行の理由を含む）を JSON で出力する")
def import_command(
    path: Path, file_format: str | None, skip_invalid: bool, username: str | None, as_json: bool
) -> None:
    """CSV（上流 MKS のテンプレートの列）または JSON Lines のナレッジを取り込む。

    先に全行を検証し、不正な行があれば行番号と理由を示して何も取り込まない（--skip-invalid なら残りを取り込む）。
    external_id が既にあるナレッジの行は飛ばすので、同じファイルを何度取り込んでも重複しない。
    検索索引も同じトランザクションで作る。
    """
    fmt = _file_format(path, file_format)
    actor = _importer(username)
    ctx = service_context()
    checked = check_file(ctx, path, fmt)
    for error in checked.errors[:ERRORS_SHOWN]:
        click.echo(f"{error['row']} 行目 {error['field']}: {error['message']}（{error['type']}）", err=True)
    if len(checked.errors) > ERRORS_SHOWN:
        click.echo(f"ほか {len(checked.errors) - ERRORS_SHOWN} 件の理由は --json で確認できます。", err=True)
    try:
        with _progress("取り込み中") as progress:
            done = import_file(ctx, path, fmt, actor, skip_invalid=skip_invalid, checked=checked, progress=progress)
    except InvalidRows as exc:
        if as_json:
            click.echo(
                json.dumps(
                    {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}, ensure_ascii=False
                )
            )
        raise click.ClickException(exc.message) from None
    summary = {
        "rows": checked.rows,
        "imported": done.imported,
        "already_imported": done.already_imported,
        "invalid": done.invalid,
        "errors": checked.errors,
    }
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
        return
    click.echo(
        f"取り込みました: {done.imported} 件（全 {checked.rows} 行、"
        f"取り込み済みのため飛ばした行 {done.already_imported}、不正なため飛ばした行 {done.invalid}）。"
    )


@main.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@FORMAT_OPTION
@click.option("--revisions", is_flag=True, help="各ナレッジの全履歴を含める（JSON Lines のみ）")
def export_command(path: Path, file_format: str | None, revisions: bool) -> None:
    """全ナレッジを取り込みと同じ形式（CSV または JSON Lines）で書き出す。書き出したファイルはそのまま取り込める。"""
    fmt = _file_format(path, file_format)
    if revisions and fmt is FileFormat.CSV:
        _fail("履歴を含む書き出しは JSON Lines（.jsonl）だけです。")
    with path.open("w", encoding="utf-8", newline="") as stream:
        written = write_records(stream, fmt, export_records(service_context(), with_revisions=revisions))
    click.echo(f"書き出しました: {path}（ナレッジ {written} 件）")


@main.command("seed-demo")
def seed_demo_command() -> None:
    """デモユーザーとデモ用ナレッジを投入する（既にあれば何もしない）。"""
    created = seed_demo(service_context())
    click.echo(f"デモデータを投入しました（ナレッジ {created} 件）。")


@main.command(with_appcontext=False)
@click.option("--backend-url", envvar="MKS_BACKEND_URL", default="http://localhost:5100", show_default=True)
@click.option("--prometheus-url", envvar="PROMETHEUS_URL", default="http://localhost:9090", show_default=True)
@click.option("--alertmanager-url", envvar="ALERTMANAGER_URL", default="http://localhost:9093", show_default=True)
@click.option("--grafana-url", envvar="GRAFANA_URL", default=None, help="指定すると Grafana も確認する")
@click.option("--json", "as_json", is_flag=True, help="結果を JSON で出力する")
def doctor(
    backend_url: str, prometheus_url: str, alertmanager_url: str, grafana_url: str | None, as_json: bool
) -> None:
    """監視の不調と検索索引のずれを診断する（ガイドのトラブルシューティングを自動で実行）。NG があれば終了コード 1。"""
    settings = Settings()
    endpoints = checks.Endpoints(
        backend=backend_url.rstrip("/"),
        prometheus=prometheus_url.rstrip("/"),
        alertmanager=alertmanager_url.rstrip("/"),
        grafana=grafana_url.rstrip("/") if grafana_url else None,
        grafana_user=os.environ.get("GRAFANA_ADMIN_USER", "admin"),
        grafana_password=os.environ.get("GRAFANA_ADMIN_PASSWORD"),
        metrics_headers=checks.metrics_headers(settings),
    )
    results = list(checks.run_checks(endpoints, settings))
    click.echo(checks.as_json(results) if as_json else "\n".join(result.line() for result in results))
    if any(result.status is checks.CheckStatus.ERROR for result in results):
        sys.exit(1)


@contextmanager
def _progress(label: str) -> Iterator[Progress]:
    """A progress callback: a bar when stderr is a terminal, otherwise a line at every 10%."""
    stderr = sys.stderr
    with ExitStack() as stack:
        bar: ProgressBar[int] | None = None
        reported = -1

        def report(done: int, total: int) -> None:
            nonlocal bar, reported
            if stderr.isatty():
                if bar is None:
                    bar = stack.enter_context(click.progressbar(length=total, label=label, file=stderr))
                bar.length = total
                bar.update(done - bar.pos)
                return
            tenth = 10 * (10 * done // total) if total else 100
            if tenth > reported:
                reported = tenth
                click.echo(f"{label}: {tenth}%", err=True)

        yield report


def _size(size: int) -> str:
    """A byte count the way an operator reads it."""
    if size < 1024:
        return f"{size} バイト"
    value, unit = size / 1024, "KB"
    for larger in ("MB", "GB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{value:.1f} {unit}"


@main.command("backup")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def backup_command(path: Path | None) -> None:
    """データベースと添付ファイルをバックアップする（SQLite は .sqlite3、PostgreSQL は pg_dump の .dump。
    添付ファイルは同じ場所の <バックアップ名>.attachments フォルダ）。

    PATH を省略すると <インスタンスフォルダ>/backups/mks-日付-時刻 に作成する。稼働中でも一貫した内容になる。
    """
    engine = current_db().engine
    try:
        target = path or default_backup_path(current_app.extensions["mks_settings"].instance_path, engine)
        # Files before and after the database: a file deleted meanwhile is in the first copy, one added in the second.
        files = LocalBlobStore(attachments_folder(target))
        copied = copy_blobs(dependencies().blobs, files)
        with _progress("バックアップ中") as progress:
            create_backup(engine, target, progress)
        copied += copy_blobs(dependencies().blobs, files)
    except BackupError as exc:
        _fail(str(exc))
    click.echo(f"バックアップを作成しました: {target}（{_size(target.stat().st_size)}）")
    click.echo(f"添付ファイル {copied} 個: {attachments_folder(target)}")


@main.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="確認せずに復元する。")
def restore_command(path: Path, yes: bool) -> None:
    """バックアップからデータベースと添付ファイルを復元する（データベースの内容はすべて置き換わる）。

    復元後、古い版のバックアップは最新のスキーマへ移行する。
    """
    engine = current_db().engine
    try:
        revision = inspect_backup(engine, path)
    except BackupError as exc:
        _fail(str(exc))
    database = engine.url.render_as_string(hide_password=True)
    question = f"{database} の内容をすべて {path}（スキーマ版 {revision}）の内容で置き換えます。よろしいですか？"
    if not yes and not click.confirm(question, default=False):
        _fail("復元を中止しました（データベースは変更していません）。")
    try:
        with _progress("復元中") as progress:
            restore_backup(engine, path, progress)
    except BackupError as exc:
        _fail(str(exc))
    restored_files = copy_blobs(LocalBlobStore(attachments_folder(path)), dependencies().blobs)
    session = get_session()
    knowledge = session.scalar(select(func.count()).select_from(Knowledge))
    accounts = session.scalar(select(func.count()).select_from(User))
    current = migrate.current_revision(engine)
    click.echo(f"復元しました: {path}（スキーマ版 {revision} → {current}）")
    click.echo(f"ナレッジ {knowledge} 件、ユーザー {accounts} 人、添付ファイル {restored_files} 個を戻しました")
