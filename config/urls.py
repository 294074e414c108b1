"""URL routes: the admin, the REST API with its schema and docs, and JSON error pages."""

from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from calls import api as calls_api
from core.api.routers import OptionalSlashRouter
from crm import api as crm_api
from documents import api as documents_api
from files import api as files_api
from messaging import api as messaging_api
from quotes import api as quotes_api
from tenancy.api import audit as audit_api
from tenancy.api import companies as companies_api
from tenancy.api import users as users_api
from workflows import api as workflows_api

router = OptionalSlashRouter()
API_ROUTES = [
    *crm_api.routes,
    *messaging_api.routes,
    *calls_api.routes,
    *files_api.routes,
    *documents_api.routes,
    *quotes_api.routes,
    *workflows_api.routes,
    *audit_api.routes,
    *users_api.routes,
    *companies_api.routes,
]
for prefix, viewset, basename in API_ROUTES:
    router.register(prefix, viewset, basename=basename)

urlpatterns = [
    path("admin/", admin.site.urls),
    re_path(r"^api/auth/", include("tenancy.api.urls")),
    re_path(r"^api/twilio/sms/", include("messaging.urls")),
    re_path(r"^api/twilio/voice/", include("calls.urls")),
    re_path(r"^api/public/files/", include("files.urls")),
    re_path(r"^api/public/workflows/", include("workflows.urls")),
    re_path(r"^api/analytics", include("analytics.api")),
    path("", include("documents.urls")),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    re_path(
        r"^api/docs/?$",
        SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[AllowAny]),
        name="docs",
    ),
    re_path(r"^api/", include(router.urls)),
]


def json_not_found(request, exception=None):
    """404 as JSON for API clients."""
    return JsonResponse({"detail": "Not found."}, status=404)


def json_server_error(request):
    """500 as JSON, without internals."""
    return JsonResponse({"detail": "Internal server error."}, status=500)


handler404 = json_not_found
handler500 = json_server_error
