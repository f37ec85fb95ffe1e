"""Model-free cytoarchitecture of a region: ribbon, laminar profiles, thickness, layers, cells.

Works on any cell-body-stained section (dark somata on a bright background) without a
model: :func:`measure_roi` reads the region's window from the section's pyramid at the
resolution each step needs, finds the pial surface and the grey/white-matter border,
traces traverses across the cortex (streamlines of Laplace's equation between them) and
measures along them. Everything is in physical units (µm, mm, cells/mm²).

- :func:`measure_roi` -> :class:`Readout` (``to_dict()``, ``statements()``).
- :func:`analyse_profile` — layer I, layer IV and the vocabulary from one mean profile.
- :mod:`.granularity` — the grain of the stain along the traverses (fine-grain share per
  depth at 4 µm/px), which decides layer IV where the scan has that resolution.
- :mod:`.borders` — observer-independent area borders along a path on the cortex
  (``find_borders``); :mod:`.border_stats` — their statistics on any sequence of
  profiles (features, block distances, tests).
"""

from .errors import MeasureError
from .layers import LayerEstimate, analyse_profile
from .readout import Readout, measure_roi

__all__ = ["LayerEstimate", "MeasureError", "Readout", "analyse_profile", "measure_roi"]
