"""The "Describe regions" dock widget: ROIs of a Shapes layer -> area, rejection, caption.

Widget values become a :class:`DescribeRequest`; the work runs in a napari thread worker
(:mod:`._describe_worker`) and each result is applied on the main thread to the ROI layer's
features (:mod:`._roi_results`), which the results panel shows.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
from napari.layers import Image, Shapes
from napari.utils.events.event import Event
from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...atlas import load_atlas
from ...describe.params import DescribeParams
from ...min_traverse import too_small, too_small_line
from ...regions import Roi
from ...regions.roi import reaching_beyond, reaching_beyond_line
from ...sections import Section
from ...slide_reading import section_slide
from ..events import Done, Failed, JobEvent, Loaded, Started
from ..io.layers import (
    SLIDE_READING_KEY,
    LayerError,
    layer_pixel_size_um,
    new_roi_layer,
    place_over,
    section_from_layer,
)
from ..qt.layer_choice import LayerChoice
from ..qt.model_choice import ModelChooser
from ..qt.pixel_size import PixelSizeRow
from ..qt.progress import ProgressRow
from ..qt.slide import SlideRow
from ..qt.warm import MODEL_MODULES, warm_imports
from . import results as rr
from .autosave import AutosaveRow
from .panel import ResultsPanel, roi_label
from .worker import DescribeRequest, describe_worker

#: the job's status changes and results that arrive within this time (ms) are drawn together
REDRAW_MS = 150


class DescribeWidget(QWidget):
    """Dock widget describing the ROIs drawn on a Shapes layer over a section image."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        # the model code and the area catalogue (the describer's), for the first job
        warm_imports(*MODEL_MODULES, then=load_atlas)
        self.viewer = napari_viewer
        self.image_choice = LayerChoice(napari_viewer, Image)
        self.roi_choice = LayerChoice(napari_viewer, Shapes)
        self.new_roi_btn = QPushButton("New")
        self.new_roi_btn.setToolTip("Add an empty ROI layer aligned with the image (µm)")
        self.new_roi_btn.clicked.connect(self.create_roi_layer)
        self.model = ModelChooser()
        self.pixel_size = PixelSizeRow(napari_viewer, self.image_choice, self.model)
        self.pixel_size.changed.connect(self._on_pixel_size)
        self.slide = SlideRow(napari_viewer, self.image_choice)
        self.slide.changed.connect(self._on_pixel_size)
        self.max_patches = QSpinBox()
        self.max_patches.setRange(1, 4096)
        self.max_patches.setValue(DescribeParams().max_patches)
        self.max_patches.setToolTip("Upper bound on patches read per ROI")
        self.auto_check = QCheckBox("describe new ROIs automatically")
        self.scale_check = QCheckBox("check the scale (abstain when the pixel size looks wrong)")
        self.scale_check.setChecked(True)
        self.scale_check.setToolTip(
            "A ROI that would be named is read again at x0.8 and x1.25 the pixel size; "
            "fields that read as another area there do not vote, and a ROI where most do "
            "is not named; when the image's pixel size check (Pixel size row) finds the "
            "pixel size wrong, every field abstains (docs/your_scans.md). Off: faster, no "
            "such guard."
        )
        self.cells_check = QCheckBox("cell statistics where the scan has <= 2 µm/px")
        self.cells_check.setToolTip(
            "Detect somata in the readout (density per layer, large pyramids): seconds more "
            "per ROI. Only with them may a caption state Betz or Meynert cells, where giant "
            "pyramids were found deep in the ribbon (docs/captions.md)."
        )
        self.describe_sel_btn = QPushButton("Describe selected")
        self.describe_all_btn = QPushButton("Describe all")
        self.progress = ProgressRow()
        self.results = ResultsPanel(napari_viewer)
        self.autosave = AutosaveRow(napari_viewer)
        self.autosave.restored.connect(self.roi_choice.set_value)
        self._build_layout()
        self.setMinimumWidth(360)
        self.describe_sel_btn.clicked.connect(self.describe_selected)
        self.describe_all_btn.clicked.connect(self.describe_all)
        self.roi_choice.combo.currentIndexChanged.connect(self._bind_roi_layer)
        self._layer: Shapes | None = None
        self._queue: list[int] = []
        self._before: dict[int, str] = {}  # status of a queued ROI before it was queued
        self._geom: dict[int, bytes] = {}
        self._worker = None
        self._job_image: Image | None = None
        self._job_layer: Shapes | None = None  # the ROI layer the running job describes
        self._stop: threading.Event | None = None
        self._not_started: set[int] = set()  # given back when the job was stopped
        self._closed_note = ""
        self._stop_text = ""  # why the running job was stopped
        self._after_cancel: list[int] = []  # ROIs queued after the running job was cancelled
        self._job_ids: set[int] = set()  # ROI ids the running job describes
        #: draws the job's results that arrived within REDRAW_MS in one canvas update
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(REDRAW_MS)
        self._redraw.timeout.connect(self.redraw)
        self._undrawn: list[Shapes] = []  # ROI layers with results not drawn yet
        napari_viewer.layers.events.removed.connect(self._on_layer_removed)
        self.image_choice.combo.currentIndexChanged.connect(self._ensure_roi_layer)
        self.image_choice.combo.currentIndexChanged.connect(self._bind_autosave)
        self._ensure_roi_layer()
        self._bind_roi_layer()

    def _ensure_roi_layer(self, *_) -> None:
        """Create the "ROIs" layer once an image is there and no Shapes layer exists."""
        if self.roi_choice.value() is None and self.image_choice.value() is not None:
            self.create_roi_layer()

    def _build_layout(self) -> None:
        form = QFormLayout()
        form.addRow("Image", self.image_choice.combo)
        form.addRow("Pixel size", self.pixel_size)
        form.addRow("Slide", self.slide)
        roi_row = QHBoxLayout()
        roi_row.addWidget(self.roi_choice.combo, 1)
        roi_row.addWidget(self.new_roi_btn)
        form.addRow("ROI layer", roi_row)
        self.model.add_rows(form)
        form.addRow("Max patches", self.max_patches)
        buttons = QHBoxLayout()
        buttons.addWidget(self.describe_sel_btn)
        buttons.addWidget(self.describe_all_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.autosave)
        lay.addWidget(self.auto_check)
        lay.addWidget(self.scale_check)
        lay.addWidget(self.cells_check)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.results, 1)

    # -- widget values ---------------------------------------------------------------
    def request(self) -> DescribeRequest:
        """The current widget values as a :class:`DescribeRequest`."""
        params = DescribeParams(
            max_patches=int(self.max_patches.value()),
            measure_cells="auto" if self.cells_check.isChecked() else False,
        )
        abstain, pending = "", None
        if not self.scale_check.isChecked():
            params = replace(params, scale=None)
        else:  # the image's pixel size check found its pixel size wrong: every field abstains
            image = self.image_choice.value()
            abstain = self.pixel_size.abstain_reason(image)
            pending = self.pixel_size.pending(image)  # still running: the job waits for it
        return DescribeRequest(
            self.model.value(),
            self.model.device_value(),
            params,
            self.model.lm_value(),
            abstain,
            pending,
        )

    # -- layers ----------------------------------------------------------------------
    def create_roi_layer(self) -> Shapes:
        """Add an empty "ROIs" layer aligned with the chosen image and select it here."""
        image = self.image_choice.value()
        layer = new_roi_layer(self.viewer, image)
        self.roi_choice.set_value(layer)
        self._bind_roi_layer()
        return layer

    def roi_layer(self) -> Shapes | None:
        """The bound ROI layer (prepared with result columns)."""
        return self._layer

    def _bind_roi_layer(self, *_) -> None:
        layer = self.roi_choice.value()
        if layer is self._layer:
            return
        old = self._layer
        if old is not None:  # drawn, so that its autosave holds the results not drawn yet
            rr.redraw(old)
        if self._worker is not None and old is not None:
            if self._job_layer is old and not self._stopping():  # none go to the new layer
                gone = old not in self.viewer.layers
                what = "was closed" if gone else "is no longer the ROI layer"
                again = "" if gone else "; choose it as ROI layer again and describe them"
                self._stop_job(f"ROI layer {old.name!r} {what}", again, note=not gone)
            self._give_back(("queued",), old)  # queued behind the job: not started
        if self._layer is not None:
            self._layer.events.data.disconnect(self._on_data)
            self._layer.events.features.disconnect(self.results.refresh)
        self._layer = layer
        self._queue.clear()
        if self._worker is None:
            self._before.clear()
        if layer is not None:
            image = self.image_choice.value()
            ps = layer_pixel_size_um(image) if isinstance(image, Image) else None
            if isinstance(image, Image):
                place_over(layer, image)
            rr.prepare_layer(layer, ps)
            layer.events.data.connect(self._on_data)
            layer.events.features.connect(self.results.refresh)
        self.results.set_layer(layer)
        self._bind_autosave()

    def _bind_autosave(self, *_) -> None:
        self.autosave.bind(self.image_choice.value(), self._layer)

    def _on_data(self, event: Event) -> None:
        layer = self._layer
        action = str(getattr(event, "action", ""))
        if layer is None:
            return
        if action.endswith("added"):
            new = rr.assign_ids(layer)
            self.results.refresh()
            if new and self.auto_check.isChecked():
                self.describe_rows(new)
        elif action.endswith("changed"):
            rows = [i for i in getattr(event, "data_indices", ()) if 0 <= i < len(layer.data)]
            rows = [i for i in rows if self._moved(i)]
            was = [i for i in rows if layer.features["status"].iloc[i] != "new"]
            rr.set_status(layer, was, "stale")
            if rows and self.auto_check.isChecked():
                self.describe_rows(rows)
        elif action.endswith("removed"):
            self.results.refresh()

    def _on_pixel_size(self, _image: Image) -> None:
        """The image was re-scaled, or read again with another slide (:class:`SlideRow`):
        the descriptions made before are stale."""
        layer = self._layer
        if layer is not None and len(layer.data):
            done = [i for i, s in enumerate(layer.features["status"]) if s == "done"]
            rr.set_status(layer, done, "stale")
            if done and self.auto_check.isChecked():
                self.describe_rows(done)

    def _moved(self, row: int) -> bool:
        roi_id = int(self._layer.features["roi_id"].iloc[row])
        old = self._geom.get(roi_id)
        return old is None or np.asarray(self._layer.data[row]).tobytes() != old

    # -- describing ------------------------------------------------------------------
    def describe_selected(self) -> None:
        """Describe the ROIs selected in the ROI layer (all if none is selected)."""
        layer = self._layer
        sel = sorted(layer.selected_data) if layer is not None else []
        self.describe_rows(sel or None)

    def describe_all(self) -> None:
        """Describe every ROI of the ROI layer."""
        self.describe_rows(None)

    def _checked_inputs(self) -> tuple[Image, Section]:
        """The chosen image and its section, checked once per job: an image layer with a
        pixel size (:class:`LayerError` saying how to set one) and a model that exists
        (FileNotFoundError)."""
        from ...model import resolve_model_path

        image = self.image_choice.value()
        if image is None:
            raise LayerError("no image layer: open a section (File > Open) or a sample first")
        section = section_from_layer(image)  # grey 2D image with a pixel size, or LayerError
        resolve_model_path(self.model.value())
        return image, section

    def describe_rows(self, rows: list[int] | None) -> None:
        """Queue shapes ``rows`` (None: all) of the ROI layer for description."""
        layer = self._layer
        if layer is None:
            show_error("No ROI layer: open an image, or click 'New' next to 'ROI layer'.")
            return
        rows = list(range(len(layer.data))) if rows is None else rows
        if not rows:
            show_info("The ROI layer has no shapes: draw a rectangle or polygon first.")
            return
        inputs = None
        if self._worker is None or self._stopping():
            # else they are checked when the running job's queue drains
            try:
                inputs = self._checked_inputs()
            except (LayerError, FileNotFoundError, ValueError) as exc:
                show_error(str(exc))  # nothing is queued: the ROIs keep their status
                return
        ids = rr.ids_of(layer, rows)
        if self._worker is not None and self.progress.cancel_event.is_set():
            # the running job was cancelled: these are described after it ends
            self._after_cancel.extend(i for i in ids if i not in self._after_cancel)
        elif self._worker is not None and self._job_layer is layer and not self._stopping():
            # in the running job, unchanged since it took them: not described twice
            ids = [i for i in ids if i not in self._job_ids or self._moved(rr.row_of(layer, i))]
        in_queue = set(self._queue)
        queued = [i for i in ids if i not in in_queue]
        status = layer.features["status"].tolist()
        row = rr.rows_of(layer)
        for i in queued:
            was = status[row[i]]
            if was not in ("queued", "describing"):
                self._before.setdefault(i, was)
        self._queue.extend(queued)
        # drawn on a later turn of the event loop, with the job's first status changes
        rr.set_status(layer, [row[i] for i in queued], "queued", later=True)
        self._draw_later(layer)
        if self._worker is None:
            self._start_worker(inputs)

    def _jobs(self, image: Image, section: Section, ids: list[int]) -> list[tuple[int, Roi]]:
        jobs, geoms, errors = rr.roi_jobs(self._layer, ids, image)
        self._geom.update(geoms)
        for msg in errors.values():
            show_warning(msg)
        rr.set_status(self._layer, list(errors), "error", later=True)
        small = too_small([roi for _, roi in jobs])
        if small:  # e.g. Fiji's particle outlines: one line for all, no pixel read
            show_warning(f"{self._layer.name}: {too_small_line([r for _, r in jobs], small)}")
            row = rr.rows_of(self._layer)
            rows = [row.get(jobs[k][0]) for k in small]
            rr.set_status(self._layer, [r for r in rows if r is not None], "error", later=True)
            skip = set(small)
            jobs = [j for k, j in enumerate(jobs) if k not in skip]
        rois = [roi for _, roi in jobs]
        beyond = reaching_beyond(rois, section.shape_um)
        if beyond:  # described, but likely drawn on another image: said, as the CLI says it
            line = reaching_beyond_line(rois, beyond, section.shape_um, image.name)
            show_warning(f"{self._layer.name}: {line}")
        return jobs

    def _start_worker(self, inputs: tuple[Image, Section] | None = None) -> None:
        """Describe the queued ROIs in a thread worker; ``inputs``: the image and section
        already checked for this job (None: check them now)."""
        try:
            image, section = inputs or self._checked_inputs()
        except (LayerError, FileNotFoundError, ValueError) as exc:
            self._fail_queue(str(exc))
            return
        ids, self._queue = list(self._queue), []
        jobs = self._jobs(image, section, ids)
        self._job_ids = {i for i, _ in jobs}
        if not jobs:
            return
        # the ROI layer's files say how the slide was read, also when written without it
        self._layer.metadata[SLIDE_READING_KEY] = section_slide(section)
        self.pixel_size.auto_check()
        request = self.request()
        what = ", checking the pixel size" if request.pending_check is not None else ""
        cancel = self.progress.start(f"loading model{what}, {len(jobs)} ROI(s) to describe…")
        self._job_image, self._job_layer, self._stop = image, self._layer, threading.Event()
        worker = describe_worker(
            request,
            section,
            jobs,
            cancel,
            on_progress=self.progress.relay,
            stop=self._stop,
            _ignore_errors=True,  # errors become notifications (_on_error), not re-raised
        )
        worker.yielded.connect(self._on_event)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        self._cancel = cancel
        worker.start()

    def _fail_queue(self, message: str) -> None:
        layer = self._layer
        show_error(message)
        if layer is not None:
            rows = [rr.row_of(layer, i) for i in self._queue]
            rr.set_status(layer, [r for r in rows if r is not None], "error")
        self._queue.clear()

    def _on_event(self, ev: JobEvent) -> None:
        layer = self._layer if self._job_layer is None else self._job_layer
        if isinstance(ev, Loaded) or layer is None or layer not in self.viewer.layers:
            return  # a ROI layer closed meanwhile: its results go nowhere
        row = rr.row_of(layer, ev.item)
        self._draw_later(layer)
        self._not_started.discard(ev.item)  # started before the worker saw the image closed
        if isinstance(ev, Started):
            if not self._stopping():
                self.progress.status.setText(f"describing ROI {ev.index + 1} of {ev.total}…")
            if row is not None:
                rr.set_status(layer, [row], "describing", later=True)
        elif row is None:
            self._before.pop(ev.item, None)
            return  # deleted meanwhile: its result goes nowhere
        elif isinstance(ev, Failed):
            self._before.pop(ev.item, None)
            show_warning(self._about(layer, row, ev.message))
            rr.set_status(layer, [row], "error", later=True)
        elif isinstance(ev, Done):
            self._before.pop(ev.item, None)
            if np.asarray(layer.data[row]).tobytes() != self._geom.get(ev.item):
                rr.set_status(layer, [row], "stale", later=True)  # edited while described
                if self.auto_check.isChecked() and not self._stopping():
                    self._queue.append(ev.item)
            else:
                rr.apply_result(layer, row, ev.result, later=True)
                if ev.result.rejection_reason:  # abstained for the image or the scale: say why
                    show_warning(self._about(layer, row, ev.result.rejection_reason))

    def _draw_later(self, layer: Shapes) -> None:
        """Draw ``layer``'s new results at most REDRAW_MS from now (with those that come
        meanwhile)."""
        if layer not in self._undrawn:
            self._undrawn.append(layer)
        if not self._redraw.isActive():
            self._redraw.start()

    def redraw(self) -> None:
        """Draw the results and status changes of the running job not drawn yet."""
        self._redraw.stop()
        drawn, self._undrawn = self._undrawn, []
        for layer in drawn:
            rr.redraw(layer)

    @staticmethod
    def _about(layer: Shapes, row: int, message: str) -> str:
        """``message`` about ROI ``row`` headed by the ROI's name as the table shows it
        (``ROI n`` without one), unless it names the ROI already."""
        label = roi_label(row, layer.features.iloc[row].to_dict())
        return message if f"'{label}'" in message else f"{label}: {message}"

    def _on_error(self, exc: Exception) -> None:
        self._fail_queue(f"describing failed: {exc}")
        layer = self._job_layer
        if layer is not None:
            busy = np.isin(layer.features["status"].to_numpy(), ["queued", "describing"])
            rr.set_status(layer, np.flatnonzero(busy).tolist(), "error")

    def _stopping(self) -> bool:
        """True once the running job's image was closed (its last ROI is finishing)."""
        return self._stop is not None and self._stop.is_set()

    def _on_layer_removed(self, event: Event) -> None:
        """A closed ROI layer gets its results not drawn yet drawn. The running job's image
        was closed: the ROI being described is finished (its pixels are read already), the
        ROIs not yet started go back to the status they had before they were queued, and
        when the job ends one notification says how many were not described (a ROI the
        worker had started before it saw the image closed is described and not counted)."""
        if event.value in self._undrawn:
            self._undrawn.remove(event.value)
            rr.redraw(event.value)
        image = self._job_image
        if self._worker is None or event.value is not image or self._stopping():
            return
        self._stop_job(f"image {image.name!r} was closed", "; open it again and describe them")

    def _stop_job(self, text: str, again: str, note: bool = True) -> None:
        """Stop the running job after the ROI being described (:meth:`_on_layer_removed`):
        the ROIs of its layer not yet started get their earlier status back; ``text`` says
        why on the progress line and, with ``note``, in the notification at its end
        (followed by ``again``, what to do)."""
        self._stop.set()
        layer = self._job_layer
        self._not_started = set(self._give_back(("queued",), layer))
        self._stop_text = text
        self.progress.status.setText(f"{text}: finishing the ROI being described…")
        self._closed_note = f"of {layer.name!r} not described: {text}{again}" if note else ""

    def _give_back(
        self, which: tuple[str, ...], layer: Shapes | None = None, keep: tuple[int, ...] = ()
    ) -> list[int]:
        """Give every ROI of ``layer`` (None: the bound ROI layer) whose status is in
        ``which`` (queued, or being described), except the ROI ids in ``keep``, back its
        status from before it was queued ("new" when it had none: its earlier result, if
        any, is still shown); empties the queue. Returns their ROI ids."""
        layer = self._layer if layer is None else layer
        self._queue.clear()
        if layer is None:
            return []
        status = layer.features["status"].to_numpy()
        ids = layer.features["roi_id"].to_numpy()
        busy = np.isin(status, which) & ~np.isin(ids, list(keep))
        rows = np.flatnonzero(busy).tolist()
        rr.set_rows(layer, {r: {"status": self._before.pop(int(ids[r]), "new")} for r in rows})
        return [int(ids[r]) for r in rows]

    def _on_finished(self) -> None:
        self.redraw()
        self._worker = None
        cancelled = self.progress.cancel_event.is_set()
        stopped = self._stopping() and not cancelled
        why, self._stop_text = self._stop_text, ""
        job_layer, self._job_layer = self._job_layer, None
        self._job_ids = set()
        self._job_image = self._stop = None
        not_started, self._not_started = len(self._not_started), set()
        note, self._closed_note = self._closed_note, ""
        if not_started and note:  # the image or layer went (then perhaps cancelled too)
            show_warning(f"{not_started} queued ROI(s) {note}")
        restart, self._after_cancel = list(self._after_cancel), []
        if cancelled:  # what was asked for after the cancel is described next
            layer = self._layer
            if job_layer is not None and job_layer is not layer:
                self._give_back(("queued", "describing"), job_layer)
            self._give_back(("queued", "describing"), layer, keep=tuple(restart))
            self._queue = restart
        if cancelled or stopped:
            self.progress.finish("cancelled" if cancelled else f"stopped: {why}")
        else:
            self.progress.set_fraction(1.0)
            self.progress.finish("done")
        if self._queue:
            self._start_worker()
        if not self._queue and self._worker is None:
            self._before.clear()

    def cancel(self) -> None:
        """Cancel the running describe job: ROIs not yet described get back the status
        they had before they were queued."""
        self.progress.cancel()

    @property
    def busy(self) -> bool:
        """True while a describe job runs (or the image's pixel size is checked, or the image
        read again with another slide)."""
        return (
            self._worker is not None
            or self.pixel_size.worker is not None
            or self.slide.worker is not None
        )
