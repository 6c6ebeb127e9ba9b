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
# With GATEWAY_CHECK_ONLY=1 it stops after `nginx -t` (scripts/checks/delivery.sh runs it so).
set -eu

: "${AUTH_UPSTREAM:?}" "${TRAIN_UPSTREAM:?}" "${BOOKING_UPSTREAM:?}" \
  "${PAYMENT_UPSTREAM:?}" "${NOTIFICATION_UPSTREAM:?}" "${WEB_ROOT:?}"
: "${NGINX_ERROR_LOG:=/dev/stderr}" "${NGINX_ACCESS_LOG:=/dev/stdout}"
export NGINX_ERROR_LOG NGINX_ACCESS_LOG
templates="${NGINX_TEMPLATE_DIR:-/etc/nginx/railrush-templates}"
prefix="${NGINX_PREFIX:-/tmp/nginx}"

# Exactly the variables the templates document; nginx's own $variables pass through.
# shellcheck disable=SC2016 # the list is literal on purpose
vars='${NGINX_ERROR_LOG} ${NGINX_ACCESS_LOG} ${AUTH_UPSTREAM} ${TRAIN_UPSTREAM} ${BOOKING_UPSTREAM} ${PAYMENT_UPSTREAM} ${NOTIFICATION_UPSTREAM} ${WEB_ROOT}'

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
