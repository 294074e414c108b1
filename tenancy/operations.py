"""Reusable migration operations that roll multi-tenancy out to tables that predate it.

A table gets its company in three migrations: `AddCompanyField` (a nullable column), `BackfillCompany`
(batched, idempotent, in a migration with `atomic = False`), then `EnforceCompany` with the indexes that
lead with the company (`AddIndexConcurrentlyOnPostgres`). On PostgreSQL none of them holds a lock that
blocks the live application for longer than one short batch or one catalog update.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from django.conf import settings
from django.contrib.postgres.operations import AddIndexConcurrently
from django.core.exceptions import FieldDoesNotExist
from django.db import DatabaseError, migrations, models, transaction
from django.db.migrations.operations.base import Operation

logger = logging.getLogger(__name__)

BACKFILL_SETTING = "TENANCY_BACKFILL_COMPANY"


class RolloutError(RuntimeError):
    """A rollout migration cannot go on until the operator resolves the rows it names."""


class AddCompanyField(migrations.AddField):
    """Add the nullable `company` foreign key that BackfillCompany then fills."""

    def __init__(self, model_name: str):
        super().__init__(
            model_name=model_name,
            name="company",
            field=models.ForeignKey("tenancy.company", null=True, on_delete=models.PROTECT, related_name="+"),
        )

    def deconstruct(self):
        return self.__class__.__name__, [], {"model_name": self.model_name}

    def describe(self):
        return f"Add the nullable company of {self.model_name}"


class BackfillCompany(Operation):
    """Fill `company_id` from the owner (a user or a parent row) in short batches, one transaction each.

    On PostgreSQL the batches sweep the table in physical order, then a pass by primary key fills any
    row the sweep could not see; elsewhere the pass by primary key does it all.
    """

    reversible = True
    reduces_to_sql = False
    atomic = False

    def __init__(self, model_name: str, via: str | Sequence[str] = "user", batch_size: int = 1000):
        self.model_name = model_name
        self.via = (via,) if isinstance(via, str) else tuple(via)
        if not self.via:
            raise ValueError("BackfillCompany needs at least one foreign key in `via`.")
        if batch_size < 1:
            raise ValueError("BackfillCompany's batch_size must be at least 1.")
        self.batch_size = batch_size

    def deconstruct(self):
        kwargs = {"model_name": self.model_name, "via": list(self.via)}
        if self.batch_size != 1000:
            kwargs["batch_size"] = self.batch_size
        return self.__class__.__name__, [], kwargs

    def describe(self):
        return f"Backfill the company of {self.model_name} from {' or '.join(self.via)}"

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            self.backfill(model, schema_editor.connection)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        """Nothing to undo: reversing the migration before this one drops the column."""

    def backfill(self, model, connection) -> int:
        """Fill every row with no company; return how many rows changed. Safe to run again."""
        if connection.in_atomic_block:
            raise RolloutError(
                f"BackfillCompany({self.model_name!r}) must run outside a transaction, one short "
                "transaction per batch: set `atomic = False` on its migration."
            )
        table = model._meta.db_table
        # SQLite's COALESCE wants two arguments or more; the trailing NULL changes nothing.
        owner_company = f"COALESCE({', '.join(self._owner_company_sql(model, connection))}, NULL)"
        changed = 0
        if connection.vendor == "postgresql":
            changed += self._sweep_in_physical_order(model, connection, owner_company)
        # Rows the sweep cannot have seen (moved or added behind it while it ran), and every row elsewhere.
        changed += self._update_in_batches(model, connection, owner_company, [])
        orphans, orphan_count = self._orphans(model, connection)
        if orphan_count:
            company_id = self._fallback_company_id(model, connection, table, orphans, orphan_count)
            changed += self._update_in_batches(model, connection, "%s", [company_id])
            logger.warning(
                "%s: assigned %d rows with no owner's company to %s=%s.",
                table,
                orphan_count,
                BACKFILL_SETTING,
                getattr(settings, BACKFILL_SETTING),
            )
        return changed

    def _owner_company_sql(self, model, connection):
        """One scalar subquery per `via` foreign key, reading the owner's company_id."""
        qn = connection.ops.quote_name
        table = model._meta.db_table
        for path in self.via:
            try:
                field = model._meta.get_field(path)
            except FieldDoesNotExist:
                raise RolloutError(
                    f"BackfillCompany({self.model_name!r}, via={path!r}): {table} has no field {path!r}. "
                    "`via` names a foreign key of the model: the owning user or the parent row."
                ) from None
            if not field.many_to_one:
                raise RolloutError(
                    f"BackfillCompany({self.model_name!r}, via={path!r}): {table}.{path} is not a "
                    "foreign key. `via` names a foreign key to the owning user or the parent row."
                )
            owner = field.related_model
            try:
                owner_company = owner._meta.get_field("company")
            except FieldDoesNotExist:
                raise RolloutError(
                    f"BackfillCompany({self.model_name!r}, via={path!r}): {owner._meta.db_table} has no "
                    "company to copy. Point `via` at a user or at a table that has its company already."
                ) from None
            yield (
                f"(SELECT owner.{qn(owner_company.column)} FROM {qn(owner._meta.db_table)} owner "  # noqa: S608
                f"WHERE owner.{qn(field.target_field.column)} = {qn(table)}.{qn(field.column)})"
            )

    def _sweep_in_physical_order(self, model, connection, value_sql: str) -> int:
        """On PostgreSQL: set company_id on rows with none, one range of heap pages per short transaction.

        A TID range scan reads the pages in the order they lie on disk, so a batch of rows costs about
        what the same rows cost inside one UPDATE of the whole table; walking the primary key instead
        visits a random page per row. Each range holds about `batch_size` rows.
        """
        qn = connection.ops.quote_name
        table = qn(model._meta.db_table)
        company = qn(model._meta.get_field("company").column)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT pg_relation_size(%s::regclass) / current_setting('block_size')::int, "  # noqa: S608
                f"COUNT(*), COUNT(*) FILTER (WHERE {company} IS NULL) FROM {table}",
                [table],
            )
            pages, rows, total = cursor.fetchone()
        if not total:
            return 0
        # Pages appended while the sweep runs hold the rows it updated (or rows left to the next pass).
        pages_per_batch = max(1, self.batch_size * pages // rows)
        changed = 0
        for first in range(0, pages, pages_per_batch):
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                _commit_without_waiting_for_disk(cursor, connection)
                cursor.execute(
                    f"UPDATE {table} SET {company} = {value_sql} "  # noqa: S608
                    f"WHERE ctid >= %s::tid AND ctid < %s::tid AND {company} IS NULL",
                    [f"({first},0)", f"({first + pages_per_batch},0)"],
                )
                changed += max(cursor.rowcount, 0)
            logger.info("%s: backfilled company_id, %d / %d rows", model._meta.db_table, changed, total)
        # Every row updated left a dead version and a dead NULL entry in the company index, and the
        # statistics still say company_id is all NULL: the pass after the sweep would walk all of them
        # to find the few rows left. VACUUM takes no lock that the application's reads or writes wait on.
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        return changed

    def _update_in_batches(self, model, connection, value_sql: str, value_params: list) -> int:
        """Set company_id = value on rows with none, one primary-key range per short transaction."""
        qn = connection.ops.quote_name
        table, pk = qn(model._meta.db_table), qn(model._meta.pk.column)
        company = qn(model._meta.get_field("company").column)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE {company} IS NULL")  # noqa: S608
            total = cursor.fetchone()[0]
        if not total:
            return 0
        done = changed = 0
        last = None
        while True:
            after, after_params = ("", []) if last is None else (f"AND {pk} > %s", [last])
            # Found outside the batch's transaction: looking holds no row lock, however long it takes.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {pk} FROM {table} WHERE {company} IS NULL {after} "  # noqa: S608
                    f"ORDER BY {pk} LIMIT %s",
                    [*after_params, self.batch_size],
                )
                ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                break
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                _commit_without_waiting_for_disk(cursor, connection)
                cursor.execute(
                    f"UPDATE {table} SET {company} = {value_sql} "  # noqa: S608
                    f"WHERE {company} IS NULL {after} AND {pk} <= %s",
                    [*value_params, *after_params, ids[-1]],
                )
                changed += max(cursor.rowcount, 0)
            last = ids[-1]
            done += len(ids)
            logger.info("%s: backfilled company_id, %d / %d rows", model._meta.db_table, done, total)
        return changed

    def _orphans(self, model, connection) -> tuple[list, int]:
        """The first ten ids and the number of rows still without a company."""
        qn = connection.ops.quote_name
        table, pk = qn(model._meta.db_table), qn(model._meta.pk.column)
        company = qn(model._meta.get_field("company").column)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE {company} IS NULL")  # noqa: S608
            count = cursor.fetchone()[0]
            if not count:
                return [], 0
            cursor.execute(f"SELECT {pk} FROM {table} WHERE {company} IS NULL ORDER BY {pk} LIMIT 10")  # noqa: S608
            return [model._meta.pk.to_python(row[0]) for row in cursor.fetchall()], count

    def _fallback_company_id(self, model, connection, table, orphans, orphan_count):
        """The company TENANCY_BACKFILL_COMPANY names, or a RolloutError naming the rows."""
        wanted = str(getattr(settings, BACKFILL_SETTING, "") or "").strip()
        if not wanted:
            shown = ", ".join(str(pk) for pk in orphans)
            more = f" and {orphan_count - len(orphans)} more" if orphan_count > len(orphans) else ""
            raise RolloutError(
                f"{table}: {orphan_count} rows have no owner with a company "
                f"(via {', '.join(self.via)}), ids: {shown}{more}. "
                f"To assign them to one company, set {BACKFILL_SETTING} (environment variable) to that "
                "company's id or slug and run `manage.py migrate` again; or fix these rows (give the "
                "owner a company) or delete them, then migrate again. Rows already filled stay filled."
            )
        company_model = model._meta.get_field("company").related_model
        manager = company_model._base_manager.using(connection.alias)
        try:
            match = manager.filter(pk=uuid.UUID(wanted))
        except ValueError:
            match = manager.filter(slug=wanted)
        company_id = match.values_list("pk", flat=True).first()
        if company_id is None:
            raise RolloutError(
                f"{BACKFILL_SETTING}={wanted!r} names no company (neither an id nor a slug); "
                f"{orphan_count} rows of {table} are waiting for it. Create the company or fix the setting."
            )
        return company_model._meta.pk.get_db_prep_value(company_id, connection)


def _commit_without_waiting_for_disk(cursor, connection) -> None:
    """On PostgreSQL: let this batch's COMMIT release its row locks before its WAL reaches the disk.

    A crash may lose the last few batches, which the backfill (idempotent) fills again when the
    migration runs again; the migration is recorded as applied by a later, synchronous commit, which
    flushes every batch before it. Without this, a COMMIT waits out any stall of the disk.
    """
    if connection.vendor == "postgresql":
        cursor.execute("SET LOCAL synchronous_commit = off")


def _not_null_check_name(table: str, column: str) -> str:
    return f"{table}_{column}_not_null"[:63]


class EnforceCompany(Operation):
    """Make `company` NOT NULL; on PostgreSQL through a validated CHECK, so no long lock is held."""

    reversible = True
    reduces_to_sql = False
    atomic = False

    def __init__(self, model_name: str):
        self.model_name = model_name

    def deconstruct(self):
        return self.__class__.__name__, [], {"model_name": self.model_name}

    def describe(self):
        return f"Make the company of {self.model_name} required"

    @property
    def migration_name_fragment(self):
        return f"enforce_{self.model_name.lower()}_company"

    def state_forwards(self, app_label, state):
        field = state.models[app_label, self.model_name.lower()].fields["company"].clone()
        field.null = False
        state.alter_field(app_label, self.model_name.lower(), "company", field, preserve_default=True)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor != "postgresql":
            from_model = from_state.apps.get_model(app_label, self.model_name)
            schema_editor.alter_field(
                from_model, from_model._meta.get_field("company"), model._meta.get_field("company")
            )
            return
        self._set_not_null_on_postgres(model, schema_editor)

    def _set_not_null_on_postgres(self, model, schema_editor):
        """ADD CHECK NOT VALID, VALIDATE (no write lock), SET NOT NULL (skips the scan), drop the CHECK."""
        qn = schema_editor.quote_name
        table = model._meta.db_table
        column = model._meta.get_field("company").column
        check = qn(_not_null_check_name(table, column))
        # A run that stopped half-way leaves its CHECK behind; start again from a clean table.
        schema_editor.execute(f"ALTER TABLE {qn(table)} DROP CONSTRAINT IF EXISTS {check}")
        schema_editor.execute(
            f"ALTER TABLE {qn(table)} ADD CONSTRAINT {check} CHECK ({qn(column)} IS NOT NULL) NOT VALID"
        )
        try:
            with transaction.atomic(using=schema_editor.connection.alias):
                schema_editor.execute(f"ALTER TABLE {qn(table)} VALIDATE CONSTRAINT {check}")
        except DatabaseError as error:
            schema_editor.execute(f"ALTER TABLE {qn(table)} DROP CONSTRAINT IF EXISTS {check}")
            raise RolloutError(
                f"{table}: rows without {column} remain, so it cannot be made NOT NULL ({error}). "
                f"Run the backfill migration of {table} again (BackfillCompany), then migrate."
            ) from error
        schema_editor.execute(f"ALTER TABLE {qn(table)} ALTER COLUMN {qn(column)} SET NOT NULL")
        schema_editor.execute(f"ALTER TABLE {qn(table)} DROP CONSTRAINT {check}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        from_model = from_state.apps.get_model(app_label, self.model_name)
        schema_editor.alter_field(
            from_model, from_model._meta.get_field("company"), model._meta.get_field("company")
        )


class AddIndexConcurrentlyOnPostgres(migrations.AddIndex):
    """Add an index: CREATE INDEX CONCURRENTLY on PostgreSQL (non-atomic migration), plain elsewhere."""

    atomic = False

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        _drop_invalid_index(schema_editor, self.index.name)
        return AddIndexConcurrently(self.model_name, self.index).database_forwards(
            app_label, schema_editor, from_state, to_state
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return AddIndexConcurrently(self.model_name, self.index).database_backwards(
            app_label, schema_editor, from_state, to_state
        )

    def describe(self):
        return f"Create index {self.index.name} on {self.model_name} (concurrently on PostgreSQL)"


def _drop_invalid_index(schema_editor, name: str) -> None:
    """Drop what an interrupted CREATE INDEX CONCURRENTLY left behind, so a re-run can build it."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s AND NOT i.indisvalid",
            [name],
        )
        invalid = cursor.fetchone() is not None
    if invalid:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}")
