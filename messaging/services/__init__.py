"""Writes and rules of messaging, one module an area."""
