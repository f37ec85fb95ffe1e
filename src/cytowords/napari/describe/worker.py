"""The describe job run off the GUI thread: load the model (cached), describe ROIs one by one.

The generator yields events (:mod:`._events`) the widget applies on the main thread:
``Loaded(model_path)``, ``Started(roi_id, k, n)``, ``Done(RegionDescription, roi_id)``,
``Failed(message, roi_id)``. Patch-level progress goes through ``on_progress``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from napari.qt.threading import thread_worker

from ...describe.params import DescribeParams
from ...jobs import Cancelled
from ...regions import Roi, RoiError
from ...sections import Section
from ...sections.scale_check import PendingCheck
from ..events import Done, Failed, JobEvent, Loaded, Started


@dataclass
class DescribeRequest:
    """Widget values for one describe run.

    Attributes:
        model: ``"default"`` or a bundle folder.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        params: sampling/aggregation parameters for the core :class:`Describer`.
        lm_path: the folder of the bundle's language model when it has moved ("": as
            recorded in the bundle).
        abstain: the reason every field abstains for, when the image's pixel size check
            found its pixel size wrong (:attr:`ScaleCheck.abstain_reason
            <cytowords.sections.scale_check.ScaleCheck.abstain_reason>`; "": none).
        pending_check: the image's pixel size check, still running when the job was
            requested (None: none runs). The job waits for it in its own thread, after
            loading the model and before the first ROI, and abstains with its reason when
            it finds the pixel size wrong.
    """

    model: str
    device: str = "auto"
    params: DescribeParams = field(default_factory=DescribeParams)
    lm_path: str = ""
    abstain: str = ""
    pending_check: PendingCheck | None = None


def describe_events(
    request: DescribeRequest,
    section: Section,
    jobs: Sequence[tuple[int, Roi]],
    cancel: threading.Event,
    on_progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
) -> Iterator[JobEvent]:
    """Describe ``jobs`` (``(roi_id, Roi)`` in section µm); see module doc for the events.

    ``cancel`` stops at once (the ROI being described is dropped); ``stop`` lets the ROI
    being described finish and starts no further one."""
    from ...describe import Describer

    describer = Describer(request.model, request.device, lm_path=request.lm_path or None)
    yield Loaded(str(describer.model_path))
    describer.check_section(section)
    abstain = request.abstain
    if not abstain and request.pending_check is not None:
        abstain = request.pending_check.abstain_reason(cancel)
        if cancel.is_set():
            return
    n = len(jobs)
    for k, (roi_id, roi) in enumerate(jobs):
        if cancel.is_set() or (stop is not None and stop.is_set()):
            return
        yield Started(roi_id, k, n)

        def progress(done: int, total: int, k: int = k) -> None:
            if on_progress is not None:
                on_progress(int(1000 * (k + done / max(1, total))), 1000 * n)

        try:
            res = describer.describe_roi(
                section,
                roi,
                params=request.params,
                on_progress=progress,
                cancel=cancel,
                abstain=abstain,
            )
        except Cancelled:
            return
        except RoiError as exc:
            yield Failed(str(exc), roi_id)
            continue
        yield Done(res, roi_id)


#: the same generator run in a napari thread worker
describe_worker = thread_worker(describe_events)
