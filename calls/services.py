"""Writes and rules of calls."""
