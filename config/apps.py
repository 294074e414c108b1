from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project shell as an app, for the commands that span every app (seed_demo)."""

    name = "config"
    verbose_name = "Project"
