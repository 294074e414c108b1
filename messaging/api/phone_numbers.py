"""phone numbers API."""

routes: list = []
