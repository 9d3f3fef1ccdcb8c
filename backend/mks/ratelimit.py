"""Rate limits: a default limit on the API, strict limits on login (per client and per username), and a
budget of expensive reads per user."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from flask import Flask, current_app, g, request
from flask_limiter import Limiter, RouteLimit
from flask_limiter.util import get_remote_address
from limits.errors import StorageError
from limits.storage import MemoryStorage
from pydantic import TypeAdapter, ValidationError

from .config import Settings
from .errors import ApiError
from .instrumentation import count_rate_limit_storage_error
from .schemas.auth import LoginName
from .tokens import ACCESS, verify_request

log = logging.getLogger(__name__)


class FailOpenLimiter(Limiter):
    """A limiter that lets requests through while its counter storage (Redis) fails, counting each one.

    The counters guard against floods; they hold no data of their own. Failing open keeps the API
    up through a Redis outage, while the account lockout (in the database) still bounds password
    guessing; the outage shows in mks_rate_limit_storage_errors_total, the log and /ready.
    """

    # Flask-Limiter has no public hook around the storage call: this wraps its private one (4.1, pinned).
    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        if g.get("mks_rate_limit_failed_open"):
            return  # one failure per request: the route's own limits would wait on the storage again
        try:
            super()._check_request_limit(callable_name, in_middleware)
        except StorageError as exc:
            g.mks_rate_limit_failed_open = True
            log.warning("rate-limit storage unavailable, request let through without limits: %s", exc.storage_error)
            count_rate_limit_storage_error()


limiter = FailOpenLimiter(key_func=get_remote_address)


class InlineExpiryMemoryStorage(MemoryStorage):
    """limits' in-process storage, expiring old counters inline at most once a second.

    Its parent starts a timer thread of 10 ms to expire counters on every hit that finds the
    previous one finished: under steady load, one thread start per request, a tenth of a cheap
    request's time. Counters still expire on time: a read of an expired counter discards it.
    """

    STORAGE_SCHEME = ["mks-memory"]  # noqa: RUF012 - the registry of limits reads this class attribute
    EXPIRY_INTERVAL_SECONDS = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._next_expiry = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:
        """Replaces the parent's private timer start (name-mangled, so it is this name that it calls)."""
        now = time.monotonic()
        if now >= self._next_expiry:
            self._next_expiry = now + self.EXPIRY_INTERVAL_SECONDS
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


def _settings() -> Settings:
    settings: Settings = current_app.extensions["mks_settings"]
    return settings


_LOGIN_NAME = TypeAdapter(LoginName)


def _valid_login_name() -> str | None:
    # The key is built before the view validates the body: only a name the view would accept may
    # become a key, so no input can make the key itself fail (deep nesting, lone surrogates) or huge.
    try:
        # The API sends JSON; the sign-in page, a form.
        payload = request.get_json(silent=True) if request.is_json else request.form
        return _LOGIN_NAME.validate_python(payload.get("username")) if isinstance(payload, dict) else None
    except (RecursionError, ValidationError):
        return None


def login_username_key() -> str:
    """Rate-limit key of a login attempt: the username it tries, so one account resists many clients."""
    username = _valid_login_name()
    return f"user:{username.casefold()}" if username else f"client:{get_remote_address()}"


login_per_client = limiter.limit(lambda: _settings().ratelimit_login_per_client)
login_per_username = limiter.limit(lambda: _settings().ratelimit_login_per_username, key_func=login_username_key)


def user_or_client_key() -> str:
    """Rate-limit key of an authenticated route: the user of a verified access token, else the client.

    One user's budget is the same from every address, and users behind one proxy address do not
    share theirs. Only a token signed here names a user, so made-up keys cannot spread requests.
    """
    try:
        claims = verify_request(ACCESS)
    except ApiError:
        return f"client:{get_remote_address()}"
    return f"user:{claims['sub']}"


def search_limit(exempt_when: Callable[[], bool] | None = None) -> RouteLimit:
    """The budget of expensive reads (MKS_RATELIMIT_SEARCH), shared by every route it decorates, per user.

    It comes on top of the default limit, which still applies.
    """
    return limiter.shared_limit(
        lambda: _settings().ratelimit_search,
        scope="search",
        key_func=user_or_client_key,
        exempt_when=exempt_when,
        override_defaults=False,
    )


def _is_not_api() -> bool:
    return not request.path.startswith("/api/")


def init_app(app: Flask, settings: Settings) -> None:
    """Bind the limiter with the configured storage (memory by default, Redis by URI)."""
    storage_uri = settings.ratelimit_storage_uri
    # Storage failures raise limits' StorageError, which FailOpenLimiter catches and counts.
    storage_options: dict[str, object] = {"wrap_exceptions": True}
    if storage_uri.startswith("memory://"):
        storage_uri = "mks-memory://"
    elif storage_uri.startswith("redis"):  # a hung Redis delays each request by at most these bounds
        timeout = settings.ratelimit_storage_timeout_seconds
        storage_options.update(socket_connect_timeout=timeout, socket_timeout=timeout)
    app.config.update(
        RATELIMIT_STORAGE_URI=storage_uri,
        RATELIMIT_STORAGE_OPTIONS=storage_options,
        RATELIMIT_DEFAULT=settings.ratelimit_default,
        RATELIMIT_DEFAULTS_EXEMPT_WHEN=_is_not_api,
        RATELIMIT_HEADERS_ENABLED=True,
        RATELIMIT_KEY_PREFIX=settings.ratelimit_key_prefix,
    )
    # The limiter is one object per process and keeps the first app's key prefix: each app's must win.
    limiter._key_prefix = settings.ratelimit_key_prefix
    limiter.init_app(app)


def storage_available() -> bool:
    """Whether the rate-limit counter storage answers now (always, for the in-process memory storage)."""
    return bool(limiter.storage.check())
