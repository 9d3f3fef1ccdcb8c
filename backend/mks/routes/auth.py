"""Authentication routes: log in, refresh, log out, who am I."""

from __future__ import annotations

from flask import Blueprint

from ..api import ANY_ROLE, endpoint
from ..ratelimit import login_per_client, login_per_username
from ..schemas import AccessToken, LoginRequest, TokenPair, UserOut
from ..security import authenticated_user
from ..services import auth

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")


@bp.post("/login")
@login_per_client
@login_per_username
@endpoint(
    summary="ログイン（アクセストークンとリフレッシュトークンを発行）",
    tag="auth",
    body=LoginRequest,
    response=TokenPair,
    errors=(401,),
    rate_limited=True,
)
def login(body: LoginRequest) -> TokenPair:
    user = auth.authenticate(body.username, body.password)
    access_token, refresh_token = auth.issue_tokens(user)
    return TokenPair(access_token=access_token, refresh_token=refresh_token, expires_in=auth.access_token_seconds())


@bp.post("/refresh")
@endpoint(
    summary="リフレッシュトークンでアクセストークンを再発行",
    tag="auth",
    response=AccessToken,
    refresh=True,
    rate_limited=True,
)
def refresh() -> AccessToken:
    token = auth.refresh_access_token(authenticated_user())
    return AccessToken(access_token=token, expires_in=auth.access_token_seconds())


@bp.post("/logout")
@endpoint(summary="ログアウト（このトークンと対のリフレッシュトークンを失効）", tag="auth", roles=ANY_ROLE, status=204)
def logout() -> None:
    auth.logout(authenticated_user())


@bp.get("/me")
@endpoint(summary="ログイン中のユーザー", tag="auth", roles=ANY_ROLE, response=UserOut)
def me() -> UserOut:
    return UserOut.model_validate(authenticated_user())
