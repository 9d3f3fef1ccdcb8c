"""Prometheus scrape endpoint and the admin's JSON summary of the same numbers."""

from __future__ import annotations

import base64
import binascii
import gzip
import hmac

from flask import Blueprint, Response, current_app, request
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted

from ..api import ADMINS, endpoint
from ..config import Settings
from ..errors import ApiError
from ..ratelimit import limiter
from ..schemas.metrics import MetricsSummary
from ..services.metrics_summary import summarize

bp = Blueprint("metrics", __name__)


def _scrape_registry() -> CollectorRegistry:
    registry: CollectorRegistry = current_app.extensions["mks_scrape_registry"]
    return registry


def _credentials_match(settings: Settings) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and settings.metrics_bearer_token is not None:
        return hmac.compare_digest(value.encode(), settings.metrics_bearer_token.get_secret_value().encode())
    if scheme.lower() == "basic" and settings.metrics_basic_auth_password is not None:
        try:
            username, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = (
            f"{settings.metrics_basic_auth_username or ''}:{settings.metrics_basic_auth_password.get_secret_value()}"
        )
        return hmac.compare_digest(f"{username}:{password}".encode(), expected.encode())
    return False


def _require_scrape_credentials() -> None:
    settings: Settings = current_app.extensions["mks_settings"]
    if settings.metrics_bearer_token is None and settings.metrics_basic_auth_password is None:
        return  # open, as in development; see the README for protecting it
    if not _credentials_match(settings):
        raise ApiError(
            401,
            "metrics_auth_required",
            "/metrics の認証情報が正しくありません。",
            headers={"WWW-Authenticate": 'Basic realm="mks-metrics"'},
        )


@bp.get("/metrics")
@limiter.exempt
@endpoint(
    summary="Prometheus 形式のメトリクス（OpenMetrics・gzip にも対応）",
    tag="monitoring",
    produces="text/plain; version=0.0.4; charset=utf-8",
    errors=(401,),
)
def scrape() -> Response:
    _require_scrape_credentials()
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    output = encoder(_scrape_registry())
    response = Response(output, content_type=content_type)
    if gzip_accepted(request.headers.get("Accept-Encoding", "")):
        response.set_data(gzip.compress(output))
        response.headers["Content-Encoding"] = "gzip"
    return response


@bp.get("/api/metrics/summary")
@endpoint(summary="メトリクスの要約（管理者のみ、JSON）", tag="monitoring", roles=ADMINS, response=MetricsSummary)
def summary() -> MetricsSummary:
    return MetricsSummary.model_validate(summarize(_scrape_registry()))
