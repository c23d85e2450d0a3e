#!/bin/sh
# compose.yaml's database container runs this once, when its data volume is new
# (/docker-entrypoint-initdb.d): penaltypay's database and its two roles, from roles.sql.
set -eu
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v owner="${PENALTYPAY_DB_OWNER:-penaltypay_owner}" \
  -v app="${PENALTYPAY_DB_APP:-penaltypay_app}" \
  -v database="${PENALTYPAY_DB_NAME:-penaltypay}" \
  -v owner_password="${PENALTYPAY_OWNER_PASSWORD:?set PENALTYPAY_OWNER_PASSWORD}" \
  -v app_password="${PENALTYPAY_APP_PASSWORD:?set PENALTYPAY_APP_PASSWORD}" \
  -f "${PENALTYPAY_ROLES_SQL:-/penaltypay/roles.sql}"
