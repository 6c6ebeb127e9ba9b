#!/bin/sh
# One-shot key generator for docker-compose.yml (development only).
# Writes, once, into two volumes:
#   /secrets/auth  jwt_private.pem (Ed25519), jwt_public.pem, otp_secret, nid_secret -> auth-service
#   /secrets/jwt   jwt_public.pem                                          -> every other service
#   /secrets/tickets ticket_private.pem (Ed25519)                          -> booking-service
# Existing keys are kept, so tokens survive `docker compose down` (not `down -v`).
set -eu

command -v openssl >/dev/null 2>&1 || apk add --no-cache openssl >/dev/null
auth="${AUTH_DIR:-/secrets/auth}"
public="${PUBLIC_DIR:-/secrets/jwt}"
tickets="${TICKETS_DIR:-/secrets/tickets}"
uid="${SERVICE_UID:-10001}"
mkdir -p "$auth" "$public" "$tickets"

if [ ! -s "$auth/jwt_private.pem" ]; then
  openssl genpkey -algorithm ed25519 -out "$auth/jwt_private.pem"
  echo "keygen: new Ed25519 key pair"
fi
openssl pkey -in "$auth/jwt_private.pem" -pubout -out "$auth/jwt_public.pem"
cp "$auth/jwt_public.pem" "$public/jwt_public.pem"
if [ ! -s "$auth/otp_secret" ]; then
  openssl rand -hex 32 | tr -d '\n' >"$auth/otp_secret"
  echo "keygen: new OTP secret"
fi
if [ ! -s "$auth/nid_secret" ]; then
  openssl rand -hex 32 | tr -d '\n' >"$auth/nid_secret"
  echo "keygen: new NID secret"
fi

if [ ! -s "$tickets/ticket_private.pem" ]; then
  openssl genpkey -algorithm ed25519 -out "$tickets/ticket_private.pem"
  echo "keygen: new ticket signing key"
fi

chown -R "$uid:$uid" "$auth" "$public" "$tickets"
chmod 0400 "$auth/jwt_private.pem" "$auth/otp_secret" "$auth/nid_secret" "$tickets/ticket_private.pem"
chmod 0444 "$auth/jwt_public.pem" "$public/jwt_public.pem"
echo "keygen: keys ready"
