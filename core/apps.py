from django.apps import AppConfig
from django.core.checks import Tags, register

from .checks import check_secrets


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self):
        from .api import schema  # noqa: F401  (registers the OpenAPI field extensions)

        register(check_secrets, Tags.security, deploy=True)
