#!/usr/bin/env bash
# Alertmanager のサイレンス（保守作業中などに通知を止める設定）を JSON に保存する、またはそこから戻す。
#
#   ./alertmanager-silences.sh backup [保存先ディレクトリ（既定: カレント）]
#   ./alertmanager-silences.sh restore アーカイブ      # 例: restore alertmanager-silences-20261203.json
#
# 有効なサイレンス（期限切れでないもの）を amtool で読み書きします。宛先は ALERTMANAGER_URL
# （既定 http://localhost:9093）。サイレンスは Alertmanager のデータ（ボリューム mks-alertmanager-data）に
# しかないため、作り直した Alertmanager には restore で戻します。戻したサイレンスは新しい ID になります。
set -euo pipefail

url="${ALERTMANAGER_URL:-http://localhost:9093}"
command -v amtool >/dev/null || { echo "[NG] amtool がありません（Debian/Ubuntu: apt-get install prometheus-alertmanager）" >&2; exit 1; }

case "${1:-backup}" in
  backup)
    dest="$(cd "${2:-.}" && pwd)"
    file="$dest/alertmanager-silences-$(date +%Y%m%d).json"
    amtool --alertmanager.url="$url" silence query -o json > "$file.tmp"
    mv "$file.tmp" "$file"
    echo "保存しました: $file（$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$file") 件）"
    ;;
  restore)
    file="${2:?戻す JSON ファイルを指定してください}"
    amtool --alertmanager.url="$url" silence import "$file" >/dev/null
    echo "戻しました: $file → $url"
    ;;
  *)
    echo "不明な引数: $1（backup または restore）" >&2
    exit 2
    ;;
esac
