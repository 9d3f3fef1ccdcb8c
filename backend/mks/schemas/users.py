"""User accounts: as shown, as referenced from other records, created and updated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ..models import Role
from .common import Body, DisplayName, Password, Timestamp, Username


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: Role
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


class UserUpdate(Body):
    display_name: DisplayName | None = None
    password: Password | None = None
    role: Role | None = None
    is_active: bool | None = None
