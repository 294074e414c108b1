"""REST API of quotes."""

routes: list = []
