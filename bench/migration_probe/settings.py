"""The product's settings plus the bench-only probe app, so `migrate` sees one new migration."""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench.migration_probe.apps.MigrationProbeConfig"]
