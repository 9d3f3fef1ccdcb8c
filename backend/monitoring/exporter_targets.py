#!/usr/bin/env python3
"""The targets files of the dependencies' scrape jobs, which prometheus.yml reads through file_sd_configs.

    MKS_EXPORTERS=postgres,redis python3 exporter_targets.py DIR postgres=ADDRESS ... blackbox=URL

setup-monitoring.sh passes every job's address in its mode (compose: the exporter's service; native: localhost and
the port variable) and blackbox=MKS_PUBLIC_URL's /health (empty when unset). MKS_EXPORTERS lists the jobs to scrape
(commas or spaces), or is `all` or `none`; unset or empty, nothing changes. A job is scraped while DIR/<job>.yml
exists: the listed jobs' files are written, the others' removed. A file this script did not write, or one edited
since (its header's sha256 no longer matches), is never changed: the script says so instead. Standard library
only (setup-monitoring.sh runs it with the system's python3).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

HEADER = "# Written by setup-monitoring.sh from MKS_EXPORTERS; once edited, the script leaves it alone. sha256:"
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


def contents(address: str) -> str:
    """The file of a job scraping one target: the header, then the target group."""
    body = f"- targets: [{json.dumps(address)}]\n"  # a JSON string is YAML: any URL is quoted safely
    return f"{HEADER}{digest(body.encode())}\n{body}"


def written_here(path: Path) -> bool:
    """Whether the file is as this script wrote it (its header's sha256 is its body's)."""
    header, _, body = path.read_bytes().partition(b"\n")
    return header == f"{HEADER}{digest(body)}".encode()


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


def apply(folder: Path, addresses: dict[str, str], wanted: list[str]) -> None:
    """Write the wanted jobs' files and remove the others', leaving alone (and naming) what an operator edited."""
    for job, address in addresses.items():
        path = folder / f"{job}.yml"
        if job in wanted and not address:
            warn(f"{job}: MKS_PUBLIC_URL が未設定のため収集しません")
        if path.exists() and not written_here(path):
            warn(f"{job}: {path} は手で編集されているため書き換えません（書き直すなら削除して再実行）")
        elif job in wanted and address:
            text = contents(address)
            if not path.exists():
                write(path, text)
                ok(f"{job}: {address} を収集します（{path} を作成）")
            elif path.read_bytes() != text.encode():
                write(path, text)
                ok(f"{job}: 収集先を {address} に変えました（{path}）")
        elif path.exists():
            path.unlink()
            ok(f"{job}: 収集をやめました（{path} を削除）")


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not all("=" in argument for argument in argv[1:]):
        print("使い方: MKS_EXPORTERS=ジョブ,... python3 exporter_targets.py DIR ジョブ=収集先 ...", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    addresses = dict(argument.split("=", 1) for argument in argv[1:])
    request = os.environ.get("MKS_EXPORTERS", "")
    try:
        # Here rather than by Docker (as root) for compose's mount; readable by its Prometheus (nobody) under any umask.
        if not folder.exists():
            folder.mkdir(parents=True)
            folder.chmod(0o755)
    except OSError as error:
        ng(f"収集先のフォルダーを作れません: {error}")
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
