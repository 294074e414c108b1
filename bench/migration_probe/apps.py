"""The bench-only migration probe app (installed by bench/migration_probe/settings.py alone)."""

from django.apps import AppConfig


class MigrationProbeConfig(AppConfig):
    name = "bench.migration_probe"
    label = "bench_migration_probe"
