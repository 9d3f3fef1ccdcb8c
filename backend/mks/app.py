"""The application factory."""

from __future__ import annotations

from flask import Flask, Response, jsonify

from . import errors, http_security, instrumentation, logs, pages, ratelimit, security
from .api import IdConverter, endpoint
from .config import Settings
from .db import Database
from .notifications.dispatcher import start_dispatcher
from .openapi import build_document
from .routes import (
    attachments,
    audit,
    auth,
    categories,
    health,
    knowledge,
    metrics,
    reviews,
    synonyms,
    templates,
    transfer,
    users,
)
from .search.sync import install_sync


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app without touching the database; the start-up step (mks.startup.prepare) readies the database."""
    settings = settings or Settings()
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    app = Flask("mks", instance_path=str(settings.instance_path.resolve()), static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["mks_settings"] = settings
    app.url_map.converters["id"] = IdConverter

    database = Database(settings)
    database.init_app(app)
    install_sync(database.session.session_factory, database.search)
    instrumentation.init_app(app, settings, database.engine)  # before the rate limiter: it sets its breach callback
    logs.init_app(app)  # inside the trusted-proxy fix (http_security): it reads the proxy's request id
    security.init_app(app, settings)
    errors.init_app(app)
    ratelimit.init_app(app, settings)
    http_security.init_app(app, settings)
    blueprints = [
        health.bp,
        auth.bp,
        knowledge.bp,
        reviews.bp,
        attachments.bp,
        categories.bp,
        templates.bp,
        users.bp,
        audit.bp,
        synonyms.bp,
        transfer.bp,
    ]
    if settings.metrics_enabled:
        blueprints.append(metrics.bp)
    pages.init_app(app)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)

    @app.get("/api/openapi.json")
    @ratelimit.limiter.exempt
    @endpoint(summary="この API の OpenAPI 3.1 定義", tag="meta")
    def openapi() -> Response:
        if "mks_openapi" not in app.extensions:
            app.extensions["mks_openapi"] = build_document(app)
        return jsonify(app.extensions["mks_openapi"])

    instrumentation.start_known_series(app)
    return app


def create_serving_app(settings: Settings | None = None) -> Flask:
    """The app of a serving process (a gunicorn worker, the development server): it also delivers notifications.

    Called after any fork: a thread started before it would not survive into the worker.
    """
    settings = settings or Settings()
    logs.configure(settings.log_lines)
    app = create_app(settings)
    start_dispatcher(app)
    return app
