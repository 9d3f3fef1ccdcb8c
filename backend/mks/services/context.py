"""What a use case works with, passed in by its caller (a route, the CLI, a test): no app, no request.

``Dependencies`` holds what lives as long as the app (the password hasher, the token keys) and
is built once; ``Context`` adds the settings and one unit of work: the session whose transaction
the use case commits, and the client address its audit entries name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from ..config import Settings
from ..passwords import Passwords
from ..search import SearchBackend
from ..storage import BlobStore, LocalBlobStore
from ..tokens import TokenKeys

# The client address of audit entries written outside any request.
CLI_ADDRESS = "cli"


def _uncounted(_status: str) -> None:
    """Log-in outcomes go uncounted where no metrics are kept (the CLI, a test)."""


def _left_for_the_next_poll() -> None:
    """Without a dispatcher in this process (the CLI), committed notifications wait for a serving process."""


@dataclass
class Dependencies:
    """What the use cases need from the running app; one per app (or per CLI run, or test)."""

    passwords: Passwords
    token_keys: TokenKeys
    blobs: BlobStore
    count_login: Callable[[str], None] = _uncounted
    # Called after a use case commits a notification, so this process's dispatcher delivers it at once.
    notification_added: Callable[[], None] = _left_for_the_next_poll
    # When this process last purged expired revocations (time.monotonic), so it does so now and then.
    revocations_purged_at: float | None = field(default=None, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings, count_login: Callable[[str], None] = _uncounted) -> Dependencies:
        """Build the hasher and token keys the settings describe."""
        return cls(
            passwords=Passwords(
                PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_cost_kib)
            ),
            token_keys=TokenKeys(
                secret=settings.resolve_jwt_secret(),
                access_lifetime=timedelta(minutes=settings.jwt_access_token_minutes),
                refresh_lifetime=timedelta(days=settings.jwt_refresh_token_days),
            ),
            blobs=LocalBlobStore(settings.attachments_path),
            count_login=count_login,
        )


@dataclass(frozen=True)
class Context:
    """One unit of work: its session, the settings and dependencies, and the client address for the audit log."""

    session: Session
    settings: Settings
    dependencies: Dependencies
    search: SearchBackend  # the database's own, chosen once with it (mks.db.Database)
    client_address: str = CLI_ADDRESS
