"""Authentication routes: log in, refresh, log out, who am I."""

from __future__ import annotations

from flask import Blueprint

from ..api import ANY_ROLE, endpoint
from ..context import service_context
from ..ratelimit import login_per_client, login_per_username
from ..schemas.auth import LoginRequest, TokenPair
from ..schemas.users import UserOut
from ..security import current_actor, token_claims
from ..services import auth
from ..services.context import Context

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")


def _token_pair(ctx: Context, tokens: tuple[str, str]) -> TokenPair:
    access_token, refresh_token = tokens
    return TokenPair(access_token=access_token, refresh_token=refresh_token, expires_in=auth.access_token_seconds(ctx))


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
    ctx = service_context()
    return _token_pair(ctx, auth.issue_tokens(ctx, auth.check_credentials(ctx, body.username, body.password)))


@bp.post("/refresh")
@endpoint(
    summary="リフレッシュトークンを使い、新しいアクセストークンとリフレッシュトークンを発行"
    "（使ったリフレッシュトークンは失効。再利用されるとログイン全体を失効）",
    tag="auth",
    response=TokenPair,
    refresh=True,
    rate_limited=True,
)
def refresh() -> TokenPair:
    ctx = service_context()
    return _token_pair(ctx, auth.rotate_tokens(ctx, current_actor(), token_claims()))


@bp.post("/logout")
@endpoint(
    summary="ログアウト（このログインで発行したすべてのアクセストークンとリフレッシュトークンを失効）",
    tag="auth",
    roles=ANY_ROLE,
    status=204,
)
def logout() -> None:
    auth.logout(service_context(), current_actor(), token_claims())


@bp.get("/me")
@endpoint(summary="ログイン中のユーザー", tag="auth", roles=ANY_ROLE, response=UserOut)
def me() -> UserOut:
    return UserOut.model_validate(current_actor())
