"""twilio settings services."""
