"""Qt pieces the docks share: the progress row, layer and model choosers, the pixel-size check."""
