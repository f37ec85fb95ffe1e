"""The describe job run off the GUI thread: load the model (cached), describe ROIs one by one.

The generator yields events the widget applies on the main thread:
``("loaded", model_path)``, ``("start", roi_id, k, n)``, ``("done", roi_id, RegionDescription)``,
``("error", roi_id, message)``. Patch-level progress goes through ``on_progress``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from napari.qt.threading import thread_worker

from ..describe import DescribeParams, Roi, RoiError
from ..jobs import Cancelled
from ..sections import Section
from ._models import get_describer


@dataclass
class DescribeRequest:
    """Widget values for one describe run.

    Attributes:
        model: ``"default"`` or a bundle folder.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        params: sampling/aggregation parameters for the core :class:`Describer`.
        lm_path: the folder of the bundle's language model when it has moved ("": as
            recorded in the bundle).
    """

    model: str
    device: str = "auto"
    params: DescribeParams = field(default_factory=DescribeParams)
    lm_path: str = ""


def describe_events(
    request: DescribeRequest,
    section: Section,
    jobs: Sequence[tuple[int, Roi]],
    cancel: threading.Event,
    on_progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple]:
    """Describe ``jobs`` (``(roi_id, Roi)`` in section µm); see module doc for the events."""
    describer = get_describer(request.model, request.device, request.lm_path)
    yield ("loaded", str(describer.model_path))
    n = len(jobs)
    for k, (roi_id, roi) in enumerate(jobs):
        if cancel.is_set():
            return
        yield ("start", roi_id, k, n)

        def progress(done: int, total: int, k: int = k) -> None:
            if on_progress is not None:
                on_progress(int(1000 * (k + done / max(1, total))), 1000 * n)

        try:
            describer.params = request.params
            res = describer.describe_roi(section, roi, on_progress=progress, cancel=cancel)
        except Cancelled:
            return
        except RoiError as exc:
            yield ("error", roi_id, str(exc))
            continue
        yield ("done", roi_id, res)


#: the same generator run in a napari thread worker
describe_worker = thread_worker(describe_events)
