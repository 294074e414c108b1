"""REST API of calls: the call log and click-to-call."""

routes: list = []
