"""Celery tasks of files."""
