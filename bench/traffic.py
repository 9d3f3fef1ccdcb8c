"""Traffic over every route of the API with the statuses each typically answers, for realistic label sets.

One pass sends, for every route in backend/mks/routes/*.py (and the app's own /api/openapi.json),
each method it serves with requests provoking its usual answers: 200/201/204 and 400, 401, 403,
404, 405, 409, 415, 422. Every answer is checked, so a pass that runs means the series exist.
A pass creates its own entry, category and user, so passes can run concurrently and repeatedly.
"""

from __future__ import annotations

import itertools
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from prometheus_client.mmap_dict import MmapedDict

from .server import BENCH_PASSWORD, BENCH_USER, Server
from .serving import LIST_CATEGORY, list_path, search_path

# (method, route template, status): the label set of mks_http_requests_total one request adds.
Series = tuple[str, str, str]
KNOWLEDGE = "/api/v1/knowledge"
ENTRY = "/api/v1/knowledge/<id:knowledge_id>"
USER = "/api/v1/users/<id:user_id>"
MISSING_ID = 2_000_000_000
VIEWER_PASSWORD = "bench-viewer-password-1"  # a throwaway account of a throwaway database
_names = itertools.count()
_names_lock = threading.Lock()


class UnexpectedStatus(RuntimeError):
    """A request of the script got another status than the one it provokes."""


class RouteTraffic:
    """Sends the script against one server as the bench admin and a viewer it creates."""

    def __init__(self, server: Server) -> None:
        self.base_url = server.base_url
        self.admin = {"Authorization": f"Bearer {server.token}"}
        self.sent: set[Series] = set()
        self._lock = threading.Lock()
        self._http = threading.local()
        name = f"bench-viewer-{_unique()}"
        self.call("POST", "/api/v1/users", "/api/v1/users", 201, self.admin, json=_new_user(name, "viewer"))
        login = {"username": name, "password": VIEWER_PASSWORD}
        tokens = self.call("POST", "/api/v1/auth/login", "/api/v1/auth/login", 200, json=login)
        self.viewer = {"Authorization": f"Bearer {tokens['access_token']}"}

    def _session(self) -> requests.Session:
        if not hasattr(self._http, "session"):
            self._http.session = requests.Session()
        session: requests.Session = self._http.session
        return session

    def call(
        self,
        method: str,
        path: str,
        endpoint: str,
        status: int,
        headers: dict[str, str] | None = None,
        **body: Any,
    ) -> Any:
        """Send one request; raise unless it answers ``status``; return its JSON body (or None)."""
        response = self._session().request(method, self.base_url + path, headers=headers, timeout=60, **body)
        if response.status_code != status:
            raise UnexpectedStatus(
                f"{method} {path}: {response.status_code} (expected {status}): {response.text[:300]}"
            )
        with self._lock:
            self.sent.add((method, endpoint, str(status)))
        if response.headers.get("Content-Type", "").startswith("application/json"):
            return response.json()
        return None

    def once(self) -> None:
        """One pass over every route."""
        self._probes()
        self._auth()
        entry = self._knowledge()
        self._admin(entry)

    def _probes(self) -> None:
        for path in ("/health", "/ready", "/metrics", "/api/openapi.json"):
            self.call("GET", path, path, 200)
        self.call("GET", "/api/metrics/summary", "/api/metrics/summary", 200, self.admin)
        self.call("GET", "/api/metrics/summary", "/api/metrics/summary", 403, self.viewer)
        self.call("GET", "/no/such/page", "<unmatched>", 404)
        self.call("DELETE", "/health", "<unmatched>", 405)

    def _auth(self) -> None:
        login = "/api/v1/auth/login"
        tokens = self.call("POST", login, login, 200, json={"username": BENCH_USER, "password": BENCH_PASSWORD})
        self.call("POST", login, login, 401, json={"username": "bench-nobody", "password": "wrong-password"})
        self.call("POST", login, login, 422, json={"username": BENCH_USER})
        self.call("POST", login, login, 400, {"Content-Type": "application/json"}, data="{")
        self.call("POST", login, login, 415, data="username=x")
        refresh = "/api/v1/auth/refresh"
        self.call("POST", refresh, refresh, 200, {"Authorization": f"Bearer {tokens['refresh_token']}"})
        self.call("POST", refresh, refresh, 401)
        me = "/api/v1/auth/me"
        self.call("GET", me, me, 200, self.admin)
        self.call("GET", me, me, 401)
        logout = "/api/v1/auth/logout"
        self.call("POST", logout, logout, 204, {"Authorization": f"Bearer {tokens['access_token']}"})
        self.call("POST", logout, logout, 401)

    def _knowledge(self) -> int:
        admin, viewer = self.admin, self.viewer
        self.call("GET", list_path(category=LIST_CATEGORY), KNOWLEDGE, 200, admin)
        self.call("GET", f"{KNOWLEDGE}?limit=0", KNOWLEDGE, 422, admin)
        self.call("GET", KNOWLEDGE, KNOWLEDGE, 401)
        body = {"title": f"ベンチマーク {_unique()}", "category": LIST_CATEGORY, "tags": ["ベンチ"]}
        entry = int(self.call("POST", KNOWLEDGE, KNOWLEDGE, 201, admin, json=body)["id"])
        self.call("POST", KNOWLEDGE, KNOWLEDGE, 422, admin, json={"category": LIST_CATEGORY})
        self.call("POST", KNOWLEDGE, KNOWLEDGE, 403, viewer, json=body)
        self.call("POST", KNOWLEDGE, KNOWLEDGE, 400, {**admin, "Content-Type": "application/json"}, data="{")
        search = f"{KNOWLEDGE}/search"
        self.call("GET", search_path(), search, 200, admin)
        self.call("GET", f"{search}?q=", search, 422, admin)
        self.call("GET", f"{KNOWLEDGE}/tags", f"{KNOWLEDGE}/tags", 200, admin)
        self.call("GET", f"{KNOWLEDGE}/{entry}", ENTRY, 200, admin)
        self.call("GET", f"{KNOWLEDGE}/{MISSING_ID}", ENTRY, 404, admin)
        self.call("PUT", f"{KNOWLEDGE}/{entry}", ENTRY, 200, admin, json={"summary": "更新", "version": 1})
        self.call("PUT", f"{KNOWLEDGE}/{entry}", ENTRY, 409, admin, json={"summary": "競合", "version": 1})
        self.call("PUT", f"{KNOWLEDGE}/{entry}", ENTRY, 422, admin, json={"version": 0})
        self.call("PUT", f"{KNOWLEDGE}/{entry}", ENTRY, 403, viewer, json={"summary": "閲覧者"})
        self.call("PUT", f"{KNOWLEDGE}/{MISSING_ID}", ENTRY, 404, admin, json={"summary": "なし"})
        revisions, revision = f"{ENTRY}/revisions", f"{ENTRY}/revisions/<id:revision>"
        self.call("GET", f"{KNOWLEDGE}/{entry}/revisions", revisions, 200, admin)
        self.call("GET", f"{KNOWLEDGE}/{MISSING_ID}/revisions", revisions, 404, admin)
        self.call("GET", f"{KNOWLEDGE}/{entry}/revisions/1", revision, 200, admin)
        self.call("GET", f"{KNOWLEDGE}/{entry}/revisions/99", revision, 404, admin)
        self.call("DELETE", f"{KNOWLEDGE}/{entry}", ENTRY, 403, viewer)
        return entry

    def _admin(self, entry: int) -> None:
        admin, viewer = self.admin, self.viewer
        self.call("DELETE", f"{KNOWLEDGE}/{entry}", ENTRY, 204, admin)
        # Not the entry just deleted: SQLite hands its id to the next entry another thread creates.
        self.call("DELETE", f"{KNOWLEDGE}/{MISSING_ID}", ENTRY, 404, admin)
        categories = "/api/v1/categories"
        name = {"name": f"分類{_unique()}"}
        self.call("GET", categories, categories, 200, viewer)
        self.call("POST", categories, categories, 201, admin, json=name)
        self.call("POST", categories, categories, 409, admin, json=name)
        self.call("POST", categories, categories, 422, admin, json={})
        self.call("POST", categories, categories, 403, viewer, json={"name": "閲覧者の分類"})
        users = "/api/v1/users"
        account = _new_user(f"bench-user-{_unique()}", "editor")
        self.call("GET", users, users, 200, admin)
        self.call("GET", users, users, 403, viewer)
        created = int(self.call("POST", users, users, 201, admin, json=account)["id"])
        self.call("POST", users, users, 409, admin, json=account)
        self.call("POST", users, users, 422, admin, json={"username": "x"})
        self.call("GET", f"{users}/{created}", USER, 200, admin)
        self.call("GET", f"{users}/{MISSING_ID}", USER, 404, admin)
        self.call("PATCH", f"{users}/{created}", USER, 200, admin, json={"display_name": "改名"})
        self.call("PATCH", f"{users}/{MISSING_ID}", USER, 404, admin, json={"display_name": "なし"})
        self.call("PATCH", f"{users}/{created}", USER, 422, admin, json={"role": "owner"})
        audit = "/api/v1/audit"
        self.call("GET", audit, audit, 200, admin)
        self.call("GET", f"{audit}?limit=0", audit, 422, admin)
        self.call("GET", audit, audit, 403, viewer)


def _unique() -> int:
    with _names_lock:
        return next(_names)


def _new_user(username: str, role: str) -> dict[str, str]:
    return {"username": username, "display_name": username, "password": VIEWER_PASSWORD, "role": role}


def http_series_by_worker(directory: Path) -> dict[str, set[Series]]:
    """The mks_http_requests_total label sets in each worker's counter file (by pid)."""
    found: dict[str, set[Series]] = {}
    for path in directory.glob("counter_[0-9]*.db"):
        series = found.setdefault(path.stem.rsplit("_", 1)[1], set())
        entries = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
        for key, _value, _timestamp, _position in entries:
            _metric, name, labels, _help = json.loads(key)
            if name == "mks_http_requests_total":
                series.add((labels["method"], labels["endpoint"], labels["status"]))
    return found


def drive(traffic: RouteTraffic, *, passes: int, threads: int = 1) -> None:
    """Run ``passes`` passes of the script, ``threads`` at a time."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(traffic.once) for _ in range(passes)]:
            future.result()


def drive_every_worker(server: Server, traffic: RouteTraffic, *, max_passes: int = 400) -> int:
    """Repeat the script, as many at a time as there are workers, until every live worker's files hold
    every series the script produces. Returns the number of passes; raises if max_passes do not do it."""
    assert server.multiprocess_dir is not None
    workers = len(server.worker_pids())
    passes = 0
    while passes < max_passes:
        drive(traffic, passes=workers, threads=workers)
        passes += workers
        live = {str(pid) for pid in server.worker_pids()}
        held = http_series_by_worker(server.multiprocess_dir)
        if all(traffic.sent <= held.get(pid, set()) for pid in live):
            return passes
    raise RuntimeError(f"{max_passes} passes did not reach every worker with every series")
