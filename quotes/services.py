"""Writes and rules of quotes."""
