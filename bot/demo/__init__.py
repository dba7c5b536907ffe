"""The terminal demo: the real bot against a fake Bot API server in this process."""
