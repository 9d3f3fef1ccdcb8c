"""Login request and the token pair it answers."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from .common import NO_NUL, Body

# What a login may name: no stricter than Username, so accounts created before its rule can still log in.
LoginName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)]


class LoginRequest(Body):
    username: LoginName
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int = Field(description="アクセストークンの有効秒数")
