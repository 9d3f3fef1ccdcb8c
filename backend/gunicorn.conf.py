"""gunicorn settings for production serving: `mks serve` or `gunicorn -c gunicorn.conf.py mks.wsgi:app`.

Every value comes from mks.config.Settings (MKS_* variables). Metrics of all workers are summed
through PROMETHEUS_MULTIPROC_DIR. prometheus_client decides at import time whether it runs in
multiprocess mode, so the variable is set here from the settings' instance folder, after importing
mks.config (which does not import prometheus_client) and before anything that does; the directory
is emptied when the master starts, and a dead worker's files are folded into one archive per type
(see mks.multiprocess) so restarts do not pile up files.
"""

import gc
import os
import shutil
from pathlib import Path

from mks.config import Settings

_settings = Settings()
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_settings.instance_path.resolve() / "prometheus-multiproc"))

# Imported only now: they import prometheus_client, which must see PROMETHEUS_MULTIPROC_DIR.
from mks.http_security import MAX_HEADER_FIELD  # noqa: E402
from mks.multiprocess import archive_dead_worker  # noqa: E402
from mks.startup import prepare, show_progress  # noqa: E402

bind = f"{_settings.bind_host}:{_settings.port}"
workers = _settings.worker_count
# Two threads by default: a request waiting on a hung database holds one (at most the pool, keepalive
# and statement bounds) while the other answers /health. More threads add no CPU to a worker, only
# requests contending for its GIL: 7 threads doubled the detail and list p99 (docs/benchmarks.md).
worker_class = "gthread"
threads = _settings.threads
# A gthread worker accepts every connection it can while its threads are busy, and a kept-alive connection
# stays with the worker that took it: under 8 kept-alive connections, one of 2 workers took them all and
# the other idled (half the CPU, twice the latency; docs/benchmarks.md). A worker holding no more
# connections than it has threads leaves the next one to a worker with a free thread, as sync workers
# do; without spare connection slots gunicorn keeps none alive, so it is told so (no start-up warning).
worker_connections = threads
keepalive = 0
timeout = _settings.worker_timeout
graceful_timeout = 20
# The app logs each request itself, with its id, route template and user (mks.logs): no second access log.
accesslog = None
errorlog = "-"
# Above the app's own limits (mks.http_security), so that the app answers an over-long request target or
# header field with the JSON envelope (414/431); gunicorn's HTML page is left for what exceeds these.
limit_request_line = 8190  # gunicorn's maximum, twice MAX_REQUEST_TARGET
limit_request_field_size = 2 * MAX_HEADER_FIELD
# X-Forwarded-Proto is believed from the same proxies as X-Forwarded-For in the app (MKS_TRUSTED_PROXIES).
forwarded_allow_ips = ",".join(_settings.trusted_proxies)
# The default control socket (~/.gunicorn/gunicorn.ctl) is shared by every gunicorn of the user, and
# the first one to exit removes it under the others: each instance keeps its own in its folder.
control_socket = str(_settings.instance_path.resolve() / "gunicorn.ctl")


def on_starting(server):
    """Empty the metrics directory, then run the start-up step once, before workers fork.

    Workers build the app without the database (mks.wsgi), so the master is the one place that
    writes the development JWT secret, migrates, checks and seeds. It waits up to
    MKS_STARTUP_WAIT_SECONDS for an unreachable database, then refuses to start (exit 1,
    "Error: ..."), since it cannot know the schema is current: the service manager's restart
    policy retries later.
    """
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    show_progress(*server.log.error_log.handlers)
    prepare(_settings)


def post_worker_init(_worker):
    """Move everything the worker built to load the app out of the collector's reach.

    A full collection walks every tracked object: with the app loaded (140,000 objects) it took 40-56 ms
    inside a request, about one search in a hundred, the searches' p95 (docs/benchmarks.md). What is
    frozen is never collected: the app lives as long as the worker anyway.
    """
    gc.freeze()


def child_exit(_server, worker):
    """Drop a dead worker's live gauges; keep its counts in the archive, not in files of its own."""
    archive_dead_worker(worker.pid, Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
