"""A browser's session: the API's access token in an HttpOnly cookie, renewed while in use, and CSRF protection.

The cookie holds the same token an API client sends in its header, verified the same way
(security.verify_token): logging out or disabling the user ends it at once, as for the API. Its
lifetime (MKS_JWT_ACCESS_TOKEN_MINUTES) is the idle timeout: a page request in the second half
of it renews the token, so only a session left idle that long ends.

Every form that changes state carries a CSRF token equal to a random cookie of its own
(double submit): another site can make the browser send the cookie, but cannot read it to fill
in the form. Both cookies are HttpOnly, SameSite and, over HTTPS, Secure.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime

from flask import Response, g, request
from werkzeug.wrappers import Response as BaseResponse

from ..errors import ApiError, error_kind
from ..models import CurrentUser
from ..security import token_claims, verify_token
from ..services.errors import DomainError
from ..tokens import ACCESS, FAMILY, GENERATION, SESSION_COOKIE, family, issue, token_keys

CSRF_COOKIE = "mks_csrf"
CSRF_FIELD = "csrf_token"

CSRF_FAILED = error_kind(
    403, "csrf_failed", "フォームの有効期限が切れました。ページを読み込み直してから、もう一度送信してください。"
)


def signed_in_user() -> CurrentUser | None:
    """The user of a valid session cookie; None without one (missing, expired, revoked, user disabled)."""
    try:
        return verify_token()
    except (ApiError, DomainError):
        g.mks_end_session = SESSION_COOKIE in request.cookies
        return None


def start(response: BaseResponse, access_token: str) -> None:
    """Keep the access token as the browser's session."""
    _set(response, SESSION_COOKIE, access_token, samesite="Lax")


def end(response: BaseResponse) -> None:
    """Forget the browser's session."""
    response.delete_cookie(SESSION_COOKIE, path="/", secure=request.is_secure, httponly=True, samesite="Lax")


def csrf_token() -> str:
    """The token a form must send back; the cookie it must equal is set with the response when new."""
    token: str | None = request.cookies.get(CSRF_COOKIE) or g.get("mks_new_csrf")
    if not token:
        token = g.mks_new_csrf = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse a state-changing request whose form token does not equal the CSRF cookie."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = request.form.get(CSRF_FIELD, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise CSRF_FAILED()


def save(response: Response) -> Response:
    """Set the cookies the request decided on: a new CSRF token, a renewed session, or an ended one."""
    if "mks_new_csrf" in g:
        _set(response, CSRF_COOKIE, g.mks_new_csrf, samesite="Strict")
    if g.get("mks_end_session"):
        end(response)
    elif "mks_user" in g and SESSION_COOKIE not in _cookies_set(response):
        renewed = _renewed_token(g.mks_user)
        if renewed is not None:
            start(response, renewed)
    return response


def _renewed_token(user: CurrentUser) -> str | None:
    """A fresh access token of the session's login when the current one is past half its life."""
    claims = token_claims()
    keys = token_keys()
    left = datetime.fromtimestamp(claims["exp"], UTC) - datetime.now(UTC)
    if left > keys.access_lifetime / 2:
        return None
    return issue(keys, user.id, ACCESS, role=user.role, **{GENERATION: user.token_generation, FAMILY: family(claims)})


def _cookies_set(response: Response) -> set[str]:
    return {header.split("=", 1)[0] for header in response.headers.getlist("Set-Cookie")}


def _set(response: BaseResponse, name: str, value: str, *, samesite: str) -> None:
    response.set_cookie(name, value, path="/", secure=request.is_secure, httponly=True, samesite=samesite)
