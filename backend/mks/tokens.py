"""JWT access and refresh tokens (PyJWT, HS256): issued at login and refresh, verified once per request.

A request's token is parsed and verified exactly once (flask-jwt-extended, used before, parsed it
four times: a fifth of an authenticated read's CPU). The claims are the ones it wrote (sub, jti,
type, iat, nbf, exp), so tokens issued before the change stay valid.

Every token also carries its user's token generation (gen: a password change or a disable bumps
it, ending every earlier token) and its family (fam: every access and refresh token descending
from one login, so logout and refresh-token reuse revoke them all at once).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from flask import Flask, current_app, g, request

from .errors import ApiError, error_kind
from .models import utcnow
from .schemas.common import MAX_ID

ACCESS = "access"
REFRESH = "refresh"
ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["exp", "iat", "nbf", "sub", "jti", "type"]
GENERATION = "gen"
FAMILY = "fam"
# Tokens issued before families existed: an access token named its refresh token in this claim.
_LEGACY_REFRESH_CLAIM = "rjti"
# Their family id is derived from the refresh token's id, so it never equals a token id.
_LEGACY_FAMILY = uuid.UUID("6f1c9a52-3d2e-4b8e-9a41-0c5b7e2d9f10")
_SCHEME = "bearer"
# The web pages' blueprint, and the cookie holding a browser session's access token.
PAGES_BLUEPRINT = "pages"
SESSION_COOKIE = "mks_session"

TOKEN_MISSING = error_kind(401, "token_missing", "認証トークンがありません。")
TOKEN_INVALID = error_kind(401, "token_invalid", "トークンが不正です。")
TOKEN_WRONG_TYPE = error_kind(401, "token_wrong_type", "このトークンの種類はここでは使えません。")
# PyJWT's failures that clients and operators should tell apart; any other is TOKEN_INVALID.
_DECODE_ERRORS: dict[type[jwt.InvalidTokenError], Callable[[], ApiError]] = {
    jwt.ExpiredSignatureError: error_kind(401, "token_expired", "トークンの有効期限が切れています。"),
    jwt.InvalidAlgorithmError: error_kind(
        401, "token_algorithm_not_allowed", "トークンの署名方式が許可されていません。"
    ),
    jwt.InvalidSignatureError: error_kind(401, "token_signature_invalid", "トークンの署名が不正です。"),
}


@dataclass(frozen=True)
class TokenKeys:
    """The app's signing secret and token lifetimes."""

    secret: str
    access_lifetime: timedelta
    refresh_lifetime: timedelta


def token_keys() -> TokenKeys:
    """The current app's signing secret and token lifetimes."""
    keys: TokenKeys = current_app.extensions["mks_token_keys"]
    return keys


def new_jti() -> str:
    """A fresh token id or family id (what revocation records)."""
    return str(uuid.uuid4())


def family(claims: dict[str, Any]) -> str:
    """The id of the family the verified token belongs to (one login and all its refreshes)."""
    if FAMILY in claims:
        family_id: str = claims[FAMILY]
        return family_id
    refresh_jti = claims.get(_LEGACY_REFRESH_CLAIM, claims["jti"]) if claims["type"] == ACCESS else claims["jti"]
    return str(uuid.uuid5(_LEGACY_FAMILY, refresh_jti))


def generation(claims: dict[str, Any]) -> int:
    """The user's token generation the verified token was issued in (tokens without one: 0)."""
    value: int = claims.get(GENERATION, 0)
    return value


def issue(keys: TokenKeys, user_id: int, kind: str, **claims: Any) -> str:
    """A signed token of the kind (ACCESS or REFRESH) for the user, with extra claims."""
    now = utcnow()
    lifetime = keys.access_lifetime if kind == ACCESS else keys.refresh_lifetime
    payload = {
        "sub": str(user_id),
        "jti": new_jti(),
        "type": kind,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        **claims,
    }
    return jwt.encode(payload, keys.secret, algorithm=ALGORITHM)


def _request_token() -> str:
    # A page request (mks.pages) carries the same access token in its session cookie; reading it here
    # lets every reader of a request's token, the rate limiter's keys included, find it.
    if request.blueprint == PAGES_BLUEPRINT:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise TOKEN_MISSING()
        return token
    return _bearer_token()


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, rest = header.strip().partition(" ")
    token = rest.strip()
    if scheme.lower() != _SCHEME:
        raise TOKEN_MISSING()
    if not token or " " in token:
        raise TOKEN_INVALID()
    return token


def _is_user_id(subject: object) -> bool:
    return isinstance(subject, str) and subject.isascii() and subject.isdecimal() and 0 < int(subject) <= MAX_ID


def _optional_claims_valid(claims: dict[str, Any]) -> bool:
    return (
        type(claims.get(GENERATION, 0)) is int  # not isinstance: true and false are ints to it
        and isinstance(claims.get(FAMILY, ""), str)
        and isinstance(claims.get(_LEGACY_REFRESH_CLAIM, ""), str)
    )


def _decoded_claims() -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            _request_token(), token_keys().secret, algorithms=[ALGORITHM], options={"require": _REQUIRED_CLAIMS}
        )
    except jwt.InvalidTokenError as exc:
        error = next((known for cls, known in _DECODE_ERRORS.items() if isinstance(exc, cls)), TOKEN_INVALID)
        raise error() from None
    if not (_is_user_id(claims["sub"]) and isinstance(claims["jti"], str) and _optional_claims_valid(claims)):
        raise TOKEN_INVALID()
    return claims


def verify_request(kind: str) -> dict[str, Any]:
    """The verified claims of the request's bearer token, which must be of the kind; 401 otherwise.

    The signature is checked once per request: the search budget's key function reads the token
    before the route verifies it, and both get the same claims.
    """
    claims: dict[str, Any] | None = g.get("mks_decoded_claims")
    if claims is None:
        claims = g.mks_decoded_claims = _decoded_claims()
    if claims["type"] != kind:
        raise TOKEN_WRONG_TYPE()
    return claims


def init_app(app: Flask, keys: TokenKeys) -> None:
    """Keep the signing secret and lifetimes for issuing and verifying."""
    app.extensions["mks_token_keys"] = keys
