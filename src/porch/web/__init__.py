"""The framework (in progress): routing first; App, blueprints and validation build on it."""
