"""The services speak the domain: called without Flask, on a plain session of the real database."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import jwt
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import mks.services
from mks.models import AuditEntry, Knowledge, KnowledgeRevision, Role, User
from mks.schemas.audit import AuditQuery
from mks.schemas.knowledge import KnowledgeCreate, KnowledgeListQuery, KnowledgeUpdate, SearchQuery
from mks.schemas.users import UserCreate, UserUpdate
from mks.services import audit, auth, categories, users
from mks.services.context import Context
from mks.services.errors import Conflict, InvalidField, NotFound, Unauthenticated
from mks.services.knowledge import reads, revisions, searches, workflow, writes
from mks.tokens import ALGORITHM

SERVICES = Path(mks.services.__file__).parent
# Modules a service must not import: the web framework, and the HTTP error type.
HTTP_MODULES = ("flask", "werkzeug")


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """Every import of the module: (module by its absolute name, names imported from it)."""
    package = ".".join(["mks", "services", *path.relative_to(SERVICES).parent.parts])
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            written = "." * node.level + (node.module or "")
            found.append((importlib.util.resolve_name(written, package), [alias.name for alias in node.names]))
    return found


@pytest.mark.parametrize("path", sorted(SERVICES.rglob("*.py")), ids=lambda path: str(path.relative_to(SERVICES)))
def test_no_service_imports_flask_or_api_error(path: Path) -> None:
    for module, names in _imports(path):
        assert module.split(".")[0] not in HTTP_MODULES, f"{path.name} imports {module}"
        assert module != "mks.errors", f"{path.name} imports the HTTP errors module"
        assert "ApiError" not in names and "error_kind" not in names, f"{path.name} imports {names}"


def _user(ctx: Context, username: str, role: Role) -> User:
    data = UserCreate(username=username, display_name=username, password=f"{username}-pass-1", role=role)
    return users.create_user(ctx, data)


def test_users_and_categories_without_flask(ctx: Context, sessions: sessionmaker[Session]) -> None:
    admin = _user(ctx, "admin", Role.ADMIN)
    editor = _user(ctx, "yamada", Role.EDITOR)
    with pytest.raises(Conflict) as taken:
        _user(ctx, "yamada", Role.VIEWER)
    assert (taken.value.code, taken.value.message) == ("username_taken", "このユーザー名は既に使われています。")
    assert [user.username for user in users.list_users(ctx)] == ["admin", "yamada"]
    assert users.get_user(ctx, editor.id).username == "yamada"
    with pytest.raises(NotFound) as missing:
        users.get_user(ctx, 999_999)
    assert missing.value.code == "user_not_found"
    users.update_user(ctx, editor.id, UserUpdate(role=Role.VIEWER), actor=admin)
    with pytest.raises(Conflict) as demoted:
        users.update_user(ctx, admin.id, UserUpdate(is_active=False), actor=admin)
    assert demoted.value.code == "cannot_demote_self"

    category = categories.create_category(ctx, "試験区分", admin)
    with pytest.raises(Conflict) as exists:
        categories.create_category(ctx, "試験区分", admin)
    assert exists.value.code == "category_exists"
    counts = {found.name: count for found, count in categories.list_categories(ctx, admin)}
    assert counts["試験区分"] == 0

    with sessions() as session:
        assert session.scalar(select(User.role).where(User.username == "yamada")) == "viewer"
        entries = session.execute(
            select(
                AuditEntry.action, AuditEntry.actor_username, AuditEntry.target_id, AuditEntry.client_address
            ).order_by(AuditEntry.id)
        ).all()
    assert [tuple(entry) for entry in entries] == [
        ("user.create", None, admin.id, "192.0.2.7"),
        ("user.create", None, editor.id, "192.0.2.7"),
        ("user.role_change", "admin", editor.id, "192.0.2.7"),
        ("user.update", "admin", editor.id, "192.0.2.7"),
        ("category.create", "admin", category.id, "192.0.2.7"),
    ]


def test_knowledge_without_flask(ctx: Context, sessions: sessionmaker[Session]) -> None:
    editor = _user(ctx, "yamada", Role.EDITOR)
    viewer = _user(ctx, "partner", Role.VIEWER)
    body = KnowledgeCreate(
        title="コンクリート打設の養生", content="寒中コンクリートは保温養生を行う。", category="品質"
    )
    entry = writes.create_knowledge(ctx, body, editor)
    assert entry == reads.read(ctx, entry.id, editor)  # what a read answers, without reading again
    with pytest.raises(InvalidField) as unknown:
        writes.create_knowledge(ctx, KnowledgeCreate(title="x", category="存在しない"), editor)
    assert (unknown.value.field, unknown.value.kind) == ("category", "unknown_category")
    with pytest.raises(NotFound):  # a draft is not the partner's to read
        reads.read(ctx, entry.id, viewer)

    update = KnowledgeUpdate(tags=["養生", "冬期"], version=1)
    assert writes.update_knowledge(ctx, entry.id, update, editor) == reads.read(ctx, entry.id, editor)
    submitted = workflow.take_step(ctx, entry.id, workflow.SUBMIT, 2, None, editor)
    assert submitted == reads.read(ctx, entry.id, editor)
    with pytest.raises(Conflict) as stale:
        writes.update_knowledge(ctx, entry.id, KnowledgeUpdate(title="古い版", version=1), editor)
    assert (stale.value.code, stale.value.details) == ("version_conflict", [{"current_version": 3}])
    with pytest.raises(Conflict) as transition:  # in review already: only a draft is submitted
        workflow.take_step(ctx, entry.id, workflow.SUBMIT, 3, None, editor)
    assert transition.value.code == "invalid_status_transition"

    with pytest.raises(NotFound):  # a partner's view of an entry in review is refused, and not counted
        reads.view(ctx, entry.id, viewer)
    row = reads.view(ctx, entry.id, editor)
    assert (row.title, row.status, row.version, row.view_count, sorted(row.tags)) == (
        "コンクリート打設の養生",
        "review",
        3,
        1,
        ["冬期", "養生"],
    )
    assert reads.read(ctx, entry.id, editor) == row  # the view is counted once, and a read does not count
    rows, total, cursor = reads.list_knowledge(ctx, KnowledgeListQuery(limit=1), editor)
    assert ([found.id for found in rows], total, cursor) == ([entry.id], 1, None)
    results = searches.search(ctx, SearchQuery(q="保温養生"), editor)
    assert ([hit.id for hit in results.hits], results.total, results.terms) == ([entry.id], 1, ["保温養生"])
    with pytest.raises(InvalidField) as depth:
        searches.search(ctx, SearchQuery(q="養生", offset=ctx.settings.search_max_results - 19), editor)
    assert (depth.value.field, depth.value.kind) == ("offset", "search_depth")
    assert reads.tag_counts(ctx, editor) == [("冬期", 1), ("養生", 1)]
    assert reads.tag_counts(ctx, viewer) == []
    assert [
        (found.record.revision, found.changed_fields) for found in revisions.list_revisions(ctx, entry.id, editor)
    ] == [
        (3, ["status"]),
        (2, ["tags"]),
        (1, list(Knowledge.TRACKED_FIELDS)),
    ]
    assert revisions.revision(ctx, entry.id, 1, editor).record.snapshot["status"] == "draft"
    with pytest.raises(NotFound) as no_revision:
        revisions.revision(ctx, entry.id, 4, editor)
    assert no_revision.value.code == "revision_not_found"

    writes.delete_knowledge(ctx, entry.id, editor)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Knowledge)) == 0
        assert session.scalar(select(func.count()).select_from(KnowledgeRevision)) == 0
    actions = [(entry.action, entry.actor_username) for entry in audit.search(ctx, AuditQuery(limit=4))[0]]
    assert actions == [
        ("knowledge.delete", "yamada"),
        ("knowledge.submit", "yamada"),
        ("knowledge.update", "yamada"),
        ("knowledge.create", "yamada"),
    ]


def test_auth_without_flask(ctx: Context, sessions: sessionmaker[Session]) -> None:
    _user(ctx, "yamada", Role.EDITOR)
    with pytest.raises(Unauthenticated) as refused:
        auth.check_credentials(ctx, "yamada", "wrong-password")
    assert (refused.value.code, refused.value.message) == (
        "invalid_credentials",
        "ユーザー名またはパスワードが正しくありません。",
    )
    with pytest.raises(Unauthenticated):
        auth.check_credentials(ctx, "nobody", "whatever-1")
    user = auth.check_credentials(ctx, "yamada", "yamada-pass-1")
    access, refresh = auth.issue_tokens(ctx, user)
    secret = ctx.dependencies.token_keys.secret
    claims = jwt.decode(refresh, secret, algorithms=[ALGORITHM])
    assert jwt.decode(access, secret, algorithms=[ALGORITHM])["fam"] == claims["fam"]
    assert auth.access_token_seconds(ctx) == ctx.settings.jwt_access_token_minutes * 60
    rotated, _ = auth.rotate_tokens(ctx, user, claims)
    with pytest.raises(Unauthenticated) as reused:  # a spent refresh token
        auth.rotate_tokens(ctx, user, claims)
    assert reused.value.code == "token_revoked"
    assert auth.purge_expired_tokens(ctx, actor=None) == 0
    second = auth.issue_tokens(ctx, user)[0]
    auth.logout(ctx, user, jwt.decode(second, secret, algorithms=[ALGORITHM]))
    with pytest.raises(Unauthenticated):  # its family is revoked already
        auth.logout(ctx, user, jwt.decode(second, secret, algorithms=[ALGORITHM]))
    assert rotated != second

    with sessions() as session:
        assert session.scalar(select(User.failed_logins).where(User.username == "yamada")) == 0
    entries, total = audit.search(ctx, AuditQuery())
    assert total == 6
    assert [(entry.action, entry.actor_username, entry.details) for entry in entries] == [
        ("auth.logout", "yamada", {}),
        ("auth.tokens_purge", None, {"deleted": 0}),
        ("auth.login", "yamada", {}),
        ("auth.login_failed", "nobody", {"reason": "failure"}),
        ("auth.login_failed", "yamada", {"reason": "failure"}),
        ("user.create", None, {"role": "editor"}),
    ]
