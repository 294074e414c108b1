"""Celery tasks of calls."""
