"""phone numbers services."""
