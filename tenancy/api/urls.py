"""Authentication routes, each answered with and without a trailing slash."""

from django.urls import re_path

from .auth import LoginView, LogoutView, MeView, RefreshView
from .users import AcceptInvitationView

urlpatterns = [
    re_path(r"^login/?$", LoginView.as_view(), name="auth-login"),
    re_path(r"^refresh/?$", RefreshView.as_view(), name="auth-refresh"),
    re_path(r"^logout/?$", LogoutView.as_view(), name="auth-logout"),
    re_path(r"^me/?$", MeView.as_view(), name="auth-me"),
    re_path(r"^accept-invite/?$", AcceptInvitationView.as_view(), name="auth-accept-invite"),
]
