"""A private PostgreSQL server on a free loopback port: the benchmarks' own, and the exporter tests'.

The benchmarks run PostgreSQL as docs/scaling.md recommends for MKS, with shared_buffers a quarter
of the memory, not the server the machine happens to have: with the default 128 MB the search
structures live in the kernel's page cache, which these virtual machines trim while memory is free,
and which the naive LIKE scans of the baseline refill with the knowledge table. The first search
after them then read its pages again (杭's search page at 100,000 entries, first after the scans of
each round: p50 33.2 ms, against 22.9 ms with 4 GB of shared buffers; the other queries moved by
at most 6 ms, either way). PostgreSQL's scans of a large table go through a small ring of
buffers and leave shared buffers as they were.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from .harness import free_port

TIMEOUT = 60


def server_bin() -> Path | None:
    """The bin folder of the newest PostgreSQL server installed (Debian keeps initdb and pg_ctl off PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    return found[-1].parent if found else None


def as_postgres(command: list[str]) -> list[str]:
    """The command as the postgres user under root (initdb and the server refuse root), as is otherwise."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def recommended_settings() -> dict[str, str]:
    """The server settings docs/scaling.md recommends: shared_buffers a quarter of the memory."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"shared_buffers": f"{memory // 4 // 2**20}MB"}


@dataclass(frozen=True)
class Cluster:
    port: int
    folder: Path  # holds the data folder and server.log
    bin_dir: Path

    @property
    def admin_url(self) -> str:
        """The SQLAlchemy URL of the postgres database, as the postgres user (trust)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def connect(self) -> psycopg.Connection[Any]:
        """A new connection to the postgres database as postgres, in autocommit mode."""
        return psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True)

    def pg_ctl(self, *arguments: str, check: bool = True) -> None:
        data, log = self.folder / "data", self.folder / "server.log"
        command = [str(self.bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), *arguments]
        subprocess.run(as_postgres(command), check=check, capture_output=True, timeout=TIMEOUT)

    def stop(self) -> None:
        """Stop the server now (fast shutdown); stopping a stopped one does nothing."""
        self.pg_ctl("-m", "fast", "stop", check=False)


@contextmanager
def private_cluster(settings: Mapping[str, str], prefix: str = "mks-pg-") -> Iterator[Cluster]:
    """A new cluster (UTF-8, trust for postgres) with ``settings`` on the command line, removed afterwards."""
    bin_dir = server_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL's initdb not found under /usr/lib/postgresql (Debian package postgresql)")
    folder = Path(tempfile.mkdtemp(prefix=prefix))  # not inside a root-only folder: the server runs as postgres
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    cluster = Cluster(free_port(), folder, bin_dir)
    initdb = [str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
    options = [f"-p {cluster.port} -k {folder} -c listen_addresses=127.0.0.1"]
    options += [f"-c {name}={value}" for name, value in settings.items()]
    try:
        subprocess.run(as_postgres([*initdb, "--no-sync"]), check=True, capture_output=True, timeout=TIMEOUT)
        cluster.pg_ctl("-o", " ".join(options), "-w", "start")
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def benchmark_server() -> Iterator[str]:
    """The URL of the postgres database of the server the benchmarks use: MKS_BENCH_POSTGRES_URL's, as it
    is configured, else a private cluster with the recommended settings for the run."""
    given = os.environ.get("MKS_BENCH_POSTGRES_URL")
    if given:
        yield given
        return
    with private_cluster(recommended_settings(), prefix="mks-bench-pg-") as cluster:
        yield cluster.admin_url
