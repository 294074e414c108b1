"""Admin pages of quotes."""
