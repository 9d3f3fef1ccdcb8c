"""Dead workers' metric files folded into one archive per type: exact totals, bounded file count, locking."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Summary, multiprocess, values

from mks.metrics import Metrics
from mks.multiprocess import LOCK_FILE, LockedMultiProcessCollector, archive_dead_worker

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
# Observations that are exact in binary, so sums are exact whatever order they are added in.
DURATIONS = (0.0009765625, 0.0078125, 0.03125, 0.5, 4.0, 16.0)


@pytest.fixture
def directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "multiproc"
    path.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    return path


@pytest.fixture
def worker(directory: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[int, int], None]:
    """Write the files a gunicorn worker with this pid would leave after serving `load` rounds of traffic."""

    def serve(pid: int, load: int) -> None:
        monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue(lambda: pid))
        metrics = Metrics(None)
        latency = Summary("mks_test_latency_seconds", "test summary", ["route"], registry=None)
        for round_number in range(load):
            status = "200" if round_number % 3 else "404"
            metrics.http_requests.labels(
                method="GET", endpoint="/api/v1/knowledge/<id:knowledge_id>", status=status
            ).inc()
            metrics.http_requests.labels(method="POST", endpoint="/api/v1/knowledge", status="201").inc(2)
            duration = DURATIONS[(pid + round_number) % len(DURATIONS)]
            metrics.http_request_duration.labels(method="GET", endpoint="/health").observe(duration)
            metrics.database_query_duration.labels(operation="select").observe(duration / 2)
            latency.labels(route=f"r{round_number % 2}").observe(duration)
        metrics.http_requests_in_progress.inc()
        metrics.database_connections.inc(pid % 3)
        values.close_all_multiprocess_files()

    return serve


def scrape(directory: Path) -> Samples:
    registry = CollectorRegistry()
    LockedMultiProcessCollector(registry, path=str(directory))
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def without_live_gauges(samples: Samples) -> Samples:
    live = ("mks_http_requests_in_progress", "mks_database_connections", "mks_start_time_seconds")
    return {key: value for key, value in samples.items() if key[0] not in live}


def file_names(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir()}


def live_files(pid: int) -> set[str]:
    summed = {f"{kind}_{pid}.db" for kind in ("counter", "histogram", "summary")}
    return summed | {f"gauge_livesum_{pid}.db", f"gauge_livemin_{pid}.db"}


POST_201 = key("mks_http_requests_total", endpoint="/api/v1/knowledge", method="POST", status="201")
ARCHIVES = {"counter_archive.db", "histogram_archive.db", "summary_archive.db", LOCK_FILE}


def test_archiving_dead_workers_keeps_every_count_exactly(directory: Path, worker: Callable[[int, int], None]) -> None:
    for pid, load in ((101, 7), (102, 11), (103, 5), (104, 13)):
        worker(pid, load)
    before = scrape(directory)
    for pid in (101, 102, 103):
        archive_dead_worker(pid, directory)
    after = scrape(directory)

    assert without_live_gauges(after) == without_live_gauges(before)
    detail = "/api/v1/knowledge/<id:knowledge_id>"
    assert after[key("mks_http_requests_total", endpoint=detail, method="GET", status="200")] == 4 + 7 + 3 + 8
    assert after[key("mks_http_requests_total", endpoint=detail, method="GET", status="404")] == 3 + 4 + 2 + 5
    assert after[POST_201] == 2 * 36
    assert after[key("mks_http_request_duration_seconds_count", endpoint="/health", method="GET")] == 36
    assert after[key("mks_http_request_duration_seconds_bucket", endpoint="/health", method="GET", le="+Inf")] == 36
    assert after[key("mks_test_latency_seconds_count", route="r0")] == 4 + 6 + 3 + 7
    # Live gauges count the live worker only.
    assert after[key("mks_http_requests_in_progress")] == 1
    assert after[key("mks_database_connections")] == 104 % 3
    assert file_names(directory) == live_files(104) | ARCHIVES


def test_archive_stays_one_file_per_type_over_many_restarts(
    directory: Path, worker: Callable[[int, int], None]
) -> None:
    worker(200, 3)
    expected: Samples = {}
    for pid in range(300, 320):
        worker(pid, pid % 5 + 1)
        expected = without_live_gauges(scrape(directory))
        archive_dead_worker(pid, directory)
        assert file_names(directory) == live_files(200) | ARCHIVES
    assert without_live_gauges(scrape(directory)) == expected
    assert expected[POST_201] == 2 * (3 + sum(pid % 5 + 1 for pid in range(300, 320)))


def test_histogram_buckets_sum_and_count_are_preserved(directory: Path, worker: Callable[[int, int], None]) -> None:
    worker(401, 17)
    worker(402, 9)
    before = scrape(directory)
    archive_dead_worker(401, directory)
    archive_dead_worker(402, directory)
    after = scrape(directory)
    histogram = {key: value for key, value in before.items() if key[0].startswith("mks_http_request_duration")}
    assert histogram and {key: after[key] for key in histogram} == histogram
    observed = [DURATIONS[(pid + n) % len(DURATIONS)] for pid, load in ((401, 17), (402, 9)) for n in range(load)]
    health = {"endpoint": "/health", "method": "GET"}
    assert after[key("mks_http_request_duration_seconds_sum", **health)] == sum(observed)
    assert after[key("mks_http_request_duration_seconds_count", **health)] == 17 + 9
    for bound in ("0.005", "0.5", "5.0"):
        expected = sum(1 for duration in observed if duration <= float(bound))
        assert after[key("mks_http_request_duration_seconds_bucket", le=bound, **health)] == expected
    assert file_names(directory) == ARCHIVES


def test_worker_without_files_and_repeated_calls_change_nothing(
    directory: Path, worker: Callable[[int, int], None]
) -> None:
    worker(501, 4)
    archive_dead_worker(501, directory)
    before = scrape(directory)
    archive_dead_worker(501, directory)
    archive_dead_worker(999, directory)
    assert scrape(directory) == before
    assert file_names(directory) == ARCHIVES


def test_dead_workers_gauges_are_all_live_modes(directory: Path, worker: Callable[[int, int], None]) -> None:
    worker(601, 2)
    assert {path.name for path in directory.glob("gauge_*")} == {"gauge_livesum_601.db", "gauge_livemin_601.db"}
    multiprocess.mark_process_dead(601, str(directory))  # type: ignore[no-untyped-call]
    assert not list(directory.glob("gauge_*"))


def test_scrape_reads_under_the_lock_the_archiver_needs(
    directory: Path, worker: Callable[[int, int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    worker(701, 3)
    merge = multiprocess.MultiProcessCollector.merge
    attempts: list[bool] = []

    def merge_while_archiver_tries(files: list[str], accumulate: bool = True) -> object:
        descriptor = os.open(directory / LOCK_FILE, os.O_RDWR)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            attempts.append(True)
        except BlockingIOError:
            attempts.append(False)
        finally:
            os.close(descriptor)
        return merge(files, accumulate)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(multiprocess.MultiProcessCollector, "merge", staticmethod(merge_while_archiver_tries))
    scrape(directory)
    assert attempts == [False]


def test_a_file_being_created_is_skipped_by_scrapes_and_archiving(
    directory: Path, worker: Callable[[int, int], None]
) -> None:
    worker(801, 5)
    before = scrape(directory)
    # prometheus_client creates a worker's file empty, then sizes it: a scrape can fall in between.
    (directory / "counter_802.db").touch()
    (directory / "histogram_803.db").touch()
    assert scrape(directory) == before
    archive_dead_worker(803, directory)
    assert scrape(directory) == before
    assert file_names(directory) == live_files(801) | {"counter_802.db", LOCK_FILE}
