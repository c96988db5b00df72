"""Unmodified Flask and FastAPI apps that `porch serve` runs as they are (docs/hosting.md)."""
