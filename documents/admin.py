"""Admin pages of documents."""
