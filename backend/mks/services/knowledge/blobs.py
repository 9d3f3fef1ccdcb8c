"""Forgetting stored files that no attachment refers to any more (after a delete has committed)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from ...models import Attachment
from ..context import Context


def release_blobs(ctx: Context, keys: Iterable[str]) -> None:
    """Delete the blobs of these keys that no attachment refers to (a file attached twice is stored once)."""
    wanted = set(keys)
    if not wanted:
        return
    still_used = set(ctx.session.scalars(select(Attachment.blob).where(Attachment.blob.in_(wanted)))) | set(
        ctx.session.scalars(select(Attachment.thumbnail_blob).where(Attachment.thumbnail_blob.in_(wanted)))
    )
    for key in wanted - still_used:
        ctx.dependencies.blobs.delete(key)
