"""REST API of files."""

routes: list = []
