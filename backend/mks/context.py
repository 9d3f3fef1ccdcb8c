"""The Flask side of the services' Context: the app's dependencies, and a Context for the current request.

Routes (and the CLI, inside its app context) build the Context here and pass it to the services,
which never read the app or the request themselves.
"""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, request

from .config import Settings
from .db import current_db, get_session
from .instrumentation import count_auth_attempt
from .services.context import CLI_ADDRESS, Context, Dependencies

EXTENSION = "mks_services"


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
