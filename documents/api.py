"""REST API of documents."""

routes: list = []
