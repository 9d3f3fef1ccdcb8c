"""The Flask side of the services' Context: the app's dependencies, and a Context for the current request.

Routes (and the CLI, inside its app context) build the Context here and pass it to the services,
which never read the app or the request themselves.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from flask import Flask, current_app, has_request_context, request

from .config import Settings
from .db import current_db, get_session
from .instrumentation import count_auth_attempt
from .services.context import CLI_ADDRESS, Context, Dependencies

EXTENSION = "mks_services"
T = TypeVar("T")


def init_app(app: Flask, settings: Settings) -> Dependencies:
    """Build the app's dependencies once (hasher, token keys, log-in counter) and keep them on the app."""
    dependencies = Dependencies.from_settings(settings, count_login=count_auth_attempt)
    app.extensions[EXTENSION] = dependencies
    return dependencies


def dependencies() -> Dependencies:
    """The current app's dependencies."""
    found: Dependencies = current_app.extensions[EXTENSION]
    return found


def service_context() -> Context:
    """A Context on the app context's session, naming the request's client (the CLI outside a request)."""
    # Behind the reverse proxy, gunicorn's forwarded_allow_ips makes remote_addr the real client.
    address = (request.remote_addr or "") if has_request_context() else CLI_ADDRESS
    settings: Settings = current_app.extensions["mks_settings"]
    return Context(get_session(), settings, dependencies(), current_db().search, address)


def streamed(produce: Callable[[Context], Iterator[T]]) -> Iterator[T]:
    """A response body produced after the view returns, on a session of its own: the request's is closed by
    then. The session opens when the body is first read and closes when it ends or is abandoned."""
    ctx = service_context()
    sessions = current_db().session.session_factory

    def body() -> Iterator[T]:
        with sessions() as session:
            yield from produce(dataclasses.replace(ctx, session=session))

    return body()


BACKGROUND = "mks_background"


def in_background(work: Callable[[Context], None], name: str) -> threading.Thread:
    """Run ``work`` after the request, on a thread of this process with a session of its own (its audit entries
    name the request's client). The app keeps the thread until it ends, for ``wait_for_background``."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    address = service_context().client_address
    running: set[threading.Thread] = app.extensions.setdefault(BACKGROUND, set())

    def run() -> None:
        try:
            with app.app_context():
                work(dataclasses.replace(service_context(), client_address=address))
        finally:
            running.discard(thread)

    thread = threading.Thread(target=run, name=name, daemon=True)
    running.add(thread)
    thread.start()
    return thread


def wait_for_background(app: Flask, timeout: float) -> None:
    """Wait (up to ``timeout`` seconds each) for the app's background work to end, before its database goes."""
    for thread in list(app.extensions.get(BACKGROUND, ())):
        thread.join(timeout)
