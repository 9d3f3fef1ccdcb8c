"""The systemd unit that runs the backend natively: gunicorn through `mks serve`, as a dedicated user.

The unit names the paths of the installation it is written from (the virtualenv's ``mks``, the
backend folder), so `systemd-analyze verify` checks the very command it will run. Settings come
from an environment file (MKS_* variables, secrets included) readable by root only: systemd reads
it before dropping to the user. The instance folder (SQLite database, JWT secret, multiprocess
metrics, attachments) is systemd's StateDirectory, the only place the service may write.
"""

from __future__ import annotations

from pathlib import Path

STATE_DIRECTORY = "mks"  # /var/lib/mks

UNIT = """\
[Unit]
Description=Mirai Knowledge System (MKS) backend
Documentation=file:{documentation}
After=network-online.target postgresql.service redis-server.service
Wants=network-online.target

[Service]
Type=simple
User={user}
Group={user}
WorkingDirectory={working_directory}
EnvironmentFile={environment_file}
Environment=MKS_INSTANCE_PATH=/var/lib/{state_directory}
ExecStart={executable} serve
ExecReload=/bin/kill -HUP $MAINPID
# gunicorn finishes the requests in flight on SIGTERM (graceful_timeout); its workers stop with it.
KillMode=mixed
TimeoutStopSec=35
Restart=on-failure
RestartSec=5
StateDirectory={state_directory}
StateDirectoryMode=0750
UMask=0027

# Hardening: the service reads its code and writes its state folder only.
NoNewPrivileges=true
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true
PrivateDevices=true
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectKernelLogs=true
ProtectControlGroups=true
ProtectClock=true
ProtectHostname=true
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=true
RestrictRealtime=true
RestrictSUIDSGID=true
LockPersonality=true
SystemCallArchitectures=native
CapabilityBoundingSet=
AmbientCapabilities=

[Install]
WantedBy=multi-user.target
"""


def backend_unit(executable: Path, working_directory: Path, environment_file: Path, user: str) -> str:
    """The unit file's text for the backend of this installation."""
    return UNIT.format(
        documentation=working_directory.parent / "docs" / "operations.md",
        executable=executable,
        working_directory=working_directory,
        environment_file=environment_file,
        user=user,
        state_directory=STATE_DIRECTORY,
    )
