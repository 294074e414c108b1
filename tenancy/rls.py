"""Isolation enforced by PostgreSQL: the per-transaction tenant setting, row-level security, composite keys.

Every tenant table gets `UNIQUE (company_id, id)`, a composite foreign key `(company_id, x_id) ->
x (company_id, id)` beside each single-column foreign key to another tenant table, and a row-level
security policy comparing `company_id` with the transaction's sealed scope (tenancy.sealed_scope):
a company, or every company for the audited all-companies context.

The setting is made with `set_config(..., true)`: it lasts until the transaction ends, so nothing
is left on a connection handed back to a transaction-mode pooler. One execute wrapper, installed on
every PostgreSQL connection, makes sure the transaction carries the tenant context of the code
running the statement; it costs one extra round trip per transaction whose context is not empty.
On SQLite everything here does nothing.
"""

from __future__ import annotations

import time

import psycopg
from django.db import migrations
from django.db.backends.signals import connection_created
from psycopg.pq import TransactionStatus

from . import sealed_scope
from .context import current_scope
from .sealed_scope import CURRENT_SCOPE_FUNCTION, EVERY_COMPANY, SCOPE_SETTING, SEAL_TOLERANCE_SECONDS, seal

POLICY_NAME = "tenant_isolation"
# Scalar subqueries become init plans: the sealed scope is checked once per statement, not once per
# row, and the every-company test is a boolean by then, so a row costs one uuid comparison.
# A CASE rather than `company_id = ... OR every_company`: the planner prices an OR of two unknown
# values as matching a few rows in a thousand and multiplies that into the ORM's own
# `company_id = ...`, so for a large company it expected 61 rows of 10,000 and sorted them all instead
# of reading the first page from an index (docs/BENCHMARKS.md, section 2). A CASE is priced at one
# half, and lets nothing more through: a row is visible when the scope is every company, or when its
# company is the scope. A missing, forged or stale seal is no scope: no row.
POLICY_CONDITION = (
    f"CASE WHEN (SELECT {CURRENT_SCOPE_FUNCTION}() = '{EVERY_COMPANY}') THEN true "
    f"ELSE company_id = (SELECT NULLIF({CURRENT_SCOPE_FUNCTION}(), '{EVERY_COMPANY}')::uuid) END"
)
_SET_SCOPE_SQL = f"SELECT set_config('{SCOPE_SETTING}', %s, true)"
# A transaction that outlives a seal's tolerance seals its scope again before its next statement.
RESEAL_AFTER_SECONDS = SEAL_TOLERANCE_SECONDS / 5
_NO_SCOPE = ""
# Savepoint statements pass untouched: a setting made just before ROLLBACK TO SAVEPOINT would be undone.
_TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


def wanted_scope() -> str:
    """The scope the current tenant context asks for: a company id, EVERY_COMPANY, or none ("")."""
    scope = current_scope()
    if scope is None:
        return _NO_SCOPE
    if scope.company_id is not None:
        return str(scope.company_id)
    return EVERY_COMPANY if scope.spans_all_companies else _NO_SCOPE


def set_scope(raw, scope: str) -> None:
    """Give the raw psycopg connection's transaction this scope, sealed.

    A server-side bound parameter (psycopg's plain Cursor, where Django's cursors inline values), so
    the seal never appears in the statement text other sessions see in pg_stat_activity; unprepared,
    as a transaction-mode pooler needs.
    """
    with psycopg.Cursor(raw) as cursor:
        cursor.execute(_SET_SCOPE_SQL, [seal(scope) if scope else ""], prepare=False)


class TransactionContext:
    """Execute wrapper that gives each transaction of one connection the current tenant context."""

    def __init__(self, connection):
        self.connection = connection
        self.scope = _NO_SCOPE
        self.savepoints: tuple = ()
        self.sealed_at = 0.0

    def __call__(self, execute, sql, params, many, context):
        raw = self.connection.connection
        if raw is None:
            return execute(sql, params, many, context)
        status = raw.info.transaction_status
        # Only the head of the statement is inspected: bulk inserts can be megabytes of SQL.
        if sql[:32].lstrip().upper().startswith(_TRANSACTION_CONTROL):
            if status == TransactionStatus.IDLE:
                # A SAVEPOINT opening a new transaction (an atomic block nested at once in another):
                # whatever was set ended with the previous transaction, though no statement saw it end.
                self.scope, self.savepoints = _NO_SCOPE, ()
            return execute(sql, params, many, context)
        if status == TransactionStatus.IDLE:
            # Between transactions: whatever was set ended with the previous one.
            self.scope, self.savepoints = _NO_SCOPE, ()
        elif status != TransactionStatus.INTRANS:
            return execute(sql, params, many, context)  # Failed transaction: the statement fails anyway.
        wanted = wanted_scope()
        if raw.autocommit:
            if wanted == _NO_SCOPE:
                return execute(sql, params, many, context)
            # A statement outside any transaction is its own transaction: open one around both.
            with raw.transaction():
                self._set(raw, wanted)
                result = execute(sql, params, many, context)
            self.scope, self.savepoints = _NO_SCOPE, ()
            return result
        if not self._in_force(wanted):
            self._set(raw, wanted)
        return execute(sql, params, many, context)

    def _in_force(self, wanted) -> bool:
        current = tuple(self.connection.savepoint_ids)
        # A value set inside a savepoint that was since released or rolled back is set again, and so
        # is a seal about to grow stale in a long transaction (a task, a migration).
        fresh = time.monotonic() - self.sealed_at < RESEAL_AFTER_SECONDS
        return self.scope == wanted and current[: len(self.savepoints)] == self.savepoints and fresh

    def _set(self, raw, wanted) -> None:
        set_scope(raw, wanted)
        self.scope, self.savepoints = wanted, tuple(self.connection.savepoint_ids)
        self.sealed_at = time.monotonic()


def install_transaction_context(sender, connection, **kwargs) -> None:
    """Install the tenant execute wrapper on a new PostgreSQL connection (once per connection object)."""
    if connection.vendor != "postgresql":
        return
    if any(isinstance(wrapper, TransactionContext) for wrapper in connection.execute_wrappers):
        return
    connection.execute_wrappers.insert(0, TransactionContext(connection))


def connect_signals() -> None:
    """Called from TenancyConfig.ready()."""
    connection_created.connect(install_transaction_context, dispatch_uid="tenancy.rls.transaction_context")


# Migration state: historical models keep no Python base classes, so a tenant model is recognised by
# its schema: a `company` foreign key to tenancy.Company and an `is_deleted` column.
def tenant_models_in_state(apps) -> list:
    """The tenant models of a migration state (or of the live registry), in a stable order."""
    found = []
    for model in apps.get_models():
        meta = model._meta
        if not meta.managed or meta.proxy:
            continue
        names = {field.name: field for field in meta.concrete_fields}
        company = names.get("company")
        if (
            company is not None
            and company.many_to_one
            and company.related_model._meta.label_lower == "tenancy.company"
            and "is_deleted" in names
        ):
            found.append(model)
    return sorted(found, key=lambda model: model._meta.db_table)


def tenant_foreign_keys(models) -> list[tuple]:
    """(model, field) for every foreign key from a tenant model to another tenant model."""
    tables = {model._meta.db_table for model in models}
    return [
        (model, field)
        for model in models
        for field in model._meta.concrete_fields
        if field.many_to_one and field.name != "company" and field.related_model._meta.db_table in tables
    ]


def composite_unique_name(table: str) -> str:
    """Name of the `UNIQUE (company_id, id)` constraint (and its index) of a tenant table."""
    return f"{table}_company_id_id_uniq"


def composite_fk_name(table: str, column: str) -> str:
    """Name of the composite foreign key `(company_id, column)` of a tenant table."""
    return f"{table}_{column}_company_fk"


def _qn(schema_editor, name: str) -> str:
    return schema_editor.quote_name(name)


def _exists(schema_editor, sql: str, params) -> bool:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def _constraint_exists(schema_editor, table: str, name: str) -> bool:
    return _exists(
        schema_editor,
        "SELECT 1 FROM pg_constraint WHERE conname = %s AND conrelid = to_regclass(%s)",
        [name, table],
    )


class _PostgresOnly(migrations.operations.base.Operation):
    reduces_to_sql = False
    reversible = True

    def state_forwards(self, app_label, state):
        pass  # Constraints and policies live only in the database, not in Django's model state.

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self.forwards(schema_editor, tenant_models_in_state(to_state.apps))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self.backwards(schema_editor, tenant_models_in_state(from_state.apps))


class AddCompositeTenantKeys(_PostgresOnly):
    """`UNIQUE (company_id, id)` on every tenant table and a composite foreign key beside each tenant FK.

    Idempotent and without long locks: the unique index is built concurrently and then attached as
    the constraint; each foreign key is added NOT VALID and validated afterwards. Use it in a
    non-atomic migration (`atomic = False`); run it again in a later migration after adding tenant
    tables or foreign keys.
    """

    def describe(self):
        return "Add UNIQUE (company_id, id) and composite (company_id, x_id) foreign keys to tenant tables"

    def forwards(self, schema_editor, models):
        for model in models:
            self._add_unique(schema_editor, model._meta.db_table)
        for model, field in tenant_foreign_keys(models):
            self._add_foreign_key(schema_editor, model._meta.db_table, field)

    def backwards(self, schema_editor, models):
        for model, field in tenant_foreign_keys(models):
            table = model._meta.db_table
            name = composite_fk_name(table, field.column)
            schema_editor.execute(f"ALTER TABLE {_qn(schema_editor, table)} DROP CONSTRAINT IF EXISTS {name}")
        for model in models:
            table = model._meta.db_table
            name = composite_unique_name(table)
            schema_editor.execute(f"ALTER TABLE {_qn(schema_editor, table)} DROP CONSTRAINT IF EXISTS {name}")
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")

    def _add_unique(self, schema_editor, table: str) -> None:
        name = composite_unique_name(table)
        if _constraint_exists(schema_editor, table, name):
            return
        # An interrupted concurrent build leaves an invalid index behind: build it again.
        if _exists(
            schema_editor,
            "SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(%s) AND NOT indisvalid",
            [name],
        ):
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        schema_editor.execute(
            f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {name} "
            f"ON {_qn(schema_editor, table)} (company_id, id)"
        )
        schema_editor.execute(
            f"ALTER TABLE {_qn(schema_editor, table)} ADD CONSTRAINT {name} UNIQUE USING INDEX {name}"
        )

    def _add_foreign_key(self, schema_editor, table: str, field) -> None:
        name = composite_fk_name(table, field.column)
        if not _constraint_exists(schema_editor, table, name):
            target = field.related_model._meta.db_table
            # Deferred like Django's own foreign keys, so deletion order inside a transaction is free.
            schema_editor.execute(
                f"ALTER TABLE {_qn(schema_editor, table)} ADD CONSTRAINT {name} "
                f"FOREIGN KEY (company_id, {_qn(schema_editor, field.column)}) "
                f"REFERENCES {_qn(schema_editor, target)} (company_id, id) "
                "DEFERRABLE INITIALLY DEFERRED NOT VALID"
            )
        schema_editor.execute(f"ALTER TABLE {_qn(schema_editor, table)} VALIDATE CONSTRAINT {name}")


class EnableTenantRowLevelSecurity(_PostgresOnly):
    """Enable and force row-level security on every tenant table, with the tenant policy (idempotent)."""

    def describe(self):
        return "Enable and force row-level security on tenant tables"

    def forwards(self, schema_editor, models):
        with schema_editor.connection.cursor() as cursor:
            sealed_scope.install(cursor)  # the policy's function must exist before the policy
        for model in models:
            table = _qn(schema_editor, model._meta.db_table)
            schema_editor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            # An existing policy is altered in place, so no statement ever sees the table without one.
            exists = _exists(
                schema_editor,
                "SELECT 1 FROM pg_policy WHERE polname = %s AND polrelid = to_regclass(%s)",
                [POLICY_NAME, model._meta.db_table],
            )
            schema_editor.execute(
                f"{'ALTER' if exists else 'CREATE'} POLICY {POLICY_NAME} ON {table} "
                f"USING ({POLICY_CONDITION}) WITH CHECK ({POLICY_CONDITION})"
            )

    def backwards(self, schema_editor, models):
        for model in models:
            table = _qn(schema_editor, model._meta.db_table)
            schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}")
            schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            schema_editor.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
