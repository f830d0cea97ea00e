"""Session-state keys, in one place."""
USER = "user"
