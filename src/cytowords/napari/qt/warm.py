"""Import the heavy modules a dock widget needs later (torch, scipy.signal, matplotlib) in a
background thread, so that neither napari's making of the widget nor its first job imports
them on the GUI thread (seconds: torch alone ~2 s on a busy core). An import that is still
running when the GUI thread needs the module makes the GUI thread wait for that module only;
a failing import is left for the GUI thread's own import to report."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable

_lock = threading.Lock()
_asked: set[str] = set()

#: what the Describe / Area map / pixel size check jobs import first (model and torch)
MODEL_MODULES = ("cytowords.model", "cytowords.describe.describer", "cytowords.measure.readout")
#: what the Profile and Borders plots import first
PLOT_MODULES = ("matplotlib.figure", "matplotlib.backends.backend_qtagg")


def warm_imports(
    *modules: str, then: Callable[[], object] | None = None
) -> threading.Thread | None:
    """Start importing ``modules`` (those not imported or asked for before) in a thread,
    then calling ``then`` there (e.g. a cached loader the first job would call: loading
    holds Python's lock for long stretches, which would stall the viewer then); the
    thread, or None when there is nothing to import or call."""
    with _lock:
        todo = [m for m in modules if m not in sys.modules and m not in _asked]
        _asked.update(todo)
    if not todo and then is None:
        return None

    def run() -> None:
        for name in todo:
            try:
                importlib.import_module(name)
            except Exception:  # reported by the GUI thread's own import
                pass
        if then is not None:
            try:
                then()
            except Exception:  # reported when the job calls it
                pass

    # not a daemon: interpreter shutdown waits for an import in flight (seconds at most)
    thread = threading.Thread(target=run, name="cytowords-warm-imports")
    thread.start()
    return thread


def imported(name: str) -> bool:
    """True when module ``name`` is fully imported (not still being imported by a thread)."""
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    return module is not None and not getattr(spec, "_initializing", False)
