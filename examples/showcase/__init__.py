"""The showcase: a small community site built with porch (what `make demo` starts).

Users register and log in, write posts and comments, watch new posts arrive live, and call
a JSON API; see docs/showcase.md for a tour of where each part lives.
"""
