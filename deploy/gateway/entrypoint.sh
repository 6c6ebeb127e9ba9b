#!/bin/sh
# Entrypoint of the gateway image (gateway.Dockerfile): renders the nginx templates with
# nginx/render.sh, the one renderer the local stack and the tests run too, into a private
# prefix, checks the result with `nginx -t`, and runs nginx in the foreground. The prefix
# must be writable (/tmp/nginx by default: an emptyDir under Kubernetes' read-only root
# filesystem); render.sh describes its layout and which variables it substitutes.
#
# NGINX_TEMPLATE_DIR (default /etc/nginx/railrush-templates) holds render.sh, the templates
# and profiles/. GATEWAY_PROFILE (default `default`) picks the workers' sizes and the rate
# limits, profiles/<name>.env (`load` raises the limits, for benchmarks only); a LIMIT_* or
# NGINX_WORKER_* variable set in the environment replaces that profile value. GATEWAY_PORT
# (default 8080) is the port nginx listens on; TRUSTED_PROXIES (default empty: none,
# X-Forwarded-For is never read) the addresses or CIDR ranges of the proxies in front of the
# gateway whose X-Forwarded-For names the client (Kubernetes: the ingress controller's pods,
# set per cluster in the overlay); NGINX_ERROR_LOG and NGINX_ACCESS_LOG (default /dev/stderr,
# /dev/stdout) where nginx logs.
# AUTH_UPSTREAM .. NOTIFICATION_UPSTREAM (host:port, or a service's replicas separated by
# commas; under Kubernetes the Service's one name, whose connections kube-proxy spreads over
# the pods) and WEB_ROOT are required.
#
# With GATEWAY_CHECK_ONLY=1 it stops after `nginx -t` (scripts/checks/delivery.sh runs it so).
set -eu

: "${NGINX_ERROR_LOG:=/dev/stderr}" "${NGINX_ACCESS_LOG:=/dev/stdout}"
: "${GATEWAY_PORT:=8080}" "${GATEWAY_PROFILE:=default}" "${TRUSTED_PROXIES:=}"
export NGINX_ERROR_LOG NGINX_ACCESS_LOG GATEWAY_PORT TRUSTED_PROXIES
templates="${NGINX_TEMPLATE_DIR:-/etc/nginx/railrush-templates}"
prefix="${NGINX_PREFIX:-/tmp/nginx}"

sh "$templates/render.sh" "$GATEWAY_PROFILE" "$prefix"

set -- -p "$prefix/" -e "$NGINX_ERROR_LOG" -c "$prefix/conf/nginx.conf"
nginx -t -q "$@"
[ "${GATEWAY_CHECK_ONLY:-0}" = 1 ] && exit 0
exec nginx "$@" -g 'daemon off;'
