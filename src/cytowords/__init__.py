"""napari-cytowords: describe cell-body-stained human brain sections in words.

The core (``atlas``, ``sections``, ``synth``, ``model``, ``describe``) never imports
napari or Qt; the GUI lives in :mod:`cytowords.napari`, the training pipeline in
:mod:`cytowords.training`.
"""

from importlib import resources
from pathlib import Path

__version__ = "0.1.0"


def default_model_path() -> Path:
    """Folder of the default model bundle shipped in the package (here, not in
    :mod:`cytowords.model`, so that the GUI finds it without importing torch)."""
    return Path(str(resources.files("cytowords") / "models" / "default"))
