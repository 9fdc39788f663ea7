"""Fixtures for the engine tests live in tests/conftest.py (the route matrix uses them too)."""
