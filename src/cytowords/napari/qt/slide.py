"""The "Slide" row of the dock widgets: how the chosen image's slide is read, choosable.

A fluorescent Nissl scan (bright somata on a dark slide) is read inverted, so that it is
measured as the bright-field stain it mirrors; the reader judges the slide when it opens a
section. Where that judgement is undecided (a crop without slide) or wrong (a masked
export), the user chooses here: the image is read again from its file that way and its
layer's data replaced (:func:`..io.slide.reread_slide`), for every widget alike. An image
of another reader is not read again: the choice changes how the widgets read its data, and
the layer is shown as stored (:func:`..io.slide.reread_slide`).
"""

from __future__ import annotations

from napari.layers import Image
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

from ..io.layers import read_by_cytowords, read_in_background
from ..io.slide import SLIDE_NAMES, foreign_status, reread_slide, slide_of, slide_problem
from .layer_choice import LayerChoice
from .progress import while_alive

_OK_STYLE = "color: palette(mid);"
#: the combo's entries: readings in the order shown
_ORDER = ("auto", "bright", "dark")


class SlideRow(QWidget):
    """Combo (as judged / bright field / fluorescent) + a status line, bound to an image
    :class:`LayerChoice`.

    ``changed`` is emitted (with the image layer) after the image was read again."""

    changed = Signal(object)

    def __init__(self, viewer, image_choice: LayerChoice) -> None:
        super().__init__()
        self.viewer = viewer
        self.image_choice = image_choice
        self.combo = QComboBox()
        self.combo.addItems([SLIDE_NAMES[k] for k in _ORDER])
        self.combo.setToolTip(
            "How the scan is read: bright field (cells dark on a bright slide, as stored) or "
            "fluorescent (bright cells on a dark slide, e.g. NeuroTrace or DAPI: read "
            "inverted, as the bright-field stain it mirrors). The image is read again from "
            "its file; every cytowords widget then reads it that way. An image opened by "
            "another reader is measured that way and shown as stored."
        )
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setStyleSheet(_OK_STYLE)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.combo)
        lay.addWidget(self.status)
        #: the running re-read (None when none runs)
        self.worker = None
        self._image: Image | None = None
        self.combo.currentIndexChanged.connect(self._on_choice)
        image_choice.combo.currentIndexChanged.connect(self.refresh)
        self.refresh()

    def _bind(self, image: Image | None) -> None:
        if image is self._image:
            return
        if self._image is not None:
            self._image.events.data.disconnect(self.refresh)
            self._image.events.scale.disconnect(self.refresh)
            self._image.events.metadata.disconnect(self.refresh)
        self._image = image
        if image is not None:
            image.events.data.connect(self.refresh)
            image.events.scale.connect(self.refresh)  # a pixel size given: it can be read
            # a reading chosen in another widget's row (of another reader's layer: no data
            # event)
            image.events.metadata.connect(self.refresh)

    def value(self) -> str:
        """The reading shown for the chosen image (``auto``, ``bright`` or ``dark``)."""
        return _ORDER[max(0, self.combo.currentIndex())]

    def refresh(self, *_) -> None:
        """Show the chosen image's reading and what the reader said about its slide."""
        image = self.image_choice.value()
        image = image if isinstance(image, Image) else None
        self._bind(image)
        self.combo.blockSignals(True)
        self.combo.setCurrentIndex(_ORDER.index(slide_of(image)) if image is not None else 0)
        self.combo.blockSignals(False)
        problem = slide_problem(image) if image is not None else None
        self.combo.setEnabled(image is not None and problem is None and self.worker is None)
        if image is None:
            self.status.setText("")
            return
        if not read_by_cytowords(image):
            self.status.setText(foreign_status(image))
            # read now in a worker, not on the GUI thread when a widget first measures it
            read_in_background(image, on_done=while_alive(self, self.refresh))
            return
        said = image.metadata.get("slide") or image.metadata.get("background")
        said = said or "read as stored (a bright-field stain: cells dark on a bright slide)"
        self.status.setText(problem or said)

    def _on_choice(self, index: int) -> None:
        image = self._image
        if image is None or index < 0:
            return
        self.choose(_ORDER[index])

    def choose(self, slide: str):
        """Read the chosen image again as ``slide`` (``auto``, ``bright`` or ``dark``) in a
        worker thread; the started worker (None when nothing is read)."""
        image = self._image
        if image is None or self.worker is not None:
            return None
        self.combo.setEnabled(False)
        self.status.setText(f"reading {image.name} as {SLIDE_NAMES[slide]}…")
        self.worker = reread_slide(
            image,
            slide,
            on_done=while_alive(self, self._done),
            on_failed=while_alive(self, self._failed),
        )
        if self.worker is None:
            self.refresh()
        else:  # a refresh while it started (the layer's events) enabled the combo
            self.combo.setEnabled(False)
        return self.worker

    def _done(self, image: Image) -> None:
        self.worker = None
        self.refresh()
        self.changed.emit(image)

    def _failed(self, _image: Image) -> None:
        self.worker = None
        self.refresh()  # the combo shows the reading the image still has
