"""What an entry form sends, as the API's bodies: the same schemas check it, with the same Japanese messages."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from werkzeug.datastructures import MultiDict

from ..schemas.common import field_errors

ENTRY_FIELDS = ("title", "summary", "content", "category", "priority")
# Tags are typed in one box, separated by spaces or commas (Japanese or not).
_TAG_SEPARATORS = re.compile(r"[\s,、，]+")


def entry_values(form: MultiDict[str, str]) -> dict[str, Any]:
    """The entry fields of a submitted form, tags as a list."""
    values: dict[str, Any] = {name: form.get(name, "") for name in ENTRY_FIELDS}
    values["tags"] = tag_names(form.get("tags", ""))
    return values


def tag_names(typed: str) -> list[str]:
    """The tags typed in one box, in their order."""
    return [tag for tag in _TAG_SEPARATORS.split(typed) if tag]


def messages(exc: ValidationError) -> dict[str, str]:
    """One Japanese message per refused field, by field name (a tag's error under "tags")."""
    found: dict[str, str] = {}
    for error in field_errors(exc):
        found.setdefault(error["field"].split(".")[0], error["message"])
    return found
