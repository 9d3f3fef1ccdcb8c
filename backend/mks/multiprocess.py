"""Metric files of gunicorn workers: scraped under a shared lock, dead workers folded into one archive.

prometheus_client writes each worker's counters and histograms to ``<type>_<pid>.db`` and keeps a
dead worker's files (its counts must not vanish: a counter that goes back looks like a reset).
Left alone, every worker restart adds files that every scrape reads, so scrapes slow down for as
long as the master lives. Instead, when a worker exits, the master adds its values into
``<type>_archive.db`` (one per type, holding one series per label set ever seen) and deletes its
files: the directory then holds the live workers' files plus at most one archive per type.

A scrape must see a dead worker's counts exactly once, never twice (archive already rewritten,
dead file not yet deleted) nor zero times (dead file deleted after being left out of a listing).
So the scrape lists and reads the files under a shared ``flock`` on a lock file in the directory,
and the master merges under an exclusive one.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict

# No ".db" suffix: the collector reads every *.db file of the directory.
LOCK_FILE = "archive.lock"
ARCHIVE_PID = "archive"
# The types whose values add up across processes. Gauges are left out: ours are all live*
# gauges, whose dead files mark_process_dead deletes.
SUMMED_TYPES = ("counter", "histogram", "summary")


@contextmanager
def _locked(directory: Path, operation: int) -> Iterator[None]:
    descriptor = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, operation)
        yield
    finally:
        os.close(descriptor)  # releases the lock


class LockedMultiProcessCollector(multiprocess.MultiProcessCollector):
    """MultiProcessCollector that lists and reads the files while no dead worker is being archived."""

    def __init__(self, registry: CollectorRegistry | None, path: str) -> None:
        super().__init__(registry, path=path)  # type: ignore[no-untyped-call]
        self._directory = Path(path)

    def collect(self) -> list[Metric]:
        with _locked(self._directory, fcntl.LOCK_SH):
            files = [str(path) for path in self._directory.glob("*.db") if _has_values(path)]
            return list(self.merge(files, accumulate=True))  # type: ignore[no-untyped-call]


def _has_values(path: Path) -> bool:
    """False for a file a starting worker has created but not yet sized (prometheus_client opens it
    first and truncates it to its capacity next): it holds nothing, and reading it would fail."""
    try:
        return path.stat().st_size > 0
    except FileNotFoundError:
        return False


def _read(path: Path) -> Iterator[tuple[str, float]]:
    if not _has_values(path):
        return
    entries = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
    for key, value, _timestamp, _position in entries:
        yield key, value


def _archive(directory: Path, metric_type: str, dead: Path) -> None:
    """Rewrite the type's archive as archive + dead file, swap it in, delete the dead file."""
    if not _has_values(dead):  # died before its file was sized: nothing to keep
        dead.unlink()
        return
    archive = directory / f"{metric_type}_{ARCHIVE_PID}.db"
    totals: dict[str, float] = {}
    for source in (archive, dead):
        if source.exists():
            for key, value in _read(source):
                totals[key] = totals.get(key, 0.0) + value
    staging = directory / f"{metric_type}_{ARCHIVE_PID}.staging"
    staging.unlink(missing_ok=True)
    values = MmapedDict(str(staging))  # type: ignore[no-untyped-call]
    try:
        for key, value in totals.items():
            values.write_value(key, value, 0.0)  # type: ignore[no-untyped-call]
    finally:
        values.close()  # type: ignore[no-untyped-call]
    os.replace(staging, archive)
    dead.unlink()


def archive_dead_worker(pid: int, directory: Path) -> None:
    """After a worker exited: drop its live gauges and add its counters/histograms/summaries to the archive.

    Call it from gunicorn's ``child_exit`` only (the worker must be dead: its files are read once
    and deleted). Holds the directory's exclusive lock, so a concurrent scrape waits and then sees
    the worker's counts exactly once.
    """
    with _locked(directory, fcntl.LOCK_EX):
        multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]
        for metric_type in SUMMED_TYPES:
            dead = directory / f"{metric_type}_{pid}.db"
            if dead.exists():
                _archive(directory, metric_type, dead)
