"""Helpers shared by the tests (section images, QuPath files, tiny models)."""
