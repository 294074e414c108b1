"""sms tasks."""
