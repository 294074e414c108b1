"""The public signing page (/sign/<token>) and its JSON endpoints (/api/public/signatures/<token>)."""

urlpatterns: list = []
