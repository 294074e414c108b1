"""The public signing page (/sign/<token>) and its JSON endpoints (/api/public/signatures/<token>)."""

from django.urls import re_path

from . import api, views

app_name = "documents"
# token_urlsafe() alphabet; anything else is no link of ours and answers 404 before any lookup.
LINK = r"(?P<token>[A-Za-z0-9_-]{1,100})"

urlpatterns = [
    re_path(rf"^sign/{LINK}/?$", views.SigningPage.as_view(), name="sign"),
    re_path(rf"^api/public/signatures/{LINK}/?$", api.PublicSignatureView.as_view(), name="public-signature"),
    re_path(
        rf"^api/public/signatures/{LINK}/document/?$",
        api.PublicSignatureDocumentView.as_view(),
        name="public-signature-document",
    ),
    re_path(rf"^api/public/signatures/{LINK}/sign/?$", api.PublicSignView.as_view(), name="public-sign"),
    re_path(
        rf"^api/public/signatures/{LINK}/decline/?$",
        api.PublicDeclineView.as_view(),
        name="public-decline",
    ),
]
