"""Shared bases (request body, query parameters, page) and field types of every area's schemas."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from ..models import as_utc

T = TypeVar("T")

# Row ids fit a 32-bit signed INTEGER on every database; larger ones cannot exist (a path id is 404, a filter 422).
MAX_ID = 2**31 - 1

# Text that is stored or searched holds no NUL (U+0000), which PostgreSQL cannot store: refused on every database.
NO_NUL = r"^[^\x00]*$"
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=NO_NUL)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50, pattern=NO_NUL)]
Department = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100, pattern=NO_NUL)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NO_NUL)]
Summary = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000, pattern=NO_NUL)]
Content = Annotated[str, StringConstraints(max_length=200_000, pattern=NO_NUL)]
Username = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9_.-]{3,64}$")]
# Timestamps in responses are always UTC with an offset, even where SQLite returns them naive.
Timestamp = Annotated[datetime, AfterValidator(as_utc)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
# A date-time starts with one (match), a date is one (fullmatch).
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_datetime_only(value: object) -> object:
    """Refuse a string that is no ISO 8601 date-time (pydantic would read "0.5" or "1700000000" as Unix time)."""
    if isinstance(value, str) and not ISO_DATE.match(value):
        raise PydanticCustomError("datetime_parsing", "Input should be an ISO 8601 date-time")
    return value


def _utc_moment(value: datetime) -> datetime:
    """The moment in UTC; refused when that falls outside the years a datetime can hold (0001-01-01T00:00+01:00)."""
    try:
        return as_utc(value)
    except OverflowError:
        raise ValueError("date-time out of range") from None


# A date-time in a query parameter: ISO 8601 only; without an offset it is taken as UTC.
QueryTimestamp = Annotated[datetime, BeforeValidator(_iso_datetime_only), AfterValidator(_utc_moment)]
QUERY_TIMESTAMP_HELP = "ISO 8601 の日時（例: 2026-04-01T09:00:00+09:00）。オフセットなしは UTC"


def _calendar_date_only(value: object) -> object:
    """Refuse anything but a YYYY-MM-DD string or a date (pydantic would read 0 or "0" as 1970-01-01)."""
    if not isinstance(value, date) and not (isinstance(value, str) and ISO_DATE.fullmatch(value)):
        raise PydanticCustomError("date_parsing", "Input should be a date as YYYY-MM-DD")
    return value


# A calendar date, in a body or a query parameter: YYYY-MM-DD only.
CalendarDate = Annotated[date, BeforeValidator(_calendar_date_only)]


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


TagNames = Annotated[list[Name], Field(max_length=20), AfterValidator(_unique)]


class Body(BaseModel):
    """A request body: unknown fields are refused so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    """Query parameters: unknown ones are ignored (cache busters, tracking parameters)."""

    model_config = ConfigDict(extra="ignore")


class Page(Query):
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=1_000_000)


def _not_null(value: object) -> object:
    """Refuse an explicit null where the stored value cannot be empty (the field may still be omitted)."""
    if value is None:
        raise PydanticCustomError("null_not_allowed", "Input should not be null")
    return value


def _no_default(schema: dict[str, Any]) -> None:
    """Leave the Python-side default (None: omitted) out of the JSON schema, where null is not allowed."""
    schema.pop("default", None)


# A field of a partial update that may be left out (None in Python) but not sent as null: null is not in
# its JSON schema, and an explicit null is a field error.
Omittable = Annotated[T | SkipJsonSchema[None], BeforeValidator(_not_null), Field(json_schema_extra=_no_default)]


# Validation error types rendered as Japanese field messages; others fall back to pydantic's text.
FIELD_MESSAGES = {
    "missing": "必須項目です。",
    "string_too_short": "短すぎます。",
    "string_too_long": "長すぎます。",
    "string_type": "文字列を指定してください。",
    "string_unicode": "不正な文字が含まれています。",
    "int_parsing": "整数を指定してください。",
    "int_type": "整数を指定してください。",
    "enum": "許可されていない値です。",
    "literal_error": "許可されていない値です。",
    "greater_than_equal": "値が小さすぎます。",
    "less_than_equal": "値が大きすぎます。",
    "extra_forbidden": "不明な項目です。",
    "list_type": "配列を指定してください。",
    "too_long": "要素が多すぎます。",
    "datetime_from_date_parsing": "日時の形式が不正です。",
    "datetime_parsing": "日時の形式が不正です。",
    "value_error": "値が不正です。",
    "string_pattern_mismatch": "使用できない文字が含まれているか、形式が正しくありません。",
    "null_not_allowed": "null は指定できません（変更しない項目は省略してください）。",
}


def field_errors(exc: ValidationError, whole: str = "") -> list[dict[str, Any]]:
    """One Japanese message per refused field, in the API's error vocabulary (``whole``: the field name of an
    error about the input as a whole)."""
    return [
        {
            "field": ".".join(str(part) for part in item["loc"]) or whole,
            "type": item["type"],
            "message": FIELD_MESSAGES.get(item["type"], item["msg"]),
        }
        for item in exc.errors(include_url=False, include_input=False)
    ]
