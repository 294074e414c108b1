"""email API."""

routes: list = []
