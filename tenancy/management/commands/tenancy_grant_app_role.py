"""Grant the application's database role what it needs, and nothing that could bypass RLS."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import sql

from tenancy import sealed_scope


class Command(BaseCommand):
    help = (
        "Run as the owner of the tables (after `migrate`): grants ROLE SELECT, INSERT, UPDATE and DELETE "
        "on every table and USAGE, SELECT on every sequence of the schema, now and for tables created "
        "later by this owner, and stores the key tenant scopes are sealed with where only the owner "
        "reads it. "
        "The role must already exist (CREATE ROLE ... LOGIN NOSUPERUSER NOBYPASSRLS)."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="the role named by DATABASE_URL")
        parser.add_argument("--schema", default="public")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)
        parser.add_argument(
            "--truncate", action="store_true", help="also grant TRUNCATE (the test suite's flush needs it)"
        )

    def handle(self, *args, role, schema, database, truncate, **options):
        connection = connections[database]
        if connection.vendor != "postgresql":
            raise CommandError("Database roles exist only on PostgreSQL.")
        table_privileges = sql.SQL("SELECT, INSERT, UPDATE, DELETE" + (", TRUNCATE" if truncate else ""))
        names = {"role": sql.Identifier(role), "schema": sql.Identifier(schema), "privs": table_privileges}
        statements = [
            "GRANT USAGE ON SCHEMA {schema} TO {role}",
            "GRANT {privs} ON ALL TABLES IN SCHEMA {schema} TO {role}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT {privs} ON TABLES TO {role}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {role}",
        ]
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(sql.SQL(statement).format(**names).as_string(connection.connection))
            # The database's copy of the scope key follows the settings' (a rotated key after a deploy).
            sealed_scope.install(cursor)
        self.stdout.write(
            f"Granted {role} table and sequence privileges in schema {schema}; the scope key is in place."
        )
