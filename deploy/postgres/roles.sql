-- penaltypay's database and its two roles (docs/runbook.md "Database roles", ADR 0017).
-- Run once, as a superuser (or the platform's admin role), before the first migrate:
--
--   psql -v ON_ERROR_STOP=1 -v owner=penaltypay_owner -v app=penaltypay_app \
--        -v database=penaltypay -v owner_password="$OWNER_PW" -v app_password="$APP_PW" \
--        -f deploy/postgres/roles.sql
--
-- The owner runs `penaltypay migrate` (the migration Job) and nothing else; the app role
-- runs the web tier, the workers and every day-to-day command. Migrate, run by the owner
-- with DATABASE_APP_ROLE set, grants the app role its rows (penaltypay.operations.db_roles).
\set ON_ERROR_STOP on
CREATE ROLE :"owner" LOGIN PASSWORD :'owner_password' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE ROLE :"app" LOGIN PASSWORD :'app_password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
CREATE DATABASE :"database" OWNER :"owner";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"database" TO :"app";  -- no TEMPORARY: no tables of its own at all
\connect :"database"
-- Only the owner creates objects (PostgreSQL 15's default for the public schema, said aloud).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";
-- The audit trigger checks the retention hash with pgcrypto's hmac().
CREATE EXTENSION IF NOT EXISTS pgcrypto;
