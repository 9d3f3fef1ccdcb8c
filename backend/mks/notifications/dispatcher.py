"""Delivering the outbox outside any request: each serving process runs one dispatcher thread.

A message is claimed before it is sent (its next attempt moved past a lease), so processes that
poll at once never both send it; a process that dies mid-delivery leaves it to another after the
lease. A failed attempt is tried again after ``notify_retry_seconds``, doubling each time, until
``notify_max_attempts``; the user's step was committed long before and never waits for any of it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from .. import context, instrumentation
from ..config import Settings
from ..models import Notification, NotificationState, utcnow
from .delivery import SENDERS, DeliveryError

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)

Count = Callable[[str, str], None]


def _claim(session: Session) -> Notification | None:
    """The next due message, held for this process; None when none is due."""
    while True:
        now = utcnow()
        due = (Notification.state == NotificationState.PENDING) & (Notification.next_attempt_at <= now)
        found = session.scalar(
            select(Notification.id).where(due).order_by(Notification.next_attempt_at, Notification.id).limit(1)
        )
        if found is None:
            return None
        held = session.execute(
            update(Notification).where(Notification.id == found, due).values(next_attempt_at=now + LEASE)
        )
        session.commit()
        if held.rowcount == 1:  # type: ignore[attr-defined]
            return session.get(Notification, found)
        # another process claimed it between the two statements: look again


def _attempt(settings: Settings, message: Notification) -> str:
    """Send the message once and record the outcome on it: sent, retried (later) or failed (given up)."""
    message.attempts += 1
    try:
        SENDERS[message.channel](settings, message)
    except Exception as exc:  # a receiver's refusal (DeliveryError), or anything else: the message waits
        if not isinstance(exc, DeliveryError):
            log.exception("notification %s: unexpected failure", message.id)
        message.last_error = str(exc)[:500]
        if message.attempts >= settings.notify_max_attempts:
            message.state = NotificationState.FAILED
            return "failed"
        delay = settings.notify_retry_seconds * 2 ** (message.attempts - 1)
        message.next_attempt_at = utcnow() + timedelta(seconds=delay)
        return "retried"
    message.state = NotificationState.SENT
    message.sent_at = utcnow()
    return "sent"


def deliver_due(sessions: sessionmaker[Session], settings: Settings, count: Count) -> int:
    """Attempt every message due now, each once; how many were attempted."""
    attempted = 0
    with sessions() as session:
        while (message := _claim(session)) is not None:
            result = _attempt(settings, message)
            session.commit()
            count(message.channel, result)
            if result != "sent":
                log.warning("notification %s (%s) %s: %s", message.id, message.channel, result, message.last_error)
            attempted += 1
    return attempted


class Dispatcher:
    """The thread that delivers due messages every ``notify_poll_seconds``, or at once when woken."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings, count: Count) -> None:
        self._sessions, self._settings, self._count = sessions, settings, count
        self._woken, self._stopped = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name="mks-notifications", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """A message was just committed: deliver it now rather than at the next poll."""
        self._woken.set()

    def stop(self) -> None:
        self._stopped.set()
        self._woken.set()
        self._thread.join(timeout=self._settings.smtp_timeout_seconds + self._settings.webhook_timeout_seconds)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                deliver_due(self._sessions, self._settings, self._count)
            except SQLAlchemyError as exc:  # the database is away: the messages wait in it
                log.warning("notifications: database unavailable, retrying: %s", exc)
            except Exception:  # the thread must outlive any one round: the next poll tries again
                log.exception("notifications: delivery round failed")
            self._woken.wait(self._settings.notify_poll_seconds)
            self._woken.clear()


def start_dispatcher(app: Flask) -> Dispatcher | None:
    """Start delivering in this process when a channel is configured (called once per serving process)."""
    settings: Settings = app.extensions["mks_settings"]
    if not (settings.smtp_host or settings.webhook_url):
        return None
    metrics = app.extensions.get(instrumentation.EXTENSION)

    def count(channel: str, result: str) -> None:
        if metrics is not None:
            metrics.notifications.labels(channel=channel, result=result).inc()

    dispatcher = Dispatcher(app.extensions["mks_db"].session.session_factory, settings, count)
    app.extensions[context.EXTENSION].notification_added = dispatcher.wake
    dispatcher.start()
    return dispatcher
