"""Test suite; subfolders mirror src/cytowords."""
