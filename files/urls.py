"""Public, token-signed file downloads, under /api/public/files/ (no login: the token is the grant)."""

from django.urls import re_path

from .api import PublicFileDownloadView

urlpatterns = [
    re_path(
        r"^(?P<token>[A-Za-z0-9_\-.:]+)/?$", PublicFileDownloadView.as_view(), name="files-public-download"
    ),
]
