"""Writes and rules of documents and e-signatures."""
