"""email tasks."""
