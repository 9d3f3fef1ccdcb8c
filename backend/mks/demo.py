"""Demo users and corpus, so a development install shows a working system at once."""

from __future__ import annotations

from sqlalchemy import select

from .demo_corpus import DEMO_ENTRIES, DEMO_USERS
from .models import Knowledge, Status, User
from .schemas.knowledge import KnowledgeCreate
from .schemas.users import UserCreate
from .services.context import Context
from .services.knowledge.writes import create_knowledge
from .services.users import create_user

__all__ = ["DEMO_USERS", "seed_demo"]


def seed_demo(ctx: Context) -> int:
    """Create the demo users that are missing and, on an empty knowledge base, the demo corpus.

    The accounts are created by nobody (the CLI or start-up); the entries by their demo author, each
    directly in the status the corpus gives it (trusted data, not an API request: no review workflow).
    """
    session = ctx.session
    for demo in DEMO_USERS:
        if session.scalar(select(User.id).where(User.username == demo["username"])) is None:
            create_user(ctx, UserCreate.model_validate(demo))
    author = session.scalar(select(User).where(User.username == "yamada"))
    assert author is not None
    if session.scalar(select(Knowledge.id).limit(1)) is not None:
        return 0
    for entry in DEMO_ENTRIES:
        fields = dict(entry)
        status = Status(str(fields.pop("status")))
        create_knowledge(ctx, KnowledgeCreate.model_validate(fields), author, status=status)
    return len(DEMO_ENTRIES)
