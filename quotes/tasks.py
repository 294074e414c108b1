"""Celery tasks of quotes."""
