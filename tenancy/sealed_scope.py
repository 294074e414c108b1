"""The tenant scope as PostgreSQL receives it: sealed with a key that SQL on the connection cannot read.

The execute wrapper (tenancy.rls) gives each transaction the setting `app.tenant_scope` holding
`<scope>.<issued at>.<seal>`: the scope is a company id or `*` (every company, the audited
all-companies context), and the seal is HMAC-SHA256 of the rest under TENANCY_SCOPE_KEY. The
policies read the scope only through `tenancy_current_scope()`, a SECURITY DEFINER function owned by
the tables' owner that checks the seal against its copy of the key, kept in a schema the
application role has no access to. SQL injected into company A's request can read and set any
setting, but it can seal no scope of its own: forging, guessing or a stale seal yields no scope, so
no rows. The seal is sent as a bound parameter, so it never shows in another session's
`pg_stat_activity` either.
"""

import functools
import hashlib
import hmac
import time

from django.conf import settings

SCOPE_SETTING = "app.tenant_scope"
EVERY_COMPANY = "*"
# How far the database's clock may be from the application's, and how long a seal stays good.
SEAL_TOLERANCE_SECONDS = 300
PRIVATE_SCHEMA = "tenancy_private"
KEY_TABLE = f"{PRIVATE_SCHEMA}.scope_key"
CURRENT_SCOPE_FUNCTION = "tenancy_current_scope"


def scope_key() -> bytes:
    """The key scopes are sealed with: TENANCY_SCOPE_KEY, else one derived from SECRET_KEY."""
    return _key_from(getattr(settings, "TENANCY_SCOPE_KEY", ""), settings.SECRET_KEY)


@functools.lru_cache(maxsize=4)
def _key_from(configured: str, secret_key: str) -> bytes:
    # Cached: every transaction seals, and the settings rarely change (tests override them).
    if configured:
        return configured.encode()
    return hmac.new(secret_key.encode(), b"tenancy.sealed-scope", hashlib.sha256).hexdigest().encode()


def seal(scope: str, *, issued_at: int | None = None) -> str:
    """The setting's value for a scope (a company id or EVERY_COMPANY), sealed now."""
    issued = str(int(time.time()) if issued_at is None else issued_at)
    mac = hmac.new(scope_key(), f"{scope}.{issued}".encode(), hashlib.sha256).hexdigest()
    return f"{scope}.{issued}.{mac}"


# The one function the policies call. It is STABLE and the policies call it through a scalar
# subquery, so it runs once per statement. A seal's age is measured on the clock, not by now(),
# which stands still at the start of a transaction: a transaction older than the tolerance (a task,
# a migration) must still accept the fresh seal of a scope it enters late. search_path is pinned
# (pg_temp last) so that no object the application role creates can stand in for the key table or
# pgcrypto's hmac().
UUID_TEXT = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# Built from this module's constants only, never from input.
CURRENT_SCOPE_SQL = f"""
CREATE OR REPLACE FUNCTION {CURRENT_SCOPE_FUNCTION}() RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    sealed text := current_setting('{SCOPE_SETTING}', true);
    parts text[];
    issued bigint;
    key bytea;
BEGIN
    IF sealed IS NULL OR sealed = '' THEN
        RETURN NULL;
    END IF;
    parts := string_to_array(sealed, '.');
    IF array_length(parts, 1) IS DISTINCT FROM 3 OR parts[2] !~ '^[0-9]{{1,12}}$'
       OR (parts[1] <> '{EVERY_COMPANY}' AND parts[1] !~ '{UUID_TEXT}')
    THEN
        RETURN NULL;
    END IF;
    issued := parts[2]::bigint;
    IF abs(extract(epoch FROM clock_timestamp())::bigint - issued) > {SEAL_TOLERANCE_SECONDS} THEN
        RETURN NULL;
    END IF;
    SELECT k.key INTO key FROM {KEY_TABLE} AS k WHERE k.id = 1;
    IF key IS NULL OR encode(
        public.hmac(convert_to(parts[1] || '.' || parts[2], 'UTF8'), key, 'sha256'), 'hex'
    ) <> parts[3] THEN
        RETURN NULL;
    END IF;
    RETURN parts[1];
END
$$;
"""


def install(cursor) -> None:
    """Create (or update) the key's private schema, the owner's copy of the key and the scope function.

    Runs as the tables' owner: in migrations, and in `tenancy_grant_app_role` after each deploy, so a
    changed key reaches the database. Idempotent.
    """
    cursor.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public")
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {PRIVATE_SCHEMA}")
    cursor.execute(f"REVOKE ALL ON SCHEMA {PRIVATE_SCHEMA} FROM PUBLIC")
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {KEY_TABLE} (id integer PRIMARY KEY CHECK (id = 1), key bytea NOT NULL)"
    )
    cursor.execute(
        f"INSERT INTO {KEY_TABLE} (id, key) VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET key = EXCLUDED.key",
        [scope_key()],
    )
    cursor.execute(CURRENT_SCOPE_SQL)
