#!/usr/bin/env python3
"""The systemd units of the native monitoring stack: Prometheus, Alertmanager and the exporters MKS_EXPORTERS lists.

    python3 systemd_units.py UNIT_DIR DATA_DIR NAME=VALUE ...

setup-monitoring.sh install --native runs it with every port and path it knows (see SETTINGS). Each unit runs the
Debian package's binary as its dedicated user, listening on 127.0.0.1 only, reading the configuration the script
wrote into DATA_DIR and writing nothing but its own data folder there. Debian's units of the same programs listen
on every interface and read /etc/default: each of ours conflicts with its Debian twin, so that one of them runs.
An operator's changes belong in a drop-in (`systemctl edit mks-prometheus`), which this script never touches; the
units themselves are rewritten on every install, and the script names those it changed. Standard library only.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from exporter_targets import wanted_jobs

HEADER = "# Written by setup-monitoring.sh install --native: put changes in a drop-in (systemctl edit <unit>)."
DOCUMENTATION = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"
USER = "prometheus"  # Debian's prometheus package creates it, and its exporters run as it
SETTINGS = (
    "exporters",  # the jobs of MKS_EXPORTERS, comma-separated
    "prometheus_port",
    "alertmanager_port",
    "retention_time",
    "retention_size",
    "postgres_port",
    "redis_port",
    "node_port",
    "nginx_port",
    "mtail_port",
    "blackbox_port",
    "redis_address",  # the Redis the exporter reads, redis://host:port
    "nginx_status_url",  # nginx's stub_status (mks.conf serves it on 127.0.0.1:8081)
    "nginx_access_log",  # the JSON access log mtail counts
)

HARDENING = """\
NoNewPrivileges=true
ProtectSystem=strict
ProtectHome={protect_home}
PrivateTmp=true
PrivateDevices=true
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectKernelLogs=true
ProtectControlGroups=true
ProtectClock=true
ProtectHostname=true
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6{netlink}
RestrictNamespaces=true
RestrictRealtime=true
RestrictSUIDSGID=true
LockPersonality=true
MemoryDenyWriteExecute=true
SystemCallArchitectures=native
CapabilityBoundingSet=
AmbientCapabilities=
"""


@dataclass(frozen=True)
class Service:
    name: str  # the unit's name, without .service
    description: str
    debian_unit: str  # the package's own unit of the same program
    command: tuple[str, ...]
    user: str = USER
    environment_file: str = ""  # secrets the operator keeps outside the repository ("-" prefix: optional)
    writes: str = ""  # the one folder the service may write
    reads_host: bool = False  # node-exporter reports every mounted filesystem, /home included
    extra: tuple[str, ...] = ()

    def unit(self) -> str:
        service = [
            "Type=simple",
            f"User={self.user}",
            f"Group={self.user}",
            *([f"EnvironmentFile={self.environment_file}"] if self.environment_file else []),
            f"ExecStart={' '.join(self.command)}",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "Restart=on-failure",
            "RestartSec=5",
            *([f"ReadWritePaths={self.writes}"] if self.writes else []),
            *self.extra,
        ]
        hardening = HARDENING.format(
            protect_home="read-only" if self.reads_host else "true",
            netlink=" AF_NETLINK" if self.reads_host else "",
        )
        return "\n".join(
            [
                HEADER,
                "[Unit]",
                f"Description=MKS monitoring: {self.description}",
                f"Documentation=file:{DOCUMENTATION}",
                "After=network-online.target",
                "Wants=network-online.target",
                f"Conflicts={self.debian_unit}",
                "",
                "[Service]",
                *service,
                "",
                "# Hardening: the program reads its configuration and writes its own data folder only.",
                hardening.rstrip("\n"),
                "",
                "[Install]",
                "WantedBy=multi-user.target",
                "",
            ]
        )


def loopback(port: str) -> str:
    return f"127.0.0.1:{port}"


def services(data: Path, settings: dict[str, str]) -> list[Service]:
    """Prometheus and Alertmanager, then the exporters of the jobs asked for, in the order of the jobs' table."""
    every = [
        Service(
            "mks-prometheus",
            "Prometheus",
            "prometheus.service",
            (
                "/usr/bin/prometheus",
                f"--config.file={data / 'prometheus.yml'}",
                f"--storage.tsdb.path={data / 'data'}",
                f"--storage.tsdb.retention.time={settings['retention_time']}",
                f"--storage.tsdb.retention.size={settings['retention_size']}",
                f"--web.listen-address={loopback(settings['prometheus_port'])}",
                "--web.enable-lifecycle",
                "--web.enable-admin-api",
            ),
            writes=str(data / "data"),
            extra=("TimeoutStopSec=20s", "LimitNOFILE=32768"),
        ),
        Service(
            "mks-alertmanager",
            "Alertmanager",
            "prometheus-alertmanager.service",
            (
                "/usr/bin/prometheus-alertmanager",
                f"--config.file={data / 'alertmanager' / 'alertmanager.yml'}",
                f"--storage.path={data / 'alertmanager-data'}",
                f"--web.listen-address={loopback(settings['alertmanager_port'])}",
                # One Alertmanager: no gossip port open to the network.
                "--cluster.listen-address=",
            ),
            writes=str(data / "alertmanager-data"),
        ),
    ]
    exporters = {
        "postgres": Service(
            "mks-postgres-exporter",
            "PostgreSQL exporter",
            "prometheus-postgres-exporter.service",
            ("/usr/bin/prometheus-postgres-exporter", f"--web.listen-address={loopback(settings['postgres_port'])}"),
            environment_file="/etc/default/prometheus-postgres-exporter",  # DATA_SOURCE_NAME, with its password
        ),
        "redis": Service(
            "mks-redis-exporter",
            "Redis exporter",
            "prometheus-redis-exporter.service",
            (
                "/usr/bin/prometheus-redis-exporter",
                f"-redis.addr={settings['redis_address']}",
                f"-web.listen-address={loopback(settings['redis_port'])}",
            ),
            environment_file="-/etc/default/prometheus-redis-exporter",  # REDIS_PASSWORD, when Redis has one
        ),
        "node": Service(
            "mks-node-exporter",
            "node exporter",
            "prometheus-node-exporter.service",
            ("/usr/bin/prometheus-node-exporter", f"--web.listen-address={loopback(settings['node_port'])}"),
            reads_host=True,
        ),
        "nginx": Service(
            "mks-nginx-exporter",
            "nginx exporter",
            "prometheus-nginx-exporter.service",
            (
                "/usr/bin/prometheus-nginx-exporter",
                f"-nginx.scrape-uri={settings['nginx_status_url']}",
                f"-web.listen-address={loopback(settings['nginx_port'])}",
            ),
        ),
        "nginx-log": Service(
            "mks-mtail",
            "mtail (nginx access log)",
            "mtail.service",
            (
                "/usr/bin/mtail",
                f"-progs={data / 'mtail'}",
                f"-logs={settings['nginx_access_log']}",
                "-address=127.0.0.1",
                f"-port={settings['mtail_port']}",
                "-emit_prog_label=false",
                "-logtostderr",
            ),
            user="mtail",
            extra=("SupplementaryGroups=adm",),  # Debian's nginx writes its logs as www-data:adm, mode 640
        ),
        "blackbox": Service(
            "mks-blackbox-exporter",
            "blackbox exporter",
            "prometheus-blackbox-exporter.service",
            (
                "/usr/bin/prometheus-blackbox-exporter",
                f"--config.file={data / 'blackbox.yml'}",
                f"--web.listen-address={loopback(settings['blackbox_port'])}",
            ),
        ),
    }
    try:
        asked = wanted_jobs(settings["exporters"], list(exporters))
    except ValueError as unknown:
        raise SystemExit(f"MKS_EXPORTERS に不明なジョブがあります: {unknown}") from None
    return every + [exporters[job] for job in asked]


def written_here(path: Path) -> bool:
    return path.read_text(encoding="utf-8").startswith(HEADER + "\n")


def write(unit_dir: Path, data: Path, settings: dict[str, str]) -> list[str]:
    """Write the units, and remove the ones an earlier install wrote for jobs no longer asked for; returns the
    names of the units to run. What changed is reported on standard error, one line a file."""
    unit_dir.mkdir(parents=True, exist_ok=True)
    wanted = {f"{service.name}.service": service.unit() for service in services(data, settings)}
    for path in sorted(unit_dir.glob("mks-*.service")):
        if path.name not in wanted and written_here(path):
            path.unlink()
            print(f"  [OK] {path} を削除しました（MKS_EXPORTERS にないジョブ）", file=sys.stderr)
    for name, text in wanted.items():
        path = unit_dir / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"  [OK] {path} を書きました", file=sys.stderr)
    return [name.removesuffix(".service") for name in wanted]


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    settings = dict(argument.split("=", 1) for argument in argv[2:])
    missing = [name for name in SETTINGS if name not in settings]
    if missing:
        print(f"systemd_units.py: 値がありません: {', '.join(missing)}", file=sys.stderr)
        return 2
    print(" ".join(write(Path(argv[0]), Path(argv[1]), settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
