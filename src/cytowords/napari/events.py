"""What a widget's background job reports to the main thread: small frozen events, yielded
by the napari thread workers (describe, area map, borders, teach) and applied by the
widget's ``_on_event``. Qt-free. Fine-grained progress goes through the
``on_progress(done, total)`` callback (:class:`._progress.ProgressRelay`), not events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Loaded:
    """The model is loaded (``model_path``: its bundle folder, "" when not said)."""

    model_path: str = ""


@dataclass(frozen=True)
class Started:
    """Work on ``item`` (a ROI id) began: the ``index``-th (from 0) of ``total``."""

    item: int
    index: int
    total: int


@dataclass(frozen=True)
class Failed:
    """The job (``item`` None) or one item of it failed; ``message`` says why in one line."""

    message: str
    item: int | None = None


@dataclass(frozen=True)
class Done:
    """The job (``item`` None) or one item of it finished with ``result``."""

    result: Any
    item: int | None = None


#: any event a worker yields
JobEvent = Loaded | Started | Failed | Done
