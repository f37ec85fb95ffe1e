"""The "Pixel size" row of the dock widgets: the chosen image's µm per pixel, settable.

Everything cytowords computes depends on the physical scale: a model reads 4 mm fields at
its own µm/px, and a section whose pixel size is wrong by ×1.5 is misread on most fields
(docs/results.md, robustness). Images opened by the cytowords reader carry their pixel size;
images from elsewhere may not (napari's default scale of 1 ``pixel``). This row shows the
value the widgets will use, says in red when there is none or it cannot be used, and lets
the user set it: the image and the layers aligned with it are re-scaled to µm
(:func:`._layers.set_pixel_size`).
"""

from __future__ import annotations

import math
import threading
import weakref

from napari.layers import Image
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_warning
from qtpy.QtCore import QThreadPool, Signal
from qtpy.QtWidgets import (
    QApplication,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...sections.scale_check import PendingCheck, check_pixel_size
from ..io.layers import (
    LayerError,
    layer_pixel_size_um,
    layer_unit,
    pixel_size_problem,
    section_from_layer,
    set_pixel_size,
)
from .layer_choice import LayerChoice
from .model_choice import ModelChooser
from .progress import while_alive

_OK_STYLE = "color: palette(mid);"
_BAD_STYLE = "color: #e04040;"


def check_text(res) -> str:
    """The status line for a finished check: its verdict and, when the model hardly
    recognises the tissue, the familiarity verdict."""
    extra = res.familiarity_message
    return f"{res.message}. {extra[:1].upper()}{extra[1:]}." if extra else res.message


def check_is_bad(res) -> bool:
    """True when a check's verdict deserves the warning colour (a suspect pixel size, or a
    scan the model does not know)."""
    return res is not None and (res.verdict == "suspect" or not res.familiar)


def _check(
    model: str,
    device: str,
    section,
    stop: threading.Event,
    lm_path: str = "",
    pending: PendingCheck | None = None,
):
    from ...model import get_bundle

    res = None
    try:
        bundle = get_bundle(model, device, captioner=False, lm_path=lm_path or None)
        res = check_pixel_size(section, bundle, cancel=stop.is_set)
        return res
    finally:  # jobs waiting for this check go on (without a verdict when it failed)
        if pending is not None:
            pending.finish(res)


#: a napari thread worker running :func:`cytowords.sections.scale_check.check_pixel_size`
scale_check_worker = thread_worker(_check)


class PixelSizeRow(QWidget):
    """Spin box (µm/px) + *Set* + *Check* + a status line, bound to an image
    :class:`LayerChoice`; *Check* reads the tissue with ``model``'s bundle.

    ``changed`` is emitted (with the image layer) after *Set* re-scaled the image."""

    changed = Signal(object)

    def __init__(self, viewer, image_choice: LayerChoice, model: ModelChooser) -> None:
        super().__init__()
        self.viewer = viewer
        self.image_choice = image_choice
        self.model = model
        self.worker = None
        self.last_check = None
        self._checked: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._pending: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._queue: list[tuple] = []  # checks asked for while another ran (see check)
        self._stop = threading.Event()  # set when the application quits
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._shutdown)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, 100000.0)
        self.spin.setDecimals(4)
        self.spin.setSuffix(" µm/px")
        self.spin.setSpecialValueText("not set")
        self.spin.setToolTip("µm per pixel of the image's finest level (the scan's pixel size)")
        self.set_btn = QPushButton("Set")
        self.set_btn.setToolTip(
            "Use this pixel size: re-scales the image and the layers aligned with it to µm"
        )
        self.check_btn = QPushButton("Check")
        self.check_btn.setToolTip(
            "Read tissue fields at ½× to 2× this pixel size with the model and say whether "
            "it is plausible (a few seconds)"
        )
        self.status = QLabel()
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.spin, 1)
        row.addWidget(self.set_btn)
        row.addWidget(self.check_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.status)
        self._image: Image | None = None
        self.set_btn.clicked.connect(self.apply)
        self.check_btn.clicked.connect(self.check)
        self.spin.valueChanged.connect(self._update_button)
        image_choice.combo.currentIndexChanged.connect(self.refresh)
        self.refresh()

    def _bind(self, image: Image | None) -> None:
        if image is self._image:
            return
        if self._image is not None:
            for ev in (self._image.events.scale, self._image.events.units):
                ev.disconnect(self.refresh)
        self._image = image
        if image is not None:
            image.events.scale.connect(self.refresh)
            image.events.units.connect(self.refresh)

    def refresh(self, *_) -> None:
        """Show the chosen image's pixel size and whether it can be used."""
        image = self.image_choice.value()
        image = image if isinstance(image, Image) else None
        self._bind(image)
        self.spin.setEnabled(image is not None)
        self.check_btn.setEnabled(image is not None and self.worker is None)
        if image is None:
            self.spin.setValue(0.0)
            self.status.setText("")
            self._update_button()
            return
        problem = pixel_size_problem(image)
        ps = layer_pixel_size_um(image)
        self.spin.blockSignals(True)
        self.spin.setValue(ps or 0.0)
        self.spin.blockSignals(False)
        ok = "from the image's scale"
        if layer_unit(image) == "pixel":
            ok += " (no unit given: read as µm; press Set to confirm)"
        res = self._checked.get(image)
        if problem is None and res is not None:  # the last check of this image, if any
            ok = check_text(res)
        self.status.setText(problem or ok)
        self.status.setStyleSheet(_BAD_STYLE if problem or check_is_bad(res) else _OK_STYLE)
        self._update_button()

    def _update_button(self, *_) -> None:
        image = self._image
        value = float(self.spin.value())
        if image is None or value <= 0:
            self.set_btn.setEnabled(False)
            return
        # a usable pixel size (no problem) is never None
        if pixel_size_problem(image) is not None or layer_unit(image) == "pixel":
            self.set_btn.setEnabled(True)
        else:
            self.set_btn.setEnabled(abs(value - layer_pixel_size_um(image)) > 1e-9)

    def abstain_reason(self, image: Image | None) -> str:
        """Why every field of ``image`` abstains: its last pixel size check found the pixel
        size wrong (:attr:`ScaleCheck.abstain_reason`); "" when it did not or it has not
        been checked (yet) at its current pixel size."""
        res = self._checked.get(image) if image is not None else None
        return "" if res is None else res.abstain_reason

    def pending(self, image: Image | None) -> PendingCheck | None:
        """The check of ``image`` still running (*Check* or :meth:`auto_check`), for a job
        to wait for in its own thread (:meth:`PendingCheck.wait`); None when none runs."""
        return self._pending.get(image) if image is not None else None

    def value(self) -> float | None:
        """The chosen image's usable µm per pixel, or None (see :attr:`status`)."""
        image = self._image
        if image is None or pixel_size_problem(image) is not None:
            return None
        return layer_pixel_size_um(image)

    def apply(self) -> None:
        """Re-scale the chosen image (and the layers aligned with it) to the entered µm/px."""
        image = self._image
        if image is None:
            return
        try:
            set_pixel_size(self.viewer, image, float(self.spin.value()))
        except LayerError as exc:
            show_error(str(exc))
            return
        self._checked.pop(image, None)  # checked at the old size: check again
        self._pending.pop(image, None)
        self.refresh()
        self.changed.emit(image)

    def check(self, quiet: bool = False) -> None:
        """Check the chosen image's pixel size against the tissue, in a background thread;
        the verdict replaces the status line (red when the size looks wrong). ``quiet``:
        a failure (e.g. no tissue) only goes to the status line, no notification. One check
        runs at a time: while another image's check runs this one is queued behind it
        (already :meth:`pending`, so that a job can wait for it)."""
        image = self._image
        if image is None or image in self._pending:
            return
        try:
            section = section_from_layer(image)
            model, device = self.model.value(), self.model.device_value()
        except LayerError as exc:
            show_error(str(exc))
            return
        pending = self._pending[image] = PendingCheck()
        job = (weakref.ref(image), section, model, device, self.model.lm_value(), quiet, pending)
        self.check_btn.setEnabled(False)
        if self.worker is not None:
            self._queue.append(job)
            self.status.setText("pixel size check queued behind another image's check…")
            self.status.setStyleSheet(_OK_STYLE)
            return
        self._start(*job)

    def _start(self, image_ref, section, model, device, lm, quiet, pending) -> None:
        image = image_ref()
        if image is None or self._pending.get(image) is not pending or self._stop.is_set():
            pending.finish(None)  # removed, re-scaled or quitting: waiters go on
            return
        if image is self._image:
            self.status.setText("checking the pixel size against the tissue…")
            self.status.setStyleSheet(_OK_STYLE)
        worker = scale_check_worker(
            model, device, section, self._stop, lm, pending, _ignore_errors=True
        )
        worker.returned.connect(while_alive(self, lambda res: self._on_checked(res, image)))
        worker.errored.connect(
            while_alive(self, lambda exc: self._on_check_error(exc, quiet, image))
        )
        worker.finished.connect(while_alive(self, lambda: self._on_check_finished(image, pending)))
        self.worker = worker
        worker.start()

    def auto_check(self) -> None:
        """:meth:`check` the chosen image once (its first describe or map job), so that a
        mis-stated pixel size is flagged without the user asking."""
        image = self._image
        if image is not None and image not in self._checked and self.value() is not None:
            self.check(quiet=True)

    def _on_check_error(self, exc: Exception, quiet: bool, image: Image) -> None:
        self._checked[image] = None  # not retried by every job
        if image is self._image:
            self.status.setText(f"pixel size check failed: {exc}")
        if not quiet:
            show_error(f"pixel size check failed: {exc}")

    def _shutdown(self) -> None:
        """Stop a running check (between scales) and let it end before Python does."""
        self._stop.set()
        for job in self._queue:
            job[-1].finish(None)  # never started: waiters go on
        self._queue.clear()
        if self.worker is not None:
            QThreadPool.globalInstance().waitForDone(5000)

    def _on_checked(self, res, image: Image) -> None:
        if res is None:  # stopped
            return
        self.last_check = res
        if not math.isclose(res.stated_um, layer_pixel_size_um(image) or 0.0, rel_tol=1e-6):
            return  # re-scaled while it was checked: the verdict is for the old size
        self._checked[image] = res
        if res.verdict == "suspect":
            show_warning(res.message)
        if not res.familiar:
            show_warning(res.familiarity_message)
        if image is self._image:  # else another image is shown now: its row stays
            self.status.setText(check_text(res))
            self.status.setStyleSheet(_BAD_STYLE if check_is_bad(res) else _OK_STYLE)

    def _on_check_finished(self, image: Image, pending: PendingCheck) -> None:
        if self._pending.get(image) is pending:
            del self._pending[image]
        self.worker = None
        while self._queue and self.worker is None:  # the next queued image's check
            self._start(*self._queue.pop(0))
        self.check_btn.setEnabled(self._image is not None and self.worker is None)
