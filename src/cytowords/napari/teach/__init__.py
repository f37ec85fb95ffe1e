"""The Teach and Borders docks: area models from annotations, borders along a drawn path."""
