"""The Area map dock: map the section or follow the view, the map layers, the map writers."""
