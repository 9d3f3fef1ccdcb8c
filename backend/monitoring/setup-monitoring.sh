#!/usr/bin/env bash
# MKS 監視スタック（Prometheus + Grafana）のセットアップ・起動・停止・状態確認。
#
#   ./setup-monitoring.sh [up|down|status|check|install] [--native]
#
# up（既定）: 前提条件を確認し、すべての設定ファイルを検証してから起動し、正常になるまで待つ。
#             何度実行しても同じ結果になる（起動済みなら設定を読み直すだけ）。
# down:       停止する（データは残す）。
# status:     各サービスと Prometheus の mks-backend ターゲットの状態を表示する（ターゲットが down なら終了コード 1）。
#             起動直後でまだ一度も収集していないターゲットは、最初の収集を待ってから表示する（最長 MKS_STATUS_WAIT 秒、既定 30）。
# check:      設定ファイルの検証だけを行う（起動しない）。
# --native:   Docker を使わず、ローカルの prometheus バイナリ（Debian: apt-get install prometheus）で
#             同じ設定・ルールを localhost 向けに動かす。Grafana は起動しない。
# install --native（root で実行）: Prometheus・Alertmanager と MKS_EXPORTERS のエクスポーターを systemd のサービス
#             （mks-prometheus など、127.0.0.1 だけで待ち受け、専用ユーザー、強化オプション付き）として
#             MKS_SYSTEMD_DIR（既定 /etc/systemd/system）に入れ、設定を MKS_MONITORING_DATA（既定 /var/lib/mks-monitoring）
#             に書き、systemd が動いていれば有効にして起動する。同じプログラムの Debian のユニットは無効にする。
#
# バックエンドのインスタンス（up のとき targets/mks-backend.yml に書く）: MKS_TARGETS（host1:5100,host2:5100 のように
#   カンマか空白で区切る）、1 台なら MKS_TARGET でもよい。既定は native で localhost:5100、compose で host.docker.internal:5100
# 環境変数（native）: PROMETHEUS_PORT（既定 9090）,
#   ALERTMANAGER_PORT（既定 9093、Prometheus がアラートを送る localhost のポート）,
#   MKS_MONITORING_DATA（既定 ./.native）, MKS_SCRAPE_INTERVAL / MKS_EVALUATION_INTERVAL（既定は設定ファイルどおり）,
#   PROMETHEUS_RETENTION_TIME（15d）, PROMETHEUS_RETENTION_SIZE（10GB）
# 依存サービスのエクスポーター（既定では収集しない。up のとき MKS_EXPORTERS のジョブだけを収集先に書く）:
#   MKS_EXPORTERS（postgres,redis,node,nginx,nginx-log,blackbox のうち収集するもの、all、none。未設定なら変更しない）,
#   MKS_PUBLIC_URL（利用者が開く MKS の URL、例 https://mks.example.co.jp。blackbox はその /health を外形監視する。無ければ収集しない）
# native ではエクスポーターの localhost のポート: POSTGRES_EXPORTER_PORT（9187）, REDIS_EXPORTER_PORT（9121）,
#   NODE_EXPORTER_PORT（9100）, NGINX_EXPORTER_PORT（9113）, MTAIL_PORT（3903、nginx のアクセスログ）,
#   BLACKBOX_EXPORTER_PORT（9115）
# 長期保存: MKS_REMOTE_WRITE_URL（設定すると Prometheus は全サンプルをここへも送る。例 http://127.0.0.1:8428/api/v1/write）
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERB="up"
NATIVE=0
for arg in "$@"; do
  case "$arg" in
    up|down|status|check|install) VERB="$arg" ;;
    --native) NATIVE=1 ;;
    -h|--help) sed -n '/^set -euo pipefail$/q; 2,$p' "$0"; exit 0 ;;  # the header comment, however long
    *) echo "不明な引数: $arg（up|down|status|check|install と --native が使えます）" >&2; exit 2 ;;
  esac
done
if [ "$VERB" = install ] && [ "$NATIVE" = 0 ]; then
  echo "install は --native と使います（Docker では ./setup-monitoring.sh up）" >&2; exit 2
fi

PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"
PROMETHEUS_URL="http://127.0.0.1:${PROMETHEUS_PORT}"
ALERTMANAGER_PORT="${ALERTMANAGER_PORT:-9093}"
POSTGRES_EXPORTER_PORT="${POSTGRES_EXPORTER_PORT:-9187}"
REDIS_EXPORTER_PORT="${REDIS_EXPORTER_PORT:-9121}"
NODE_EXPORTER_PORT="${NODE_EXPORTER_PORT:-9100}"
NGINX_EXPORTER_PORT="${NGINX_EXPORTER_PORT:-9113}"
MTAIL_PORT="${MTAIL_PORT:-3903}"
BLACKBOX_EXPORTER_PORT="${BLACKBOX_EXPORTER_PORT:-9115}"
RETENTION_TIME="${PROMETHEUS_RETENTION_TIME:-15d}"
RETENTION_SIZE="${PROMETHEUS_RETENTION_SIZE:-10GB}"
# An installed stack's services cannot read a home folder (ProtectHome): its configuration lives under /var/lib.
if [ "$VERB" = install ]; then DATA_DIR="${MKS_MONITORING_DATA:-/var/lib/mks-monitoring}"; else DATA_DIR="${MKS_MONITORING_DATA:-$HERE/.native}"; fi
UNIT_DIR="${MKS_SYSTEMD_DIR:-/etc/systemd/system}"
# The rule files and dashboards Prometheus and Grafana read: copies linking MKS_RUNBOOK_BASE_URL (write_linked),
# which compose mounts through MKS_RULES_DIR and MKS_DASHBOARDS_DIR.
if [ "$NATIVE" = 1 ]; then LINKED_DIR="$DATA_DIR/linked"; else LINKED_DIR="$HERE/.linked"; fi
export MKS_RULES_DIR="$LINKED_DIR/rules" MKS_DASHBOARDS_DIR="$LINKED_DIR/dashboards"
# The dependencies' jobs' targets, one file per job (file_sd_configs), which compose mounts through MKS_TARGETS_DIR.
# Outside the committed tree: they depend on the machine (MKS_EXPORTERS) and operators may edit them.
if [ "$NATIVE" = 1 ]; then TARGETS_DIR="$DATA_DIR/targets"; else TARGETS_DIR="$HERE/.targets"; fi
export MKS_TARGETS_DIR="$TARGETS_DIR"
# compose's prometheus.yml (write_compose_config), which compose mounts through MKS_PROMETHEUS_CONFIG.
export MKS_PROMETHEUS_CONFIG="$LINKED_DIR/prometheus.yml"
MIN_FREE_GB=10

ok() { printf '  [OK] %s\n' "$1"; }
ng() { printf '  [NG] %s\n' "$1" >&2; }
warn() { printf '  [警告] %s\n' "$1"; }

version_at_least() { # version_at_least 20.10.3 20.10.0
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}

check_disk() {
  local free_gb
  free_gb=$(df -Pk "$HERE" | awk 'NR == 2 { print int($4 / 1024 / 1024) }')
  if [ "$free_gb" -lt "$MIN_FREE_GB" ]; then
    warn "ディスクの空きが ${free_gb}GB です（推奨 ${MIN_FREE_GB}GB 以上）。保持サイズ ${RETENTION_SIZE} を見直してください。"
  else
    ok "ディスクの空き ${free_gb}GB"
  fi
}

check_docker_prerequisites() {
  local missing=0 docker_version compose_version
  if ! command -v docker >/dev/null; then
    ng "docker がありません（20.10 以上が必要）。Docker Engine をインストールしてください。"; missing=1
  else
    docker_version=$(docker version --format '{{.Client.Version}}' 2>/dev/null || echo 0)
    if version_at_least "$docker_version" 20.10.0; then ok "Docker $docker_version"; else ng "Docker $docker_version（20.10 以上が必要）"; missing=1; fi
    if ! docker info >/dev/null 2>&1; then
      ng "Docker デーモンに接続できません。デーモンを起動するか、--native で起動してください。"; missing=1
    fi
    compose_version=$(docker compose version --short 2>/dev/null || echo 0)
    if version_at_least "${compose_version#v}" 2.0.0; then ok "Docker Compose $compose_version"; else ng "Docker Compose v2（2.0 以上）がありません"; missing=1; fi
  fi
  check_disk
  return "$missing"
}

check_native_prerequisites() {
  if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    ng "prometheus / promtool がありません。Debian/Ubuntu: sudo apt-get install prometheus"
    return 1
  fi
  ok "$(prometheus --version 2>&1 | head -n 1)"
  check_disk
}

validate_dashboards() {
  local file count
  for file in "$HERE"/grafana/dashboards/*.json; do
    python3 -m json.tool "$file" >/dev/null || { ng "JSON として読めません: $file"; return 1; }
  done
  count="$(ls "$HERE"/grafana/dashboards/*.json | wc -l)"
  # The generator needs grafana-foundation-sdk, a developer dependency: without it only CI can compare.
  if ! python3 -c "import grafana_foundation_sdk" 2>/dev/null; then
    warn "grafana-foundation-sdk が無いため build_dashboards.py --check を省略しました（JSON の形式のみ確認。生成スクリプトとの一致は CI で検査。入れるには pip install -r backend/requirements-dev.txt）"
    ok "Grafana ダッシュボード（${count} 件、JSON として有効）"
    return 0
  fi
  python3 "$HERE/grafana/build_dashboards.py" --check >/dev/null \
    || { ng "ダッシュボード JSON が build_dashboards.py の出力と違います（python3 grafana/build_dashboards.py で再生成）"; return 1; }
  ok "Grafana ダッシュボード（${count} 件、生成スクリプトと一致）"
}

# The shipped prometheus.yml, pointed at this machine: rule files from the linked copies, targets files (the
# backend's instances among them) from TARGETS_DIR, Alertmanager and the probing exporter on their localhost ports.
write_native_config() {
  mkdir -p "$DATA_DIR"
  sed -e "s#/etc/prometheus/targets/#${TARGETS_DIR}/#" \
      -e "s#/etc/prometheus/#${MKS_RULES_DIR}/#" \
      -e "s#'alertmanager:9093'#'localhost:${ALERTMANAGER_PORT}'#" \
      -e "s#'localhost:9090'#'localhost:${PROMETHEUS_PORT}'#" \
      -e "s#'blackbox-exporter:9115'#'localhost:${BLACKBOX_EXPORTER_PORT}'#" \
      "$HERE/prometheus/prometheus.yml" > "$DATA_DIR/prometheus.yml"
  if [ -n "${MKS_SCRAPE_INTERVAL:-}" ]; then
    sed -i -e "s#scrape_interval: [0-9]*[smh]#scrape_interval: ${MKS_SCRAPE_INTERVAL}#" \
           -e "s#scrape_timeout: [0-9]*[smh]#scrape_timeout: ${MKS_SCRAPE_INTERVAL}#" "$DATA_DIR/prometheus.yml"
  fi
  if [ -n "${MKS_EVALUATION_INTERVAL:-}" ]; then
    sed -i -e "s#evaluation_interval: [0-9]*[smh]#evaluation_interval: ${MKS_EVALUATION_INTERVAL}#" "$DATA_DIR/prometheus.yml"
  fi
  append_remote_write "$DATA_DIR/prometheus.yml"
}

# The shipped prometheus.yml as compose's Prometheus reads it, with the remote_write MKS_REMOTE_WRITE_URL asks for:
# a copy, so that the committed file stays as shipped.
write_compose_config() {
  mkdir -p "$LINKED_DIR"
  cp "$HERE/prometheus/prometheus.yml" "$MKS_PROMETHEUS_CONFIG"
  append_remote_write "$MKS_PROMETHEUS_CONFIG"
}

# Long-term storage (docs/monitoring.md): Prometheus also sends every sample it stores, the recording rules' too, to
# MKS_REMOTE_WRITE_URL (VictoriaMetrics' /api/v1/write), and keeps its own 15 days / 10 GB as before.
append_remote_write() {
  if [ -n "${MKS_REMOTE_WRITE_URL:-}" ]; then
    printf "\nremote_write:\n  - url: '%s'\n" "$MKS_REMOTE_WRITE_URL" >> "$1"
  fi
}

# The targets files of the jobs MKS_EXPORTERS lists (exporter_targets.py: it removes the others' and never
# changes a file an operator edited, saying so). Prometheus re-reads them at once: re-running `up` enables more.
write_targets() {
  local addresses
  if [ "$NATIVE" = 1 ]; then
    addresses=("postgres=localhost:${POSTGRES_EXPORTER_PORT}" "redis=localhost:${REDIS_EXPORTER_PORT}"
      "node=localhost:${NODE_EXPORTER_PORT}" "nginx=localhost:${NGINX_EXPORTER_PORT}" "nginx-log=localhost:${MTAIL_PORT}")
  else
    addresses=(postgres=postgres-exporter:9187 redis=redis-exporter:9121 node=node-exporter:9100
      nginx=nginx-exporter:9113 nginx-log=mtail:3903)
  fi
  # MKS_PUBLIC_URL means what it means to the backend, the address users open: its /health answers through nginx
  # without signing in.
  python3 "$HERE/exporter_targets.py" "$TARGETS_DIR" "${addresses[@]}" "blackbox=${MKS_PUBLIC_URL:+${MKS_PUBLIC_URL%/}/health}"
}

# The backend's instances, one targets file for the job mks-backend (exporter_targets.py --backend: an edited file is
# left alone and named). MKS_TARGETS lists them; MKS_TARGET, the setting of one instance, still works alone.
write_backend_targets() {
  local default=host.docker.internal:5100
  if [ "$NATIVE" = 1 ]; then default=localhost:5100; fi
  python3 "$HERE/exporter_targets.py" --backend "$TARGETS_DIR" "${MKS_TARGETS:-${MKS_TARGET:-$default}}"
}

# check rules → test rules: the rules parse, and every alert fires (and stays silent) as its unit tests say.
validate_rules() {
  python3 "$HERE/rules.py" --check >/dev/null \
    || { ng "ルールファイルが rules.py の出力と違います（python3 rules.py --check で詳細、python3 rules.py で再生成）"; return 1; }
  promtool check rules "$HERE/prometheus/recording-rules.yml" "$HERE/prometheus/alert-rules.yml" \
    "$HERE/prometheus/slo-rules.yml" >/dev/null \
    || { ng "promtool check rules に失敗"; return 1; }
  promtool test rules "$HERE"/prometheus/tests/*.test.yml >/dev/null \
    || { ng "promtool test rules に失敗（promtool test rules $HERE/prometheus/tests/*.test.yml で詳細）"; return 1; }
  ok "アラート・レコーディング・SLO ルール（rules.py --check、promtool check rules / test rules）"
}

# After the checks of the committed files: the copies Prometheus and Grafana read, linking the runbook where
# MKS_RUNBOOK_BASE_URL says (the committed files link the MKS page /admin/runbook).
write_linked() {
  python3 "$HERE/runbook_links.py" "$HERE/prometheus" "$MKS_RULES_DIR" \
    && python3 "$HERE/runbook_links.py" "$HERE/grafana/dashboards" "$MKS_DASHBOARDS_DIR" \
    || { ng "手順書のリンク先（MKS_RUNBOOK_BASE_URL）でルールとダッシュボードを書けません"; return 1; }
  ok "手順書のリンク先: ${MKS_RUNBOOK_BASE_URL:-既定（MKS の /admin/runbook）}（$LINKED_DIR）"
}

validate_native() {
  validate_rules
  write_linked
  write_native_config
  # Only `up` and `install` change the targets (a running Prometheus follows them at once); promtool checks them
  # either way.
  if [ "$VERB" != check ]; then write_backend_targets; write_targets; fi
  promtool check config "$DATA_DIR/prometheus.yml" >/dev/null || { ng "promtool check config に失敗: $DATA_DIR/prometheus.yml"; return 1; }
  ok "Prometheus 設定（promtool check config）"
  validate_dashboards
}

validate_docker() {
  docker compose -f "$HERE/docker-compose.yml" config -q || { ng "docker-compose.yml が不正です"; return 1; }
  ok "docker-compose.yml"
  if command -v promtool >/dev/null; then
    validate_rules
  else
    warn "promtool が無いためルールの検証を省略しました（apt-get install prometheus で入ります）"
  fi
  validate_dashboards
  write_linked
  write_compose_config
  if [ "$VERB" = up ]; then write_backend_targets; write_targets; fi
}

# The guide's admin/admin123 and other well-known passwords: refused in production, warned about elsewhere.
WEAK_GRAFANA_PASSWORDS=" admin admin123 password grafana changeme "

ensure_grafana_password() {
  local env_file="$HERE/.env" password
  password="${GRAFANA_ADMIN_PASSWORD:-$(sed -n 's/^GRAFANA_ADMIN_PASSWORD=//p' "$env_file" 2>/dev/null || true)}"
  if [ -n "$password" ]; then
    if [ "${#password}" -lt 12 ] || [[ "$WEAK_GRAFANA_PASSWORDS" == *" $password "* ]]; then
      if [ "${MKS_ENV:-development}" = production ]; then
        ng "Grafana の管理者パスワードが弱すぎます（既定値または 12 文字未満）。GRAFANA_ADMIN_PASSWORD を変更してください。"
        return 1
      fi
      warn "Grafana の管理者パスワードが弱いです（本番 MKS_ENV=production では起動を拒否します）。"
    fi
    return 0
  fi
  # In a subshell: a umask left at 077 would make the linked rules and dashboards written next unreadable to
  # compose's Prometheus and Grafana, which do not run as this user.
  (umask 077 && printf 'GRAFANA_ADMIN_PASSWORD=%s\n' "$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')" >> "$env_file")
  chmod 600 "$env_file"
  echo "  Grafana の管理者パスワードを生成しました: $env_file（ユーザー ${GRAFANA_ADMIN_USER:-admin}）"
}

wait_for() { # wait_for URL NAME SECONDS
  local url="$1" name="$2" seconds="$3" i
  for ((i = 0; i < seconds; i++)); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then ok "$name が応答しました"; return 0; fi
    sleep 1
  done
  ng "$name が ${seconds} 秒以内に応答しませんでした（$url）"
  return 1
}

native_pid() {
  local pid_file="$DATA_DIR/prometheus.pid"
  if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then cat "$pid_file"; fi
}

native_up() {
  echo "前提条件:"; check_native_prerequisites
  echo "設定の検証:"; validate_native
  local pid
  pid=$(native_pid)
  if [ -n "$pid" ]; then
    kill -HUP "$pid"
    ok "Prometheus は起動済みです（PID $pid）。設定を読み直しました。"
  else
    nohup prometheus \
      --config.file="$DATA_DIR/prometheus.yml" \
      --storage.tsdb.path="$DATA_DIR/data" \
      --storage.tsdb.retention.time="$RETENTION_TIME" \
      --storage.tsdb.retention.size="$RETENTION_SIZE" \
      --web.listen-address="127.0.0.1:${PROMETHEUS_PORT}" \
      --web.enable-lifecycle \
      --web.enable-admin-api \
      > "$DATA_DIR/prometheus.log" 2>&1 &
    echo $! > "$DATA_DIR/prometheus.pid"
  fi
  echo "起動確認:"; wait_for "$PROMETHEUS_URL/-/ready" "Prometheus" 60
  echo
  echo "Prometheus: $PROMETHEUS_URL （ログ: $DATA_DIR/prometheus.log）"
  echo "Grafana は native モードでは起動しません（Docker 環境で ./setup-monitoring.sh を使ってください）。"
}

native_down() {
  local pid
  pid=$(native_pid)
  if [ -z "$pid" ]; then echo "Prometheus（native）は起動していません。"; return 0; fi
  kill "$pid"
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  rm -f "$DATA_DIR/prometheus.pid"
  echo "Prometheus（native、PID $pid）を停止しました。データは $DATA_DIR/data に残っています。"
}

# Right after `up`, Prometheus may not have read the targets files yet, and a target it has not scraped yet reports
# health "unknown": wait for the first scrape (MKS_STATUS_WAIT seconds at most) rather than print a state that says
# nothing.
print_targets() {
  python3 - "$PROMETHEUS_URL" "${MKS_STATUS_WAIT:-30}" <<'PYTHON'
import json, sys, time, urllib.request

url, wait = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + wait
while True:
    try:
        with urllib.request.urlopen(f"{url}/api/v1/targets?state=active", timeout=5) as response:
            targets = json.load(response)["data"]["activeTargets"]
    except OSError:
        print(f"  [NG] Prometheus（{url}）に接続できません", file=sys.stderr)
        sys.exit(1)
    # No target at all: discovery has not read the targets files yet.
    if targets and all(target["health"] != "unknown" for target in targets) or time.monotonic() >= deadline:
        break
    time.sleep(1)
if not targets:
    print(f"  [NG] Prometheus に収集先がありません（{wait:g} 秒待ちました。targets/ のファイルを確認してください）", file=sys.stderr)
    sys.exit(1)
status = 0
for target in targets:
    job, address, health = target["labels"]["job"], target["scrapeUrl"], target["health"]
    error = target.get("lastError") or ""
    line = f"  {job:<12} {address:<40} {health}"
    if health == "unknown":
        line += f"  （まだ一度も収集していません。{wait:g} 秒待ちました）"
    elif health != "up" and error:
        line += f"  ({error})"
    print(line)
    if job == "mks-backend" and health != "up":
        status = 1
sys.exit(status)
PYTHON
}

# What `install` writes besides prometheus.yml: Alertmanager's configuration (from the ALERT_* variables, like
# compose), the probe module and the nginx log program, all in DATA_DIR where the services may read them.
write_install_files() {
  sh "$HERE/alertmanager/render-config.sh" "$DATA_DIR/alertmanager" >/dev/null \
    || { ng "Alertmanager の設定を作れません（ALERT_* の変数を確認してください）"; return 1; }
  cp "$HERE/blackbox/blackbox.yml" "$DATA_DIR/blackbox.yml"
  mkdir -p "$DATA_DIR/mtail" "$DATA_DIR/data" "$DATA_DIR/alertmanager-data"
  cp "$HERE/mtail/nginx.mtail" "$DATA_DIR/mtail/"
  ok "Alertmanager・blackbox・mtail の設定（$DATA_DIR）"
}

# The units, with every port and path this script knows; prints the names of the units to run.
write_units() {
  python3 "$HERE/systemd_units.py" "$UNIT_DIR" "$DATA_DIR" \
    "exporters=${MKS_EXPORTERS:-none}" "prometheus_port=$PROMETHEUS_PORT" "alertmanager_port=$ALERTMANAGER_PORT" \
    "retention_time=$RETENTION_TIME" "retention_size=$RETENTION_SIZE" \
    "postgres_port=$POSTGRES_EXPORTER_PORT" "redis_port=$REDIS_EXPORTER_PORT" "node_port=$NODE_EXPORTER_PORT" \
    "nginx_port=$NGINX_EXPORTER_PORT" "mtail_port=$MTAIL_PORT" "blackbox_port=$BLACKBOX_EXPORTER_PORT" \
    "redis_address=${MKS_REDIS_EXPORTER_ADDRESS:-redis://127.0.0.1:6379}" \
    "nginx_status_url=${MKS_NGINX_STATUS_URL:-http://127.0.0.1:8081/stub_status}" \
    "nginx_access_log=${MKS_NGINX_ACCESS_LOG:-/var/log/nginx/mks.access.log}"
}

native_install() {
  echo "前提条件:"; check_native_prerequisites
  echo "設定の検証:"; validate_native
  echo "設定とユニットの書き込み:"; write_install_files
  local units unit
  units=$(write_units)
  if command -v systemd-analyze >/dev/null; then
    for unit in $units; do
      # verify prints what it cannot parse and still exits 0: only silence means the unit is right.
      if [ -n "$(systemd-analyze verify "$UNIT_DIR/$unit.service" 2>&1)" ]; then
        ng "systemd-analyze verify $UNIT_DIR/$unit.service が警告を出しました"; return 1
      fi
    done
    ok "ユニット（systemd-analyze verify）: $units"
  fi
  if [ "$(id -u)" = 0 ] && id prometheus >/dev/null 2>&1; then
    chown -R prometheus:prometheus "$DATA_DIR/data" "$DATA_DIR/alertmanager-data" "$DATA_DIR/alertmanager"
  fi
  if [ "$UNIT_DIR" != /etc/systemd/system ] || [ ! -d /run/systemd/system ]; then
    echo "systemd がこのマシンの init ではない（または MKS_SYSTEMD_DIR が別の場所）ため、起動はしていません。起動するには:"
    echo "  sudo systemctl daemon-reload && sudo systemctl enable --now $units"
    return 0
  fi
  systemctl daemon-reload
  for unit in $units; do
    # Debian's unit of the same program would take the port at the next boot: it stays installed, disabled.
    systemctl disable --now "$(sed -n 's/^Conflicts=//p' "$UNIT_DIR/$unit.service")" 2>/dev/null || true
    systemctl enable "$unit" && systemctl restart "$unit"
  done
  echo "起動確認:"; wait_for "$PROMETHEUS_URL/-/ready" "Prometheus" 60
  wait_for "http://127.0.0.1:${ALERTMANAGER_PORT}/-/ready" "Alertmanager" 60
}

native_status() {
  local pid
  pid=$(native_pid)
  if [ -n "$pid" ]; then
    echo "Prometheus（native）: 起動中（PID $pid）"
  elif [ -d /run/systemd/system ] && systemctl is-active --quiet mks-prometheus 2>/dev/null; then
    echo "Prometheus（native）: 起動中（systemd の mks-prometheus）"
  else
    echo "Prometheus（native）: 停止"
  fi
  echo "ターゲット:"
  print_targets
}

docker_up() {
  echo "前提条件:"; check_docker_prerequisites
  echo "設定の検証:"; ensure_grafana_password; validate_docker
  docker compose -f "$HERE/docker-compose.yml" up -d
  echo "起動確認:"
  wait_for "$PROMETHEUS_URL/-/ready" "Prometheus" 120
  wait_for "http://127.0.0.1:3000/api/health" "Grafana" 120
  echo
  echo "Prometheus: http://localhost:9090"
  echo "Grafana:    http://localhost:3000 （ユーザー ${GRAFANA_ADMIN_USER:-admin}、パスワードは $HERE/.env の GRAFANA_ADMIN_PASSWORD）"
}

docker_down() {
  docker compose -f "$HERE/docker-compose.yml" down
}

native_check() {
  echo "設定の検証:"; validate_native
}

docker_check() {
  echo "設定の検証:"; validate_docker
}

docker_status() {
  docker compose -f "$HERE/docker-compose.yml" ps
  echo "ターゲット:"
  print_targets
}

# Run only when executed; sourcing the file (as the tests do) just defines the functions.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  if [ "$NATIVE" = 1 ]; then "native_$VERB"; else "docker_$VERB"; fi
fi
