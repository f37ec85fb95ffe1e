"""napari-cytowords: describe cell-body-stained human brain sections in words.

The core (``atlas``, ``sections``, ``synth``, ``model``, ``describe``) never imports
napari or Qt; the GUI lives in :mod:`cytowords.napari`, the training pipeline in
:mod:`cytowords.training`.
"""

__version__ = "0.1.0"
