"""Benchmark harness for porch (see bench/README.md)."""
