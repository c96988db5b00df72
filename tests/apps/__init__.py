"""Apps that tests serve in a subprocess (``python -m porch serve tests.apps.<module>:app``)."""
