#!/usr/bin/env bash
# Grafana の全ダッシュボードを HTTP API で JSON に書き出す（画面で加えた変更の退避用）。
#
#   ./grafana-export.sh [保存先ディレクトリ（既定: grafana-export-YYYYmmdd）]
#
# 認証: GRAFANA_ADMIN_USER / GRAFANA_ADMIN_PASSWORD（未設定なら backend/monitoring/.env から読む）。
# リポジトリの grafana/dashboards/*.json が正です。残したい変更は build_dashboards.py に反映してください。
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"
GRAFANA_URL="${GRAFANA_URL:-http://127.0.0.1:3000}"
if [ -z "${GRAFANA_ADMIN_PASSWORD:-}" ] && [ -f "$HERE/.env" ]; then
  GRAFANA_ADMIN_PASSWORD=$(sed -n 's/^GRAFANA_ADMIN_PASSWORD=//p' "$HERE/.env")
fi
auth="${GRAFANA_ADMIN_USER:-admin}:${GRAFANA_ADMIN_PASSWORD:?GRAFANA_ADMIN_PASSWORD を設定してください}"
dest="${1:-grafana-export-$(date +%Y%m%d)}"
mkdir -p "$dest"

uids=$(curl -fsS -u "$auth" "$GRAFANA_URL/api/search?type=dash-db" \
  | python3 -c 'import json, sys; print("\n".join(d["uid"] for d in json.load(sys.stdin)))')
count=0
for uid in $uids; do
  curl -fsS -u "$auth" "$GRAFANA_URL/api/dashboards/uid/$uid" \
    | python3 -c 'import json, sys; json.dump(json.load(sys.stdin)["dashboard"], sys.stdout, ensure_ascii=False, indent=2)' \
    > "$dest/$uid.json"
  count=$((count + 1))
  echo "  $uid → $dest/$uid.json"
done
echo "ダッシュボード ${count} 件を書き出しました: $dest"
