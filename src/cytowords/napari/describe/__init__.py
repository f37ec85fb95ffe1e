"""The Describe dock: ROIs to descriptions in a thread worker, the results panel, the Profile view and the ROI autosave."""
