"""User accounts: as shown, as referenced from other records, created and updated."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ..models import Role
from .common import Body, DisplayName, Password, Timestamp, Username

# One address, as SMTP takes it: no spaces, no commas, one @ with a dotted domain.
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
]
EMAIL_HELP = "レビュー通知の送り先（承認者にはレビュー依頼、作成者には承認・差し戻し）。null で通知しない"


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: Role
    email: str | None
    is_active: bool
    created_at: Timestamp
    last_seen_at: Timestamp | None


class UserRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str


class UserList(BaseModel):
    items: list[UserOut]


class UserCreate(Body):
    username: Username
    display_name: DisplayName
    password: Password
    role: Role = Role.VIEWER
    email: Email | None = Field(default=None, description=EMAIL_HELP)


class UserUpdate(Body):
    display_name: DisplayName | None = None
    password: Password | None = None
    role: Role | None = None
    is_active: bool | None = None
    email: Email | None = Field(default=None, description=EMAIL_HELP)
