"""Public, token-signed file downloads, under /api/public/files/."""

urlpatterns: list = []
