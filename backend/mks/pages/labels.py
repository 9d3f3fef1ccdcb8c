"""What the pages call things: the words on the screen (JOURNEYS.md), and Japan's clock."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ..models import AuditAction, Priority, Role, Status, as_utc

STATUS_LABELS = {
    Status.DRAFT: "下書き",
    Status.REVIEW: "レビュー中",
    Status.APPROVED: "承認済み",
    Status.ARCHIVED: "アーカイブ",
}
ROLE_LABELS = {Role.VIEWER: "閲覧者", Role.EDITOR: "編集者", Role.APPROVER: "承認者", Role.ADMIN: "管理者"}

FIELD_LABELS = {
    "title": "題名",
    "summary": "要約",
    "content": "本文",
    "category": "カテゴリ",
    "tags": "タグ",
    "status": "ステータス",
    "priority": "優先度",
    "project_code": "プロジェクト",
    "owner_department": "担当部署",
    "review_due": "再確認日",
}


PRIORITIES = [(Priority.LOW, "低"), (Priority.NORMAL, "通常"), (Priority.HIGH, "高"), (Priority.CRITICAL, "緊急")]


ACTION_LABELS = {
    AuditAction.KNOWLEDGE_CREATE: "ナレッジの作成",
    AuditAction.KNOWLEDGE_UPDATE: "ナレッジの編集",
    AuditAction.KNOWLEDGE_DELETE: "ナレッジの削除",
    AuditAction.KNOWLEDGE_SUBMIT: "レビュー依頼",
    AuditAction.KNOWLEDGE_APPROVE: "承認",
    AuditAction.KNOWLEDGE_SEND_BACK: "差戻し",
    AuditAction.KNOWLEDGE_ARCHIVE: "アーカイブ",
    AuditAction.KNOWLEDGE_UNARCHIVE: "アーカイブから戻す",
    AuditAction.KNOWLEDGE_IMPORT: "一括取り込み",
    AuditAction.ATTACHMENT_ADD: "添付ファイルの追加",
    AuditAction.ATTACHMENT_DELETE: "添付ファイルの削除",
    AuditAction.LOGIN: "ログイン",
    AuditAction.LOGIN_FAILED: "ログインの失敗",
    AuditAction.LOGOUT: "ログアウト",
    AuditAction.USER_CREATE: "ユーザーの追加",
    AuditAction.USER_UPDATE: "ユーザーの変更",
    AuditAction.USER_ROLE_CHANGE: "ロールの変更",
    AuditAction.CATEGORY_CREATE: "カテゴリの追加",
    AuditAction.TEMPLATE_CREATE: "テンプレートの追加",
    AuditAction.TEMPLATE_UPDATE: "テンプレートの変更",
    AuditAction.TEMPLATE_DELETE: "テンプレートの削除",
    AuditAction.SYNONYM_CREATE: "同義語の追加",
    AuditAction.SYNONYM_UPDATE: "同義語の変更",
    AuditAction.SYNONYM_DELETE: "同義語の削除",
    AuditAction.TOKENS_PURGE: "失効トークンの削除",
}

# Stored times are UTC; the people reading them are in Japan.
JAPAN = ZoneInfo("Asia/Tokyo")


def local_time(moment: datetime, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time as Japan's clock shows it."""
    return as_utc(moment).astimezone(JAPAN).strftime(pattern)
