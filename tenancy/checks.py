"""Refuse to serve when the application's database role could bypass row-level security, or cannot seal."""

import uuid

import psycopg
from django.apps import apps
from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured
from django.db import connection as default_connection

from .rls import set_scope, tenant_models_in_state
from .sealed_scope import CURRENT_SCOPE_FUNCTION

FIX_HINT = (
    "Connect DATABASE_URL as the application role (no superuser, no BYPASSRLS, owning no table) and "
    "run migrations as the owner with MIGRATION_DATABASE_URL; see docs/DEPLOY.md. For local "
    "development only, TENANCY_ALLOW_RLS_BYPASS=true turns this check off."
)


def rls_bypass_problems(connection) -> list[str]:
    """Why the role of this PostgreSQL connection could read or change every company's rows."""
    tables = [model._meta.db_table for model in tenant_models_in_state(apps)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        role, superuser, bypassrls = cursor.fetchone()
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = "
            "current_user) AND relkind IN ('r', 'p') AND relname = ANY(%s) ORDER BY relname",
            [tables],
        )
        owned = [row[0] for row in cursor.fetchall()]
    problems = []
    if superuser:
        problems.append(f"the database role {role!r} is a superuser")
    if bypassrls:
        problems.append(f"the database role {role!r} has BYPASSRLS")
    if owned:
        problems.append(f"the database role {role!r} owns tenant tables ({', '.join(owned)})")
    return problems


SEAL_HINT = (
    "Run `manage.py tenancy_grant_app_role <role>` as the tables' owner after `migrate`: it stores the "
    "scope key (TENANCY_SCOPE_KEY, else derived from SECRET_KEY) where the policies read it. Keep the "
    "clocks of the application and database machines in sync (NTP)."
)


def scope_seal_problems(connection) -> list[str]:
    """Why the database would not accept this application's sealed tenant scope (so show no rows)."""
    probe = str(uuid.uuid4())
    connection.ensure_connection()
    raw = connection.connection
    try:
        with raw.transaction():
            set_scope(raw, probe)
            accepted = raw.execute(f"SELECT {CURRENT_SCOPE_FUNCTION}()").fetchone()[0]
    except psycopg.Error as error:
        return [f"the database has no tenant scope function ({error}); run migrate"]
    if accepted != probe:
        return ["the database does not accept this application's tenant scope seal (another key or clock)"]
    return []


def _enforced(connection) -> bool:
    return (
        connection.vendor == "postgresql"
        and not settings.DEBUG
        and not getattr(settings, "TENANCY_ALLOW_RLS_BYPASS", False)
    )


def refuse_rls_bypass(connection=None) -> None:
    """Raise ImproperlyConfigured at startup when production settings connect as a bypassing role."""
    at_startup = connection is None
    connection = connection or default_connection
    if not _enforced(connection):
        return
    try:
        problems = rls_bypass_problems(connection)
        seal_problems = scope_seal_problems(connection)
    finally:
        if at_startup:
            connection.close()  # No connection survives into forked workers.
    if problems:
        raise ImproperlyConfigured(f"Refusing to serve: {'; '.join(problems)}. {FIX_HINT}")
    if seal_problems:
        raise ImproperlyConfigured(f"Refusing to serve: {'; '.join(seal_problems)}. {SEAL_HINT}")


@register("tenancy", deploy=True)
def check_application_role(app_configs=None, **kwargs):
    """Deploy check (`manage.py check --deploy`): the application role cannot bypass RLS."""
    if not _enforced(default_connection):
        return []
    errors = [
        Error(f"Row-level security can be bypassed: {problem}.", hint=FIX_HINT, id="tenancy.E001")
        for problem in rls_bypass_problems(default_connection)
    ]
    errors += [
        Error(f"Tenant scopes cannot be sealed: {problem}.", hint=SEAL_HINT, id="tenancy.E002")
        for problem in scope_seal_problems(default_connection)
    ]
    return errors
