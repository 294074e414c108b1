"""sms services."""
