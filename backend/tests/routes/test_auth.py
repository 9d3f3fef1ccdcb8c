"""Login, refresh, logout (revocation across app instances), me, and login rate limits."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import jwt as pyjwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from mks import migrate
from mks.app import create_app
from mks.config import Settings
from mks.context import service_context
from mks.db import get_session
from mks.models import RevokedToken, User, utcnow
from mks.schemas.users import UserCreate
from mks.services.users import create_user

from ..conftest import PASSWORDS, Auth, make_settings

LOGIN = "/api/v1/auth/login"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_issues_a_token_pair(client: FlaskClient) -> None:
    response = client.post(LOGIN, json={"username": "admin", "password": PASSWORDS["admin"]})
    assert response.status_code == 200
    assert response.json["token_type"] == "Bearer"
    assert response.json["expires_in"] == 30 * 60
    me = client.get("/api/v1/auth/me", headers=bearer(response.json["access_token"]))
    assert me.status_code == 200
    assert (me.json["username"], me.json["role"], me.json["is_active"]) == ("admin", "admin", True)


def test_wrong_password_and_unknown_user_answer_alike(client: FlaskClient) -> None:
    wrong = client.post(LOGIN, json={"username": "admin", "password": "nope"})
    unknown = client.post(LOGIN, json={"username": "ghost", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json
    assert wrong.json["error"]["code"] == "invalid_credentials"


def test_disabled_user_cannot_log_in_and_its_tokens_stop_working(
    client: FlaskClient, auth: Auth, admin: dict[str, str], app: Flask
) -> None:
    token = auth.tokens("yamada")["access_token"]
    with app.app_context():
        user_id = get_session().scalar(select(User.id).where(User.username == "yamada"))
    assert client.patch(f"/api/v1/users/{user_id}", json={"is_active": False}, headers=admin).status_code == 200
    assert client.post(LOGIN, json={"username": "yamada", "password": PASSWORDS["yamada"]}).status_code == 401
    refused = client.get("/api/v1/auth/me", headers=bearer(token))
    assert refused.status_code == 401
    assert refused.json["error"]["code"] == "token_user_disabled"


def test_role_change_takes_effect_at_once(client: FlaskClient, auth: Auth, admin: dict[str, str], app: Flask) -> None:
    viewer_token = auth.tokens("partner")["access_token"]
    body = {"title": "新しい手順", "category": "安全"}
    assert client.post("/api/v1/knowledge", json=body, headers=bearer(viewer_token)).status_code == 403
    with app.app_context():
        user_id = get_session().scalar(select(User.id).where(User.username == "partner"))
    client.patch(f"/api/v1/users/{user_id}", json={"role": "editor"}, headers=admin)
    assert client.post("/api/v1/knowledge", json=body, headers=bearer(viewer_token)).status_code == 201


def test_refresh_issues_a_new_access_token(client: FlaskClient, auth: Auth) -> None:
    tokens = auth.tokens("yamada")
    refreshed = client.post("/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))
    assert refreshed.status_code == 200
    assert client.get("/api/v1/auth/me", headers=bearer(refreshed.json["access_token"])).json["username"] == "yamada"


def test_access_token_is_not_a_refresh_token_and_vice_versa(client: FlaskClient, auth: Auth) -> None:
    tokens = auth.tokens("yamada")
    as_refresh = client.post("/api/v1/auth/refresh", headers=bearer(tokens["access_token"]))
    as_access = client.get("/api/v1/auth/me", headers=bearer(tokens["refresh_token"]))
    assert (as_refresh.status_code, as_refresh.json["error"]["code"]) == (401, "token_wrong_type")
    assert (as_access.status_code, as_access.json["error"]["code"]) == (401, "token_wrong_type")


def test_logout_revokes_access_and_refresh_tokens_in_every_process(
    client: FlaskClient, auth: Auth, settings: Settings, tmp_path: Path
) -> None:
    tokens = auth.tokens("yamada")
    # A second app on the same database stands for another worker process.
    other = create_app(make_settings(settings.effective_database_url, tmp_path / "other")).test_client()
    assert other.get("/api/v1/auth/me", headers=bearer(tokens["access_token"])).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"])).status_code == 204
    for app_client in (client, other):
        me = app_client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
        assert (me.status_code, me.json["error"]["code"]) == (401, "token_revoked")
        refresh = app_client.post("/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))
        assert (refresh.status_code, refresh.json["error"]["code"]) == (401, "token_revoked")
    other.application.extensions["mks_db"].engine.dispose()


def test_missing_and_garbage_tokens(client: FlaskClient) -> None:
    missing = client.get("/api/v1/auth/me")
    garbage = client.get("/api/v1/auth/me", headers=bearer("not.a.token"))
    assert (missing.status_code, missing.json["error"]["code"]) == (401, "token_missing")
    assert (garbage.status_code, garbage.json["error"]["code"]) == (401, "token_invalid")


def test_last_seen_is_recorded(client: FlaskClient, auth: Auth, app: Flask) -> None:
    client.get("/api/v1/auth/me", headers=auth.headers("partner"))
    with app.app_context():
        partner = get_session().scalar(select(User).where(User.username == "partner"))
        admin = get_session().scalar(select(User).where(User.username == "admin"))
        assert partner.last_seen_at is not None
        assert admin.last_seen_at is None


def test_login_is_rate_limited_per_username(database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(database_url, tmp_path / "limited", ratelimit_login_per_username="3 per minute"))
    client = app.test_client()
    statuses = [
        client.post(
            LOGIN, json={"username": "admin", "password": "wrong"}, environ_base={"REMOTE_ADDR": f"10.0.0.{n}"}
        ).status_code
        for n in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    limited = client.post(LOGIN, json={"username": "admin", "password": "wrong"})
    assert limited.json["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    # Another username from the same clients is not affected.
    assert client.post(LOGIN, json={"username": "other", "password": "x"}).status_code == 401
    app.extensions["mks_db"].engine.dispose()


def test_login_is_rate_limited_per_client(database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(database_url, tmp_path / "limited", ratelimit_login_per_client="2 per minute"))
    client = app.test_client()
    statuses = [client.post(LOGIN, json={"username": f"user{n}", "password": "x"}).status_code for n in range(3)]
    assert statuses == [401, 401, 429]
    app.extensions["mks_db"].engine.dispose()


def _login(client: FlaskClient, username: str, password: str) -> tuple[int, object]:
    response = client.post(LOGIN, json={"username": username, "password": password})
    return response.status_code, response.json


def test_account_locks_after_repeated_failures(database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(database_url, tmp_path / "lock", login_lockout_threshold=3))
    client = app.test_client()
    with app.app_context():
        create_user(
            service_context(),
            UserCreate(username="admin", display_name="admin", password=PASSWORDS["admin"], role="admin"),
        )  # type: ignore[arg-type]
    refused = _login(client, "nobody", "wrong")
    assert [_login(client, "admin", "wrong") for _ in range(3)] == [refused] * 3
    # Locked: the right password is refused too, with exactly the answer an unknown user gets.
    assert _login(client, "admin", PASSWORDS["admin"]) == refused
    registry = app.extensions["mks_scrape_registry"]
    assert registry.get_sample_value("mks_auth_attempts_total", {"status": "locked"}) == 1
    assert registry.get_sample_value("mks_auth_attempts_total", {"status": "failure"}) == 4
    with app.app_context():
        user = get_session().scalar(select(User).where(User.username == "admin"))
        assert user.locked_until is not None
        user.locked_until = utcnow() - timedelta(seconds=1)  # the lockout period has passed
        get_session().commit()
    assert _login(client, "admin", PASSWORDS["admin"])[0] == 200
    with app.app_context():
        user = get_session().scalar(select(User).where(User.username == "admin"))
        assert (user.failed_logins, user.locked_until) == (0, None)
    app.extensions["mks_db"].engine.dispose()


def test_password_reset_lifts_a_lockout(database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(database_url, tmp_path / "lock", login_lockout_threshold=2))
    client = app.test_client()
    with app.app_context():
        for name, role in (("admin", "admin"), ("yamada", "editor")):
            create_user(
                service_context(), UserCreate(username=name, display_name=name, password=PASSWORDS[name], role=role)
            )  # type: ignore[arg-type]
        yamada_id = get_session().scalar(select(User.id).where(User.username == "yamada"))
    token = client.post(LOGIN, json={"username": "admin", "password": PASSWORDS["admin"]}).json["access_token"]
    for _ in range(2):
        _login(client, "yamada", "wrong")
    assert _login(client, "yamada", PASSWORDS["yamada"])[0] == 401
    reset = client.patch(f"/api/v1/users/{yamada_id}", json={"password": "new-pass-123"}, headers=bearer(token))
    assert reset.status_code == 200
    assert _login(client, "yamada", "new-pass-123")[0] == 200
    app.extensions["mks_db"].engine.dispose()


def _forged(payload: dict[str, object], key: str, algorithm: str) -> str:
    return pyjwt.encode(payload, key, algorithm=algorithm)


def _claims(client: FlaskClient, auth: Auth) -> dict[str, object]:
    token = auth.tokens("yamada")["access_token"]
    return pyjwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("forge", "code"),
    [
        ("none", "token_algorithm_not_allowed"),
        ("other-key", "token_signature_invalid"),
        ("expired", "token_expired"),
        ("deleted-user", "token_user_not_found"),
    ],
)
def test_forged_and_stale_tokens_are_refused_distinctly(
    client: FlaskClient, auth: Auth, settings: Settings, forge: str, code: str
) -> None:
    claims = _claims(client, auth)
    secret = settings.jwt_secret_key or ""
    if forge == "none":
        token = _forged(claims, "", "none")
    elif forge == "other-key":
        token = _forged(claims, "another-secret-of-sufficient-length-123456", "HS256")
    elif forge == "expired":
        token = _forged({**claims, "exp": int(time.time()) - 10}, secret, "HS256")
    else:
        token = _forged({**claims, "sub": "999999"}, secret, "HS256")
    response = client.get("/api/v1/auth/me", headers=bearer(token))
    assert (response.status_code, response.json["error"]["code"]) == (401, code)


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Basic YWRtaW46YWRtaW4=", "token_missing"),
        ("Bearer", "token_invalid"),
        ("Bearer two parts", "token_invalid"),
    ],
)
def test_malformed_authorization_headers(client: FlaskClient, header: str, code: str) -> None:
    response = client.get("/api/v1/auth/me", headers={"Authorization": header})
    assert (response.status_code, response.json["error"]["code"]) == (401, code)


@pytest.mark.parametrize(
    "change",
    [
        {"sub": "abc"},
        {"sub": "0"},
        {"sub": str(2**40)},
        {"sub": 1},
        {"jti": None},
        {"type": None},
        {"exp": None},
        {"gen": "0"},
        {"gen": False},
        {"gen": 0.0},
        {"fam": 7},
        {"rjti": ["x"]},
    ],
)
def test_tokens_with_bad_claims_are_invalid(
    client: FlaskClient, auth: Auth, settings: Settings, change: dict[str, object]
) -> None:
    claims = {**_claims(client, auth), **change}
    token = _forged(
        {name: value for name, value in claims.items() if value is not None}, settings.jwt_secret_key or "", "HS256"
    )
    response = client.get("/api/v1/auth/me", headers=bearer(token))
    assert (response.status_code, response.json["error"]["code"]) == (401, "token_invalid")


def test_tokens_in_the_earlier_format_stay_valid(client: FlaskClient, auth: Auth, settings: Settings) -> None:
    # flask-jwt-extended, which issued tokens before, also wrote "fresh"; its tokens keep working.
    claims = {**_claims(client, auth), "fresh": False}
    token = _forged(claims, settings.jwt_secret_key or "", "HS256")
    response = client.get("/api/v1/auth/me", headers=bearer(token))
    assert (response.status_code, response.json["username"]) == (200, "yamada")


REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/auth/me"


def _user_id(app: Flask, username: str) -> int:
    with app.app_context():
        found = get_session().scalar(select(User.id).where(User.username == username))
    assert found is not None
    return found


def _refused(client: FlaskClient, tokens: dict[str, str]) -> list[tuple[int, str]]:
    """How the access token (on /me) and the refresh token (on /refresh) are answered."""
    answers = [client.get(ME, headers=bearer(tokens["access_token"]))]
    answers.append(client.post(REFRESH, headers=bearer(tokens["refresh_token"])))
    return [(answer.status_code, answer.json["error"]["code"]) for answer in answers]


REVOKED_PAIR = [(401, "token_revoked"), (401, "token_revoked")]


def test_password_reset_ends_every_session_of_the_user(
    client: FlaskClient, auth: Auth, admin: dict[str, str], app: Flask
) -> None:
    first, second = auth.tokens("yamada"), auth.tokens("yamada")
    refreshed = client.post(REFRESH, headers=bearer(first["refresh_token"])).json
    partner = auth.tokens("partner")
    reset = client.patch(f"/api/v1/users/{_user_id(app, 'yamada')}", json={"password": "new-pass-123"}, headers=admin)
    assert reset.status_code == 200
    for tokens in (second, refreshed):
        assert _refused(client, tokens) == REVOKED_PAIR
    # Other users keep their sessions; the new password opens a new one.
    assert client.get(ME, headers=bearer(partner["access_token"])).status_code == 200
    new = client.post(LOGIN, json={"username": "yamada", "password": "new-pass-123"}).json
    assert client.get(ME, headers=bearer(new["access_token"])).json["username"] == "yamada"
    assert client.post(REFRESH, headers=bearer(new["refresh_token"])).status_code == 200


def test_reenabling_a_user_does_not_revive_old_tokens(
    client: FlaskClient, auth: Auth, admin: dict[str, str], app: Flask
) -> None:
    tokens = auth.tokens("yamada")
    path = f"/api/v1/users/{_user_id(app, 'yamada')}"
    assert client.patch(path, json={"is_active": False}, headers=admin).status_code == 200
    assert client.patch(path, json={"is_active": True}, headers=admin).status_code == 200
    assert _refused(client, tokens) == REVOKED_PAIR
    assert auth.tokens("yamada")["access_token"]  # the account itself works again


def test_logout_revokes_every_token_of_the_login(client: FlaskClient, auth: Auth) -> None:
    login = auth.tokens("yamada")
    other_login = auth.tokens("yamada")
    refreshed = client.post(REFRESH, headers=bearer(login["refresh_token"])).json
    # Logging out with the first access token ends the tokens minted from its refresh token too.
    assert client.post("/api/v1/auth/logout", headers=bearer(login["access_token"])).status_code == 204
    assert _refused(client, refreshed) == REVOKED_PAIR
    assert client.get(ME, headers=bearer(other_login["access_token"])).status_code == 200
    assert client.post(REFRESH, headers=bearer(other_login["refresh_token"])).status_code == 200


def test_refresh_rotates_the_refresh_token(client: FlaskClient, auth: Auth) -> None:
    login = auth.tokens("yamada")
    refreshed = client.post(REFRESH, headers=bearer(login["refresh_token"]))
    assert refreshed.status_code == 200
    assert sorted(refreshed.json) == ["access_token", "expires_in", "refresh_token", "token_type"]
    assert (refreshed.json["token_type"], refreshed.json["expires_in"]) == ("Bearer", 30 * 60)
    assert refreshed.json["refresh_token"] != login["refresh_token"]
    again = client.post(REFRESH, headers=bearer(refreshed.json["refresh_token"]))
    assert again.status_code == 200
    assert client.get(ME, headers=bearer(again.json["access_token"])).json["username"] == "yamada"


def test_a_reused_refresh_token_revokes_its_whole_family(client: FlaskClient, auth: Auth) -> None:
    login = auth.tokens("yamada")
    other_login = auth.tokens("yamada")
    rotated = client.post(REFRESH, headers=bearer(login["refresh_token"])).json
    reused = client.post(REFRESH, headers=bearer(login["refresh_token"]))
    assert (reused.status_code, reused.json["error"]["code"]) == (401, "token_revoked")
    # Whoever holds the rotated pair (the thief or the owner) is logged out with it.
    assert _refused(client, rotated) == REVOKED_PAIR
    assert client.get(ME, headers=bearer(login["access_token"])).json["error"]["code"] == "token_revoked"
    assert client.get(ME, headers=bearer(other_login["access_token"])).status_code == 200


def test_tokens_issued_before_families_and_generations_stay_valid(
    client: FlaskClient, auth: Auth, settings: Settings
) -> None:
    # Tokens of the earlier releases carried no gen and fam; an access token named its refresh
    # token in rjti. They count as generation 0, and logout still ends the pair.
    secret = settings.jwt_secret_key or ""
    login = auth.tokens("yamada")
    claims = {
        kind: {
            name: value
            for name, value in pyjwt.decode(login[kind], options={"verify_signature": False}).items()
            if name not in ("gen", "fam")
        }
        for kind in ("access_token", "refresh_token")
    }
    claims["access_token"]["rjti"] = claims["refresh_token"]["jti"]
    legacy = {kind: _forged(values, secret, "HS256") for kind, values in claims.items()}
    assert client.get(ME, headers=bearer(legacy["access_token"])).json["username"] == "yamada"
    assert client.post("/api/v1/auth/logout", headers=bearer(legacy["access_token"])).status_code == 204
    assert _refused(client, legacy) == REVOKED_PAIR


def test_a_rotated_legacy_refresh_token_reused_revokes_what_it_minted(
    client: FlaskClient, auth: Auth, settings: Settings
) -> None:
    claims = pyjwt.decode(auth.tokens("yamada")["refresh_token"], options={"verify_signature": False})
    legacy = _forged(
        {name: value for name, value in claims.items() if name not in ("gen", "fam")},
        settings.jwt_secret_key or "",
        "HS256",
    )
    rotated = client.post(REFRESH, headers=bearer(legacy)).json
    assert client.get(ME, headers=bearer(rotated["access_token"])).status_code == 200
    assert client.post(REFRESH, headers=bearer(legacy)).json["error"]["code"] == "token_revoked"
    assert _refused(client, rotated) == REVOKED_PAIR


def _revocations(app: Flask) -> set[str]:
    with app.app_context():
        return set(get_session().scalars(select(RevokedToken.jti)))


def _revoke_directly(app: Flask, jti: str, expires_in: timedelta) -> None:
    revocation = RevokedToken(jti=jti, user_id=_user_id(app, "admin"), expires_at=utcnow() + expires_in)
    with app.app_context():
        get_session().add(revocation)
        get_session().commit()


def test_logout_purges_expired_revocations_at_most_once_a_minute(client: FlaskClient, auth: Auth, app: Flask) -> None:
    _revoke_directly(app, "expired-1", timedelta(seconds=-1))
    _revoke_directly(app, "live-1", timedelta(hours=1))
    first = auth.tokens("yamada")
    assert client.post("/api/v1/auth/logout", headers=bearer(first["access_token"])).status_code == 204
    family = pyjwt.decode(first["access_token"], options={"verify_signature": False})["fam"]
    assert _revocations(app) == {"live-1", family}
    # Within the minute the next logout leaves the purge to later.
    _revoke_directly(app, "expired-2", timedelta(seconds=-1))
    second = auth.tokens("yamada")
    assert client.post("/api/v1/auth/logout", headers=bearer(second["access_token"])).status_code == 204
    second_family = pyjwt.decode(second["access_token"], options={"verify_signature": False})["fam"]
    assert _revocations(app) == {"live-1", family, "expired-2", second_family}


def test_the_token_generation_migration_keeps_users_and_their_sessions(
    app: Flask, client: FlaskClient, auth: Auth
) -> None:
    tokens = auth.tokens("yamada")
    engine = app.extensions["mks_db"].engine
    engine.dispose()
    migrate.downgrade(engine, "0004")
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM users")) == 4
    migrate.upgrade(engine)
    with app.app_context():
        generations = {user.username: user.token_generation for user in get_session().scalars(select(User))}
    assert generations == {"admin": 0, "kimura": 0, "yamada": 0, "partner": 0}
    assert client.get(ME, headers=bearer(tokens["access_token"])).json["username"] == "yamada"
    assert client.post(REFRESH, headers=bearer(tokens["refresh_token"])).status_code == 200
