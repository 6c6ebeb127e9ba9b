#!/bin/sh
# nginx/render.sh: THE renderer of the gateway's nginx templates. The local stack
# (scripts/lib/stack.sh rr_render_gateway), the gateway image (deploy/gateway/entrypoint.sh)
# and the tests (e2e/src/gateway.rs) all run this script; nothing else renders them.
#
#   render.sh PROFILE PREFIX    render the templates beside this script into PREFIX
#   render.sh --values PROFILE  print the profile's KEY=value lines as a render would use
#                               them (environment overrides applied); render nothing
#
# The rules:
# - The templates are the *.template files in this script's directory; the profiles are
#   profiles/<PROFILE>.env beside them (default, or load for benchmarks only).
# - Substituted are exactly these variables, all taken from the environment and all
#   required (non-empty):
#     NGINX_ERROR_LOG NGINX_ACCESS_LOG GATEWAY_PORT AUTH_UPSTREAM TRAIN_UPSTREAM
#     BOOKING_UPSTREAM PAYMENT_UPSTREAM NOTIFICATION_UPSTREAM WEB_ROOT
#   (their meaning is in the templates' headers), plus every KEY of the profile. Each
#   *_UPSTREAM is host:port, or several separated by commas (a service's replicas): the
#   template's `server ${X_UPSTREAM};` line then renders as one `server` line each. A profile
#   key's value is the profile's, unless the environment sets that KEY (a test's slower
#   rate, an operator's override). `envsubst` is given that explicit list, so nginx's own
#   $variables stay as they are.
# - One more, derived: REAL_IP_DIRECTIVES, made here from the optional TRUSTED_PROXIES (the
#   only variable that may be unset or empty): the addresses or CIDR ranges of the proxies
#   in front of the gateway (an ingress controller, a load balancer), separated by commas or
#   spaces. Empty (the default; the local stack, the tests, docker compose): no directive
#   at all, so nginx never reads X-Forwarded-For and the connecting address is the client.
#   Otherwise one `set_real_ip_from` per entry, `real_ip_header X-Forwarded-For` and
#   `real_ip_recursive on` (the client is the right-most address not in the list, so an
#   address a client prepends itself is never believed). An entry is IPv4 or IPv6 with an
#   optional /prefix; 0.0.0.0/0, ::/0 and anything else are refused, and so is the former
#   REAL_IP_FROM (a caller still setting it would believe it trusts a proxy it does not).
# - The profile format: blank lines and lines starting with # are skipped; every other line
#   is KEY=value, KEY in [A-Z][A-Z0-9_]* and not one of the fixed names above, the value
#   taken literally up to the end of the line, non-empty, without spaces or quotes (an
#   environment override must follow the same value rule).
# - nginx.conf.template becomes PREFIX/conf/nginx.conf, every other <name>.template
#   PREFIX/conf/conf.d/<name> (files already in conf.d are removed first); logs/, run/ and
#   temp/ are created beside conf/ (nginx.conf's relative pid and temp paths resolve against
#   the prefix given with `nginx -p PREFIX/`). Run as root, it makes PREFIX and temp/ mode
#   755: root's nginx runs its workers as an unprivileged user that must reach them.
# - A `${` left in a rendered file is an error (a template uses a variable nobody sets).
#
# It only renders: the caller checks the result (`nginx -t`) and starts nginx, with
#   nginx -p PREFIX/ -e <error log> -c PREFIX/conf/nginx.conf
# POSIX sh and envsubst (Debian gettext-base; the official nginx images have it).
set -eu

die() { echo "nginx/render.sh: $*" >&2; exit 1; }
usage() { die "usage: render.sh PROFILE PREFIX | render.sh --values PROFILE"; }

fixed='NGINX_ERROR_LOG NGINX_ACCESS_LOG GATEWAY_PORT AUTH_UPSTREAM TRAIN_UPSTREAM
BOOKING_UPSTREAM PAYMENT_UPSTREAM NOTIFICATION_UPSTREAM WEB_ROOT'

mode=render
if [ "${1-}" = --values ]; then
  mode=values
  shift
  [ "$#" -eq 1 ] || usage
else
  [ "$#" -eq 2 ] || usage
fi
name=$1
dir=$(cd "$(dirname "$0")" && pwd)

case "$name" in
  '' | */* | .*) die "unknown gateway profile '$name'" ;;
esac
profile="$dir/profiles/$name.env"
if [ ! -f "$profile" ]; then
  known=$(cd "$dir/profiles" && for f in *.env; do printf ' %s' "${f%.env}"; done)
  die "unknown gateway profile '$name' (nginx/profiles/ has:$known)"
fi

# The profile's keys, each exported with its value (the environment's, when it sets one).
list=''
values=''
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    '' | '#'*) continue ;;
    *=*) ;;
    *) die "$profile: not a KEY=value line: $line" ;;
  esac
  key=${line%%=*}
  value=${line#*=}
  case "$key" in
    '' | [!A-Z]* | *[!A-Z0-9_]*) die "$profile: not a KEY=value line: $line" ;;
  esac
  for f in $fixed; do
    [ "$key" != "$f" ] || die "$profile: $key is set by the caller, not by a profile"
  done
  case "$key" in
    TRUSTED_PROXIES | REAL_IP_DIRECTIVES | REAL_IP_FROM)
      die "$profile: $key is set by the caller, not by a profile" ;;
  esac
  eval "overridden=\${$key+x}"
  if [ -n "$overridden" ]; then
    eval "value=\$$key"
    from="the environment's $key"
  else
    from=$profile
  fi
  case "$value" in
    '' | *[[:space:]\"\']*) die "$from: not a valid value: $key=$value" ;;
  esac
  export "$key=$value"
  list="$list \${$key}"
  values="$values$key=$value
"
done <"$profile"

if [ "$mode" = values ]; then
  printf '%s' "$values"
  exit 0
fi

prefix=${2%/}
[ -n "$prefix" ] || usage
for f in $fixed; do
  eval "value=\${$f-}"
  [ -n "$value" ] || die "$f is not set (the caller sets every one of:" $fixed")"
  export "$f"
  list="$list \${$f}"
done

# An upstream of several replicas (see the rules above): "a:1,b:2" renders the template's
# `server ${X_UPSTREAM};` as `server a:1;` and `server b:2;` on lines of their own.
for f in AUTH_UPSTREAM TRAIN_UPSTREAM BOOKING_UPSTREAM PAYMENT_UPSTREAM NOTIFICATION_UPSTREAM; do
  eval "value=\$$f"
  case "$value" in
    ,* | *, | *,,* | *[!A-Za-z0-9.:/_,[\]-]*)
      die "$f: '$value' is not host:port or a comma-separated list of them" ;;
  esac
  servers=''
  set -f
  old_ifs=$IFS
  IFS=,
  for server in $value; do
    servers="${servers:+$servers;
    server }$server"
  done
  IFS=$old_ifs
  set +f
  export "$f=$servers"
done

# The trusted proxies (see the rules above) become REAL_IP_DIRECTIVES.
[ -z "${REAL_IP_FROM+x}" ] \
  || die "REAL_IP_FROM is no longer read: list the proxies in front of the gateway in TRUSTED_PROXIES (empty: none)"
REAL_IP_DIRECTIVES='    # TRUSTED_PROXIES is empty: X-Forwarded-For is never read.'
proxies=$(printf '%s' "${TRUSTED_PROXIES-}" | tr ',' ' ')
if [ -n "$(printf '%s' "$proxies" | tr -d '[:space:]')" ]; then
  REAL_IP_DIRECTIVES=''
  set -f # no pathname expansion of the entries
  for p in $proxies; do
    case "$p" in
      0.0.0.0/0 | ::/0 | 0/0 | */0)
        die "TRUSTED_PROXIES: $p would trust every address; list the proxies' own addresses" ;;
      *[!0-9A-Fa-f.:/]* | /* | */*/*)
        die "TRUSTED_PROXIES: '$p' is not an address or CIDR range" ;;
    esac
    case "$p" in
      *.* | *:*) ;;
      *) die "TRUSTED_PROXIES: '$p' is not an address or CIDR range" ;;
    esac
    REAL_IP_DIRECTIVES="$REAL_IP_DIRECTIVES    set_real_ip_from  $p;
"
  done
  REAL_IP_DIRECTIVES="$REAL_IP_DIRECTIVES    real_ip_header    X-Forwarded-For;
    real_ip_recursive on;"
  set +f
fi
export REAL_IP_DIRECTIVES
list="$list \${REAL_IP_DIRECTIVES}"
command -v envsubst >/dev/null 2>&1 \
  || die "envsubst is missing (Debian package gettext-base, Alpine package gettext)"

mkdir -p "$prefix/conf/conf.d" "$prefix/logs" "$prefix/run" "$prefix/temp"
# Only root's nginx hands requests to workers of another user (an image's unprivileged
# user may not own a mounted prefix, and needs no chmod).
if [ "$(id -u)" = 0 ]; then chmod 755 "$prefix" "$prefix/temp"; fi
rm -f "$prefix"/conf/conf.d/*

rendered=0
for template in "$dir"/*.template; do
  [ -f "$template" ] || continue
  base=$(basename "$template" .template)
  case "$base" in
    nginx.conf) out="$prefix/conf/nginx.conf" ;;
    *) out="$prefix/conf/conf.d/$base" ;;
  esac
  envsubst "$list" <"$template" >"$out"
  if left=$(grep -n '[$]{' "$out"); then
    die "$template uses a variable that is neither fixed nor a key of $profile (line:text of $out): $left"
  fi
  rendered=$((rendered + 1))
done
[ "$rendered" -gt 0 ] || die "no *.template in $dir"
