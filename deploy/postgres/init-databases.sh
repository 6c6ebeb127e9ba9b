#!/bin/sh
# PostgreSQL first-start hook (mounted into /docker-entrypoint-initdb.d by docker-compose.yml
# and by k8s/overlays/dev). Creates one role and one database per service: railrush_<svc>
# owned by railrush_<svc>. Runs only when the data volume is empty; the services apply their
# own migrations. Idempotent, so it also prepares a managed server (RDS), one service at a
# time with its own password (docs/deployment.md), with PGHOST/PGPASSWORD set.
#
#   RAILRUSH_SERVICES     space-separated service short names (auth train booking payment notification)
#   RAILRUSH_DB_PASSWORD  password given to every service role (development only)
set -eu

: "${RAILRUSH_SERVICES:=auth train booking payment notification}"
: "${RAILRUSH_DB_PASSWORD:?set RAILRUSH_DB_PASSWORD}"
: "${POSTGRES_USER:=postgres}"

for svc in $RAILRUSH_SERVICES; do
  name="railrush_${svc}"
  echo "init-databases: role and database ${name}"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
       -v name="$name" -v password="$RAILRUSH_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'name', :'password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'name') \gexec
-- A non-superuser (the RDS master user) may only give a database to a role it can SET ROLE to.
SELECT format('GRANT %I TO CURRENT_USER', :'name') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'name') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'name') \gexec
SQL
done
