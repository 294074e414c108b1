"""notifications API."""

routes: list = []
