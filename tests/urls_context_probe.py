"""Test-only API routes whose views record the tenant scope they ran in; one of them raises."""

from django.http import JsonResponse
from django.urls import path

from tenancy.context import current_scope

seen_scopes: list = []


def record_scope(request):
    """Record the scope this request runs in."""
    seen_scopes.append(current_scope())
    return JsonResponse({"detail": "recorded"})


def record_scope_then_fail(request):
    """Record the scope this request runs in, then fail as a buggy view would."""
    seen_scopes.append(current_scope())
    raise RuntimeError("the view failed after reading the tenant scope")


urlpatterns = [
    path("api/probe/scope", record_scope),
    path("api/probe/fail", record_scope_then_fail),
]
