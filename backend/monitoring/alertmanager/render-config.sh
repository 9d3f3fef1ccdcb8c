#!/bin/sh
# Renders alertmanager.yml from alertmanager.yml.tmpl and the ALERT_* environment variables
# (Alertmanager does not expand environment variables itself). POSIX sh + sed only: it also runs
# in the busybox-based Alertmanager image.
#
#   render-config.sh OUTPUT_DIR [CONFIG_DIR]
#
# Writes OUTPUT_DIR/alertmanager.yml, OUTPUT_DIR/secrets/{smtp-password,slack-webhook-url} (mode 600,
# only for configured channels) and copies templates/*.tmpl to OUTPUT_DIR/templates/.
# CONFIG_DIR (default: OUTPUT_DIR) is where Alertmanager will find those files at run time.
#
# Channels (a channel whose variables are all unset is left out; a half-configured one is an error):
#   Webhook: ALERT_WEBHOOK_URL
#   E-mail:  ALERT_EMAIL_TO, ALERT_EMAIL_FROM, ALERT_SMTP_SMARTHOST (host:port),
#            optional SMTP auth: ALERT_SMTP_USERNAME + ALERT_SMTP_PASSWORD
#   Slack:   ALERT_SLACK_WEBHOOK_URL, optional ALERT_SLACK_CHANNEL (e.g. #mks-alerts)
#   Dead-man's switch: ALERT_WATCHDOG_URL, a URL that expects the Watchdog alert every minute and
#            pages when it stops (healthchecks.io, Dead Man's Snitch, an on-call tool's heartbeat)
# Options:
#   ALERT_SMTP_REQUIRE_TLS    true (default) or false: false for a relay without STARTTLS, whose sends
#                             Alertmanager refuses otherwise
#   ALERT_WARNING_GROUP_WAIT  how long a warning waits before it is sent (default 5m): long enough for
#                             its critical twin to inhibit it
#
# The committed alertmanager.yml (no channel) is regenerated in this folder with:
#   env -i PATH="$PATH" sh render-config.sh . /etc/alertmanager
set -eu

fail() {
  printf 'render-config.sh: %s\n' "$1" >&2
  exit 1
}

[ $# -ge 1 ] && [ $# -le 2 ] || fail "使い方: render-config.sh OUTPUT_DIR [CONFIG_DIR]"
SRC=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
CONFIG_DIR=${2:-$OUT}

WEBHOOK_URL=${ALERT_WEBHOOK_URL:-}
EMAIL_TO=${ALERT_EMAIL_TO:-}
EMAIL_FROM=${ALERT_EMAIL_FROM:-}
SMTP_SMARTHOST=${ALERT_SMTP_SMARTHOST:-}
SMTP_USERNAME=${ALERT_SMTP_USERNAME:-}
SMTP_PASSWORD=${ALERT_SMTP_PASSWORD:-}
SLACK_WEBHOOK_URL=${ALERT_SLACK_WEBHOOK_URL:-}
SLACK_CHANNEL=${ALERT_SLACK_CHANNEL:-}
WATCHDOG_URL=${ALERT_WATCHDOG_URL:-}
SMTP_REQUIRE_TLS=${ALERT_SMTP_REQUIRE_TLS:-true}
WARNING_GROUP_WAIT=${ALERT_WARNING_GROUP_WAIT:-5m}

# These two are written without quotes: only the values Alertmanager reads as a boolean and a duration.
case $SMTP_REQUIRE_TLS in
  true | false) ;;
  *) fail "ALERT_SMTP_REQUIRE_TLS は true か false です（値: $SMTP_REQUIRE_TLS）" ;;
esac
case $WARNING_GROUP_WAIT in
  '' | *[!0-9smh]* | [!0-9]*) fail "ALERT_WARNING_GROUP_WAIT は 30s・5m・1h のような時間です（値: $WARNING_GROUP_WAIT）" ;;
esac

# Values are substituted line by line: a line break would cut the YAML.
NL='
'
for value in "$WEBHOOK_URL" "$EMAIL_TO" "$EMAIL_FROM" "$SMTP_SMARTHOST" "$SMTP_USERNAME" "$SMTP_PASSWORD" \
  "$SLACK_WEBHOOK_URL" "$SLACK_CHANNEL" "$WATCHDOG_URL" "$CONFIG_DIR"; do
  case $value in *"$NL"*) fail "ALERT_* の値に改行を含めることはできません" ;; esac
done

# --- Which channels are on ------------------------------------------------------------------------
WEBHOOK=off
[ -z "$WEBHOOK_URL" ] || WEBHOOK=on

EMAIL=off
SMTP_AUTH=off
if [ -n "$EMAIL_TO$EMAIL_FROM$SMTP_SMARTHOST$SMTP_USERNAME$SMTP_PASSWORD" ]; then
  [ -n "$EMAIL_TO" ] || fail "メール: ALERT_EMAIL_TO が未設定です（メールを使わないなら ALERT_EMAIL_* / ALERT_SMTP_* をすべて空に）"
  [ -n "$EMAIL_FROM" ] || fail "メール: ALERT_EMAIL_FROM が未設定です"
  [ -n "$SMTP_SMARTHOST" ] || fail "メール: ALERT_SMTP_SMARTHOST（host:port）が未設定です"
  EMAIL=on
  if [ -n "$SMTP_USERNAME$SMTP_PASSWORD" ]; then
    [ -n "$SMTP_USERNAME" ] && [ -n "$SMTP_PASSWORD" ] \
      || fail "メール: SMTP 認証には ALERT_SMTP_USERNAME と ALERT_SMTP_PASSWORD の両方が必要です"
    SMTP_AUTH=on
  fi
fi

WATCHDOG=off
[ -z "$WATCHDOG_URL" ] || WATCHDOG=on

SLACK=off
SLACK_CHANNEL_SET=off
if [ -n "$SLACK_WEBHOOK_URL" ]; then
  SLACK=on
  [ -z "$SLACK_CHANNEL" ] || SLACK_CHANNEL_SET=on
elif [ -n "$SLACK_CHANNEL" ]; then
  fail "Slack: ALERT_SLACK_CHANNEL だけが設定されています（ALERT_SLACK_WEBHOOK_URL も必要です）"
fi

# --- sed program ----------------------------------------------------------------------------------
# quote VALUE: the value for a sed replacement inside a single-quoted YAML string
# (YAML doubles ', sed needs \ & and the | delimiter escaped). Nothing is evaluated.
quote() {
  printf '%s' "$1" | sed -e "s/'/''/g" -e 's/[\\&|]/\\&/g'
}

# subst NAME VALUE: a sed command replacing ${NAME} by VALUE.
subst() {
  printf 's|\\${%s}|%s|g' "$1" "$(quote "$2")"
}

# drop NAME: a sed command deleting the block between "# @begin NAME" and "# @end NAME".
drop() {
  printf '/# @begin %s$/,/# @end %s$/d' "$1" "$1"
}

set -- -e '/^##/d'
[ "$WEBHOOK" = on ] || set -- "$@" -e "$(drop webhook)"
[ "$WATCHDOG" = on ] || set -- "$@" -e "$(drop watchdog)"
[ "$EMAIL" = on ] || set -- "$@" -e "$(drop email)"
[ "$SMTP_AUTH" = on ] || set -- "$@" -e "$(drop smtp-auth)"
[ "$SLACK" = on ] || set -- "$@" -e "$(drop slack)"
[ "$SLACK_CHANNEL_SET" = on ] || set -- "$@" -e "$(drop slack-channel)"
set -- "$@" -e '/# @begin /d' -e '/# @end /d'
set -- "$@" -e "$(subst CONFIG_DIR "$CONFIG_DIR")"
set -- "$@" -e "$(subst ALERT_WEBHOOK_URL "$WEBHOOK_URL")"
set -- "$@" -e "$(subst ALERT_WATCHDOG_URL "$WATCHDOG_URL")"
set -- "$@" -e "$(subst ALERT_EMAIL_TO "$EMAIL_TO")"
set -- "$@" -e "$(subst ALERT_EMAIL_FROM "$EMAIL_FROM")"
set -- "$@" -e "$(subst ALERT_SMTP_SMARTHOST "$SMTP_SMARTHOST")"
set -- "$@" -e "$(subst ALERT_SMTP_USERNAME "$SMTP_USERNAME")"
set -- "$@" -e "$(subst ALERT_SLACK_CHANNEL "$SLACK_CHANNEL")"
set -- "$@" -e "$(subst ALERT_SMTP_REQUIRE_TLS "$SMTP_REQUIRE_TLS")"
set -- "$@" -e "$(subst ALERT_WARNING_GROUP_WAIT "$WARNING_GROUP_WAIT")"

# --- Write the files ------------------------------------------------------------------------------
{
  printf '# Generated by render-config.sh from alertmanager.yml.tmpl: edit the template, not this file.\n'
  printf '# Channels: webhook=%s email=%s slack=%s\n' "$WEBHOOK" "$EMAIL" "$SLACK"
  printf '# The committed alertmanager.yml (no channel) is: env -i PATH="$PATH" sh render-config.sh . /etc/alertmanager\n'
  sed "$@" "$SRC/alertmanager.yml.tmpl"
} >"$OUT/alertmanager.yml.new"
mv "$OUT/alertmanager.yml.new" "$OUT/alertmanager.yml"

# write_secret NAME VALUE: OUTPUT_DIR/secrets/NAME, readable by its owner only, without a line break.
write_secret() {
  (umask 077 && mkdir -p "$OUT/secrets")
  (umask 077 && printf '%s' "$2" >"$OUT/secrets/$1")
  chmod 600 "$OUT/secrets/$1"
}

rm -f "$OUT/secrets/smtp-password" "$OUT/secrets/slack-webhook-url"
[ "$SMTP_AUTH" = off ] || write_secret smtp-password "$SMTP_PASSWORD"
[ "$SLACK" = off ] || write_secret slack-webhook-url "$SLACK_WEBHOOK_URL"

if [ "$OUT" != "$SRC" ]; then
  mkdir -p "$OUT/templates"
  cp "$SRC"/templates/*.tmpl "$OUT/templates/"
fi

# --- Report (no secret values) --------------------------------------------------------------------
onoff() {
  if [ "$1" = on ]; then printf '有効'; else printf '無効'; fi
}
printf 'Alertmanager の設定を生成しました: %s\n' "$OUT/alertmanager.yml"
printf '  Webhook: %s\n' "$(onoff "$WEBHOOK")"
if [ "$EMAIL" = on ]; then
  printf '  メール:  有効（SMTP 認証: %s、STARTTLS 必須: %s）\n' "$(onoff "$SMTP_AUTH")" "$SMTP_REQUIRE_TLS"
else
  printf '  メール:  無効\n'
fi
if [ "$SLACK" = on ] && [ "$SLACK_CHANNEL_SET" = on ]; then
  printf '  Slack:   有効（チャンネル %s）\n' "$SLACK_CHANNEL"
elif [ "$SLACK" = on ]; then
  printf '  Slack:   有効（チャンネルは Webhook の既定）\n'
else
  printf '  Slack:   無効\n'
fi
printf '  生存確認（Watchdog）: %s\n' "$(onoff "$WATCHDOG")"
printf '  warning の送信待ち: %s\n' "$WARNING_GROUP_WAIT"
if [ "$WEBHOOK$EMAIL$SLACK" = offoffoff ]; then
  printf '  通知先が 1 つもありません。アラートは Alertmanager の画面（ポート 9093）でのみ確認できます。\n'
fi
