"""Qt-free plugin hooks and layer helpers: readers, writers, sample data, ROI shapes and layers."""
