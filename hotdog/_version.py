"""The version, in one place: setup.py reads it from here, the package re-exports it."""
__version__ = "0.2.0"
