#!/usr/bin/env bash
# Docker ボリューム（mks-prometheus-data, mks-grafana-data）を tar.gz に保存する、またはそこから戻す。
#
#   ./backup-volumes.sh backup [保存先ディレクトリ]         # 両方のボリュームを保存
#   ./backup-volumes.sh restore ボリューム名 アーカイブ       # 例: restore mks-grafana-data grafana-backup-20261129.tar.gz
#
# restore の前に ./setup-monitoring.sh down で停止してください（動作中のボリュームに書き戻さないため）。
set -euo pipefail

verb="${1:-backup}"
case "$verb" in
  backup)
    dest="$(cd "${2:-.}" && pwd)"
    for volume in mks-prometheus-data mks-grafana-data; do
      archive="${volume%-data}-backup-$(date +%Y%m%d).tar.gz"
      archive="${archive#mks-}"
      docker run --rm -v "$volume":/data:ro -v "$dest":/backup alpine tar czf "/backup/$archive" -C /data .
      echo "保存しました: $dest/$archive"
    done
    ;;
  restore)
    volume="${2:?ボリューム名を指定してください（mks-prometheus-data または mks-grafana-data）}"
    archive="$(cd "$(dirname "${3:?アーカイブを指定してください}")" && pwd)/$(basename "$3")"
    if docker ps --format '{{.Names}}' | grep -qx 'mks-prometheus\|mks-grafana'; then
      echo "[NG] 監視スタックが動作中です。先に ./setup-monitoring.sh down を実行してください。" >&2
      exit 1
    fi
    docker run --rm -v "$volume":/data -v "$(dirname "$archive")":/backup alpine \
      sh -c "rm -rf /data/* && tar xzf /backup/$(basename "$archive") -C /data"
    echo "戻しました: $archive → $volume"
    ;;
  *) sed -n '2,7p' "$0"; exit 2 ;;
esac
