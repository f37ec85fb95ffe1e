"""The napari plugin, by feature: :mod:`.describe` (the Describe dock, its worker, results
panel, Profile view and autosave), :mod:`.area_map` (the Area map dock, its layers, the
live view and the map writers), :mod:`.teach` (the Teach and Borders docks); :mod:`.io`
holds the Qt-free hooks and layer helpers (readers, writers, sample data, ROI shapes),
:mod:`.qt` the Qt pieces the docks share (progress row, layer and model choosers, the
pixel-size check), :mod:`.events` the typed worker events. ``napari.yaml`` names the
contributions."""
