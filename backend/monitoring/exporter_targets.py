#!/usr/bin/env python3
"""The targets files of the scrape jobs prometheus.yml reads through file_sd_configs: the dependencies' jobs, and
the backend's instances.

    MKS_EXPORTERS=postgres,redis python3 exporter_targets.py DIR postgres=ADDRESS ... blackbox=URL
    python3 exporter_targets.py --backend DIR HOST:PORT[,HOST:PORT...]

setup-monitoring.sh passes every job's address in its mode (compose: the exporter's service; native: localhost and
the port variable) and blackbox=MKS_PUBLIC_URL's /health (empty when unset). MKS_EXPORTERS lists the jobs to scrape
(commas or spaces), or is `all` or `none`; unset or empty, nothing changes. A job is scraped while DIR/<job>.yml
exists: the listed jobs' files are written, the others' removed. With --backend, DIR/mks-backend.yml lists the
backend's instances (MKS_TARGETS, or MKS_TARGET for one), every one scraped by the job the alerts select. A file
this script did not write, or one edited since (its header's sha256 no longer matches), is never changed: the
script says so instead. Standard library only (setup-monitoring.sh runs it with the system's python3).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path


def header(variable: str) -> str:
    """The first line of a file written from the variable, before its body's sha256."""
    return f"# Written by setup-monitoring.sh from {variable}; once edited, the script leaves it alone. sha256:"


HEADER = header("MKS_EXPORTERS")
BACKEND_HEADER = header("MKS_TARGETS")
BACKEND_JOB = "mks-backend"  # the job the alerts and dashboards select
ADDRESS = re.compile(r"[A-Za-z0-9.-]+:[0-9]{1,5}")
URL = re.compile(r"https?://\S+")
PROBE = "blackbox"  # its target is the URL to probe; the others' are exporters


def ok(message: str) -> None:
    print(f"  [OK] {message}")


def warn(message: str) -> None:
    print(f"  [警告] {message}")


def ng(message: str) -> None:
    print(f"  [NG] {message}", file=sys.stderr)


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def contents(addresses: list[str], first: str = HEADER) -> str:
    """The file of a job scraping the targets: the header, then one target group."""
    body = f"- targets: {json.dumps(addresses)}\n"  # a JSON list is YAML: any URL is quoted safely
    return f"{first}{digest(body.encode())}\n{body}"


def written_here(path: Path, first: str = HEADER) -> bool:
    """Whether the file is as this script wrote it (its header's sha256 is its body's)."""
    line, _, body = path.read_bytes().partition(b"\n")
    return line == f"{first}{digest(body)}".encode()


def write(path: Path, text: str) -> None:
    """Replace the file at once: Prometheus reads it on every change and must never see half of it."""
    temporary = path.with_name(f".{path.name}.tmp")  # matches no job's file
    temporary.write_text(text, encoding="utf-8")
    temporary.chmod(0o644)  # compose's Prometheus runs as nobody, whatever the umask
    temporary.replace(path)


def wanted_jobs(request: str, jobs: list[str]) -> list[str]:
    """The jobs MKS_EXPORTERS asks for; ValueError names the unknown ones."""
    words = request.replace(",", " ").split()
    if words == ["all"]:
        return jobs
    if words == ["none"]:
        return []
    unknown = [word for word in words if word not in jobs]
    if unknown:
        raise ValueError(", ".join(unknown))
    return [job for job in jobs if job in words]


def unusable(job: str, address: str) -> str | None:
    """Why the address cannot be the job's target, or None."""
    if job == PROBE:
        if URL.fullmatch(address):
            return None
        return (
            f"MKS_PUBLIC_URL から作った外形監視の URL（{address}）は"
            " http:// か https:// で始まる、空白の無い URL にしてください"
        )
    if ADDRESS.fullmatch(address):
        return None
    return f"{job} の収集先 {address} がホスト:ポートではありません（ポートの変数を確認してください）"


def edited(path: Path, job: str, first: str = HEADER) -> bool:
    """Whether an operator wrote or edited the job's file, which is then named and left alone."""
    if path.exists() and not written_here(path, first):
        warn(f"{job}: {path} は手で編集されているため書き換えません（書き直すなら削除して再実行）")
        return True
    return False


def refresh(path: Path, job: str, addresses: list[str], first: str = HEADER) -> bool:
    """Write the job's file for the targets unless it says so already; whether it changed (and said how)."""
    text, shown = contents(addresses, first), ", ".join(addresses)
    if path.exists() and path.read_bytes() == text.encode():
        return False
    created = not path.exists()
    write(path, text)
    ok(
        f"{job}: {shown} を収集します（{path} を作成）"
        if created
        else f"{job}: 収集先を {shown} に変えました（{path}）"
    )
    return True


def apply(folder: Path, addresses: dict[str, str], wanted: list[str]) -> None:
    """Write the wanted jobs' files and remove the others', leaving alone (and naming) what an operator edited."""
    for job, address in addresses.items():
        path = folder / f"{job}.yml"
        if job in wanted and not address:
            warn(f"{job}: MKS_PUBLIC_URL が未設定のため収集しません")
        if edited(path, job):
            continue
        if job in wanted and address:
            refresh(path, job, [address])
        elif path.exists():
            path.unlink()
            ok(f"{job}: 収集をやめました（{path} を削除）")


def backend_targets(request: str) -> list[str]:
    """The instances MKS_TARGETS lists (commas or spaces), in order, once each; ValueError names a bad one."""
    targets = list(dict.fromkeys(request.replace(",", " ").split()))
    bad = [target for target in targets if not ADDRESS.fullmatch(target)]
    if bad or not targets:
        raise ValueError(", ".join(bad) or "（空）")
    return targets


def apply_backend(folder: Path, request: str) -> int:
    """Write the backend job's file for the instances listed, unless an operator edited it; the exit status."""
    try:
        targets = backend_targets(request)
    except ValueError as bad:
        ng(f"MKS_TARGETS の {bad} がホスト:ポートではありません（例 host1:5100,host2:5100）")
        return 2
    path = folder / f"{BACKEND_JOB}.yml"
    try:
        if not edited(path, BACKEND_JOB, BACKEND_HEADER) and not refresh(path, BACKEND_JOB, targets, BACKEND_HEADER):
            ok(f"{BACKEND_JOB}: {', '.join(targets)}（変更なし。{path}）")
    except OSError as error:
        ng(f"収集先のファイルを書けません: {error}")
        return 1
    return 0


def make_folder(folder: Path) -> bool:
    """Create the folder if missing; False (having said why) when it cannot be."""
    try:
        # Here rather than by Docker (as root) for compose's mount; readable by its Prometheus (nobody) under any umask.
        if not folder.exists():
            folder.mkdir(parents=True)
            folder.chmod(0o755)
    except OSError as error:
        ng(f"収集先のフォルダーを作れません: {error}")
        return False
    return True


def main(argv: list[str]) -> int:
    if argv[:1] == ["--backend"] and len(argv) == 3:
        return apply_backend(Path(argv[1]), argv[2]) if make_folder(Path(argv[1])) else 1
    if len(argv) < 2 or not all("=" in argument for argument in argv[1:]):
        print(
            "使い方: MKS_EXPORTERS=ジョブ,... python3 exporter_targets.py DIR ジョブ=収集先 ...\n"
            "        python3 exporter_targets.py --backend DIR ホスト:ポート[,ホスト:ポート...]",
            file=sys.stderr,
        )
        return 2
    folder = Path(argv[0])
    addresses = dict(argument.split("=", 1) for argument in argv[1:])
    request = os.environ.get("MKS_EXPORTERS", "")
    if not make_folder(folder):
        return 1
    if request.strip():
        try:
            wanted = wanted_jobs(request, list(addresses))
        except ValueError as unknown:
            ng(f"MKS_EXPORTERS の {unknown} はジョブではありません（{', '.join(addresses)}、all、none のいずれか）")
            return 2
        problems = [problem for job in wanted if addresses[job] and (problem := unusable(job, addresses[job]))]
        for problem in problems:
            ng(problem)
        if problems:
            return 2
        try:
            apply(folder, addresses, wanted)
        except OSError as error:
            ng(f"収集先のファイルを書けません: {error}")
            return 1
    if addresses.get(PROBE) and not (folder / f"{PROBE}.yml").exists():
        warn(f"MKS_PUBLIC_URL は MKS_EXPORTERS に {PROBE}（または all）があるときだけ外形監視に使います")
    scraped = [job for job in addresses if (folder / f"{job}.yml").exists()]
    unchanged = "" if request.strip() else "MKS_EXPORTERS が未設定のため変更なし。"
    ok(f"依存サービスのジョブ: {', '.join(scraped) or 'なし'}（{unchanged}{folder}）")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
