"""gunicorn settings for production serving: `mks serve` or `gunicorn -c gunicorn.conf.py mks.wsgi:app`."""

import multiprocessing
import os

from mks.app import create_app
from mks.config import Settings

_settings = Settings()

bind = f"{_settings.host}:{_settings.port}"
workers = int(os.environ.get("MKS_WORKERS", 2 * multiprocessing.cpu_count() + 1))
worker_class = "sync"
timeout = int(os.environ.get("MKS_WORKER_TIMEOUT", 30))
graceful_timeout = 20
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("MKS_FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(_server):
    """Migrate and check the database once in the master, before workers race to do it."""
    create_app(_settings)
