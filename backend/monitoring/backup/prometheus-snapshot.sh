#!/usr/bin/env bash
# Prometheus の TSDB スナップショットを取り、tar.gz に保存する（稼働を止めずに一貫したコピーが取れる）。
#
#   ./prometheus-snapshot.sh [--native] [保存先ディレクトリ（既定: カレント）]
#
# 管理 API（/api/v1/admin）を使います。compose と --native の Prometheus は --web.enable-admin-api 付きで
# 起動し、127.0.0.1 だけで待ち受けます（外部に公開する場合はリバースプロキシで /api/v1/admin を遮断）。
# 復元: docs/operations.md の「リストア手順」を参照。
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"
NATIVE=0
DEST="."
for arg in "$@"; do
  case "$arg" in
    --native) NATIVE=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) DEST="$arg" ;;
  esac
done
PROMETHEUS_URL="http://127.0.0.1:${PROMETHEUS_PORT:-9090}"
mkdir -p "$DEST"

echo "スナップショットを作成しています: $PROMETHEUS_URL"
answer=$(curl -fsS -X POST "$PROMETHEUS_URL/api/v1/admin/tsdb/snapshot") || {
  echo "[NG] 管理 API が応答しません。Prometheus が --web.enable-admin-api 付きで起動しているか確認してください。" >&2
  exit 1
}
name=$(printf '%s' "$answer" | python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["name"])')
archive="$(cd "$DEST" && pwd)/prometheus-snapshot-$name.tar.gz"

if [ "$NATIVE" = 1 ]; then
  source_dir="${MKS_MONITORING_DATA:-$HERE/.native}/data/snapshots/$name"
  tar czf "$archive" -C "$source_dir" .
  rm -rf "$source_dir"  # the archive is the backup; the snapshot's hard links would pin old blocks
else
  docker run --rm -v mks-prometheus-data:/prometheus:ro -v "$(dirname "$archive")":/backup alpine \
    tar czf "/backup/$(basename "$archive")" -C "/prometheus/snapshots/$name" .
  docker exec mks-prometheus rm -rf "/prometheus/snapshots/$name"
fi
echo "保存しました: $archive（$(du -h "$archive" | cut -f1)）"
