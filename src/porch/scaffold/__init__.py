"""The templates `porch new` copies (see porch/cli/new.py); data, not code."""
