"""Celery tasks of documents."""
