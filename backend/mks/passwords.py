"""Password hashing with argon2id, and the dummy hash that keeps a log-in for an unknown user as slow as any."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """The configured argon2id hasher."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher

    def hash(self, password: str) -> str:
        """Hash a password with argon2id."""
        return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether the password matches the stored hash (never raises on a bad hash)."""
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    @functools.cached_property
    def dummy_hash(self) -> str:
        """A real hash of no account's password, verified when the user does not exist (computed once)."""
        return self.hash("not-a-real-password")
