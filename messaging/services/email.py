"""email services."""
