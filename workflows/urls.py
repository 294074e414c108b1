"""Public workflow endpoints, mounted at /api/public/workflows/: the signed inbound webhook."""

from django.urls import re_path

from .webhooks import WorkflowHookView

urlpatterns = [
    re_path(r"^(?P<workflow_id>[^/]+)/hook/?$", WorkflowHookView.as_view(), name="workflow-hook"),
]
