"""Tiny applications served by the benchmark peers."""
