"""The API router: every path answered with and without a trailing slash, without redirects."""

from rest_framework.routers import DefaultRouter


class OptionalSlashRouter(DefaultRouter):
    """A DefaultRouter whose routes match with or without the trailing slash."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trailing_slash = "/?"
