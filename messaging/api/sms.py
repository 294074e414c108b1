"""sms API."""

routes: list = []
