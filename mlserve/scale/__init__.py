"""Backends that run the same manifest past one process (optional extras)."""
