"""`manage.py migrate`, connecting as the tables' owner (MIGRATION_DATABASE_URL) when that is set."""

import dj_database_url
from django.conf import settings
from django.core.management.commands.migrate import Command as DjangoMigrateCommand
from django.db import DEFAULT_DB_ALIAS, connections


class Command(DjangoMigrateCommand):
    help = (
        f"{DjangoMigrateCommand.help} On the default database it connects with MIGRATION_DATABASE_URL "
        "(the owner of the tables) when that is set, since the application's role may not alter tables."
    )

    def handle(self, *args, **options):
        if settings.MIGRATION_DATABASE_URL and options["database"] == DEFAULT_DB_ALIAS:
            owner = dj_database_url.parse(settings.MIGRATION_DATABASE_URL)
            connection = connections[DEFAULT_DB_ALIAS]
            connection.close()
            # The connection reads this very dict when it connects again.
            connection.settings_dict.update(
                {key: owner[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT") if key in owner}
            )
            if options["verbosity"] >= 1:
                self.stdout.write(
                    f"Migrating as {owner.get('USER') or 'the default user'} (MIGRATION_DATABASE_URL)."
                )
        return super().handle(*args, **options)
