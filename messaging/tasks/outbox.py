"""outbox tasks."""
