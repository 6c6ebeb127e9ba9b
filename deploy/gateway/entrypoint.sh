#!/bin/sh
# Entrypoint of the gateway image (gateway.Dockerfile): renders the nginx templates with the
# environment into a private prefix, checks the result with `nginx -t`, and runs nginx in
# the foreground. The layout is the one scripts/lib/stack.sh renders for the local stack:
#   $NGINX_PREFIX/conf/nginx.conf            <- nginx.conf.template
#   $NGINX_PREFIX/conf/conf.d/<name>.conf    <- every other <name>.conf.template
#   $NGINX_PREFIX/run, temp, logs            (pid and temp paths are relative to the prefix)
# The prefix must be writable (/tmp/nginx by default: an emptyDir under Kubernetes'
# read-only root filesystem).
#
# GATEWAY_PROFILE (default `default`) picks the rate limits, $templates/profiles/<name>.env
# (`load` raises them, for benchmarks only); its KEY=value lines become template variables,
# read exactly as scripts/lib/stack.sh and e2e/src/gateway.rs read them.
# GATEWAY_PORT (default 8080) is the port nginx listens on; REAL_IP_FROM (default
# 127.0.0.1/32, i.e. no proxy) the address range of the proxies in front of the gateway whose
# X-Forwarded-For names the client.
#
# With GATEWAY_CHECK_ONLY=1 it stops after `nginx -t` (scripts/checks/delivery.sh runs it so).
set -eu

: "${AUTH_UPSTREAM:?}" "${TRAIN_UPSTREAM:?}" "${BOOKING_UPSTREAM:?}" \
  "${PAYMENT_UPSTREAM:?}" "${NOTIFICATION_UPSTREAM:?}" "${WEB_ROOT:?}"
: "${NGINX_ERROR_LOG:=/dev/stderr}" "${NGINX_ACCESS_LOG:=/dev/stdout}"
: "${GATEWAY_PORT:=8080}" "${GATEWAY_PROFILE:=default}" "${REAL_IP_FROM:=127.0.0.1/32}"
export NGINX_ERROR_LOG NGINX_ACCESS_LOG GATEWAY_PORT REAL_IP_FROM
templates="${NGINX_TEMPLATE_DIR:-/etc/nginx/railrush-templates}"
prefix="${NGINX_PREFIX:-/tmp/nginx}"
profile="$templates/profiles/$GATEWAY_PROFILE.env"
[ -f "$profile" ] || { echo "unknown GATEWAY_PROFILE '$GATEWAY_PROFILE' (default or load)" >&2; exit 1; }

# Exactly the variables the templates document, plus the profile's keys; nginx's own
# $variables pass through.
# shellcheck disable=SC2016 # the list is literal on purpose
vars='${NGINX_ERROR_LOG} ${NGINX_ACCESS_LOG} ${GATEWAY_PORT} ${AUTH_UPSTREAM} ${TRAIN_UPSTREAM} ${BOOKING_UPSTREAM} ${PAYMENT_UPSTREAM} ${NOTIFICATION_UPSTREAM} ${WEB_ROOT} ${REAL_IP_FROM}'
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    '' | '#'*) continue ;;
    *=*) ;;
    *) echo "$profile: not a KEY=value line: $line" >&2; exit 1 ;;
  esac
  key=${line%%=*}
  value=${line#*=}
  case "$key" in
    '' | [!A-Z]* | *[!A-Z0-9_]*) echo "$profile: not a KEY=value line: $line" >&2; exit 1 ;;
  esac
  case "$value" in
    '' | *[[:space:]\"\']*) echo "$profile: not a KEY=value line: $line" >&2; exit 1 ;;
  esac
  export "$key=$value"
  vars="$vars \${$key}"
done <"$profile"

mkdir -p "$prefix/conf/conf.d" "$prefix/run" "$prefix/temp" "$prefix/logs"
rm -f "$prefix"/conf/conf.d/*.conf
for template in "$templates"/*.template; do
  name=$(basename "$template" .template)
  case "$name" in
    nginx.conf) out="$prefix/conf/nginx.conf" ;;
    *) out="$prefix/conf/conf.d/$name" ;;
  esac
  envsubst "$vars" <"$template" >"$out"
done

set -- -p "$prefix/" -e "$NGINX_ERROR_LOG" -c "$prefix/conf/nginx.conf"
nginx -t -q "$@"
[ "${GATEWAY_CHECK_ONLY:-0}" = 1 ] && exit 0
exec nginx "$@" -g 'daemon off;'
