"""Entry templates: what a new entry of a category starts from, kept by admins.

Three are added for the default categories (where they still exist): 施工手順, ヒヤリハット報告
and 是正報告, the records a site writes most.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Written out here, not imported: a migration keeps the text it shipped with.
DEFAULT_TEMPLATES = (
    {
        "name": "施工手順",
        "category": "施工計画",
        "title": "【施工手順】",
        "summary": "作業の目的と適用範囲を 1〜2 文で書きます。",
        "content": (
            "## 適用範囲\n\n- 対象工種:\n- 対象部位:\n\n## 準備\n\n- 資機材:\n- 有資格者:\n\n"
            "## 手順\n\n1. \n2. \n3. \n\n## 品質管理のポイント\n\n- \n\n## 安全上の注意\n\n- \n"
        ),
        "tags": ["施工手順"],
        "priority": "normal",
    },
    {
        "name": "ヒヤリハット報告",
        "category": "安全",
        "title": "【ヒヤリハット】",
        "summary": "いつ・どこで・何が起きかけたかを 1 文で書きます。",
        "content": (
            "## 発生日時・場所\n\n- 日時:\n- 場所:\n- 作業内容:\n\n## 状況\n\n\n\n## 原因\n\n- \n\n"
            "## 対策\n\n- \n\n## 写真\n\n添付ファイルに現場写真を付けてください。\n"
        ),
        "tags": ["ヒヤリハット", "安全"],
        "priority": "high",
    },
    {
        "name": "是正報告",
        "category": "品質",
        "title": "【是正報告】",
        "summary": "指摘事項と是正の結果を 1 文で書きます。",
        "content": (
            "## 指摘事項\n\n- 指摘日:\n- 指摘者:\n- 内容:\n\n## 原因\n\n- \n\n## 是正内容\n\n- \n\n"
            "## 再発防止策\n\n- \n\n## 確認\n\n- 確認日:\n- 確認者:\n"
        ),
        "tags": ["是正", "品質"],
        "priority": "high",
    },
)


def upgrade() -> None:
    templates = op.create_table(
        "knowledge_templates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False, unique=True),
        sa.Column("category_id", sa.Integer, sa.ForeignKey("categories.id"), nullable=False, index=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    categories = {name: id_ for name, id_ in op.get_bind().execute(sa.text("SELECT name, id FROM categories"))}
    now = datetime.now(UTC)
    rows = [
        {key: value for key, value in template.items() if key != "category"}
        | {"category_id": categories[template["category"]], "created_at": now, "updated_at": now}
        for template in DEFAULT_TEMPLATES
        if template["category"] in categories
    ]
    op.bulk_insert(templates, rows)


def downgrade() -> None:
    op.drop_table("knowledge_templates")
