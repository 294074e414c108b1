"""Admin pages of files."""
