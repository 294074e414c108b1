"""twilio settings API."""

routes: list = []
