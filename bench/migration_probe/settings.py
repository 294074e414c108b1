"""The product's settings plus the bench-only probe app, so `migrate` sees one new migration."""

from crm.settings import *  # noqa: F403
from crm.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.migration_probe.apps.MigrationProbeConfig"]
