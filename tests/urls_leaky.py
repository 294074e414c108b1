"""The project's URLs plus the leaky canary viewsets under /api/leaky/."""

from django.urls import include, re_path

from config.urls import handler404, handler500
from config.urls import urlpatterns as project_urlpatterns
from core.api.routers import OptionalSlashRouter

from .leaky import LEAKY_ROUTES

leaky_router = OptionalSlashRouter()
for prefix, viewset in LEAKY_ROUTES:
    leaky_router.register(prefix, viewset, basename=f"leaky-{prefix}")

urlpatterns = [re_path(r"^api/leaky/", include(leaky_router.urls)), *project_urlpatterns]

__all__ = ["handler404", "handler500", "urlpatterns"]
