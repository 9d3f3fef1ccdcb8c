"""The refusals of the use cases, in domain terms.

A refusal names the rule that refused (a stable code and a Japanese message for people) and
carries no HTTP status and no request location: ``mks.errors`` alone decides how the API answers
each kind, and the CLI prints the message.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A use case refused: ``code`` names the rule for machines, ``message`` explains it in Japanese."""

    def __init__(self, code: str, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class NotFound(DomainError):
    """The thing does not exist, or the actor may not know that it does."""


class Forbidden(DomainError):
    """The actor's role allows the action, but not on this thing (the author approving their own change)."""


class Conflict(DomainError):
    """The change contradicts the current state (a name taken, a stale version, a forbidden transition)."""


class Unauthenticated(DomainError):
    """The credentials or the token do not prove who the actor is."""


class InvalidField(DomainError):
    """One input field holds a value the domain refuses (an unknown category, a foreign cursor...).

    ``field`` is the field's name in the input the caller passed; where that input came from (a
    query string, a body) is for the caller to say.
    """

    def __init__(self, field: str, kind: str, message: str) -> None:
        super().__init__("validation_error", message)
        self.field = field
        self.kind = kind
