"""The "Teach areas" dock widget: named regions on one or more sections -> a taught area
model (cross-validated in a worker thread) -> saved as a model bundle.

Regions are the area shapes (rectangles, polygons, ellipses) of a Shapes layer, named as
``cytowords teach`` names them (:func:`cytowords.teach.annotations.area_name`): by their
QuPath class (the reader's ``classification`` feature), else their ``name`` feature (the
column the Describe widget and the region reader use; ``area`` or ``class`` also work);
unnamed shapes, shapes named only ``ROI k`` and Fiji ROIs named only by ImageJ's position
label (Analyze Particles' outlines) are skipped, the last counted in one notification.
*Add section* puts the chosen image and its regions on the list; *Fit* teaches from every
listed pair (or the chosen pair when the list is empty), shows the cross-validation table,
and *Save…* writes the bundle that Describe and Area map then take as their model.
"""

from __future__ import annotations

from dataclasses import dataclass

from napari.layers import Image, Shapes
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtGui import QFont
from qtpy.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..events import Done, Failed, JobEvent
from ..io.layers import LayerError, place_over, section_from_layer, shapes_section_um
from ..io.shapes import CLASS_COLUMN
from ..qt.layer_choice import LayerChoice
from ..qt.progress import ProgressRow, run_job, while_alive

#: feature columns that name a region, in order of preference
NAME_COLUMNS = ("name", "area", "class")


@dataclass(frozen=True)
class Pair:
    """An image layer and the Shapes layer of regions named on it."""

    image: Image
    shapes: Shapes

    def label(self) -> str:
        return f"{self.image.name} — {self.shapes.name}"


def _names(shapes: Shapes) -> list[tuple[object, object]]:
    """``(class, name)`` of each shape (None where the layer has no such column)."""
    import pandas as pd

    feats = shapes.features
    col = next((c for c in NAME_COLUMNS if c in feats.columns), None)

    def value(column: str | None, i: int) -> object:
        if column is None or column not in feats.columns or i >= len(feats):
            return None
        v = feats[column].iloc[i]
        return None if pd.api.types.is_scalar(v) and pd.isna(v) else v

    return [(value(CLASS_COLUMN, i), value(col, i)) for i in range(len(shapes.data))]


def named_regions(shapes: Shapes, image: Image, section: int) -> list:
    """:class:`~cytowords.teach.Annotation` for each named area shape of ``shapes``
    (section µm of ``image``, with the shape's holes), named by
    :func:`~cytowords.teach.annotations.area_name`; shapes without an area name or enclosing
    nothing are skipped."""
    from ...regions.roi import Roi
    from ...teach.annotations import Annotation, area_name

    named = [(i, area_name(cls, own)) for i, (cls, own) in enumerate(_names(shapes))]
    named = [(i, name) for i, name in named if name]
    regions = shapes_section_um(shapes, [i for i, _ in named], image)
    return [
        Annotation(section, name, Roi(poly, name, holes=tuple(holes)), shapes.name)
        for (_, name), (poly, holes) in zip(named, regions)
        if poly is not None
    ]


def named_lines(shapes: Shapes) -> int:
    """How many shapes of ``shapes`` are named as an area but are paths or lines (the
    Borders dock's segments renamed to areas): they enclose no cortex to read fields in."""
    from ...teach.annotations import area_name

    return sum(
        1
        for t, (cls, own) in zip(shapes.shape_type, _names(shapes))
        if t in ("path", "line") and area_name(cls, own)
    )


def lines_text(shapes: Shapes, n: int) -> str:
    """What to say of ``n`` named paths or lines of ``shapes`` (:func:`named_lines`)."""
    return (
        f"layer {shapes.name!r}: {n} named shape(s) are paths or lines, which enclose no "
        "cortex: draw a polygon over the cortex of each area (pia to white matter) and name it"
    )


def skipped_notes(shapes: Shapes) -> list[str]:
    """The notes, as ``cytowords teach`` gives them, on the shapes that teach no area: one
    counting those named only by ImageJ's position label, one per QuPath special class,
    one counting named paths and lines (:func:`named_lines`)."""
    from ...teach.annotations import (
        QUPATH_SPECIAL_CLASSES,
        clean_name,
        is_position_label,
        position_label_note,
        special_class_note,
    )

    where = f"layer {shapes.name!r}"
    names = _names(shapes)
    labels = [clean_name(n) for c, n in names if is_position_label(c, n)]
    notes = [position_label_note(where, labels)] if labels else []
    classes = [clean_name(c) for c, _ in names]
    for cls in QUPATH_SPECIAL_CLASSES:
        if classes.count(cls):
            notes.append(special_class_note(where, cls, classes.count(cls)))
    n = named_lines(shapes)
    if n:
        notes.append(f"{lines_text(shapes, n)}; skipped")
    return notes


def teach_events(pairs: list[Pair], model: str, cancel, on_progress=None):
    """Worker body: yields ``Done(TaughtModel)`` or ``Failed(message)``."""
    from ...jobs import Cancelled
    from ...teach import TeachError, teach

    try:
        sections, anns = [], []
        for k, p in enumerate(pairs):
            sections.append(section_from_layer(p.image))
            found = named_regions(p.shapes, p.image, k)
            if not found and named_lines(p.shapes):
                raise TeachError(lines_text(p.shapes, named_lines(p.shapes)))
            if not found:
                raise TeachError(
                    f"layer {p.shapes.name!r}: no named region (give shapes a name in the "
                    "layer's 'name' feature)"
                )
            anns += found
        yield Done(teach(sections, anns, model=model, on_progress=on_progress, cancel=cancel))
    except Cancelled:
        return
    except (TeachError, LayerError, FileNotFoundError, ValueError) as exc:
        yield Failed(str(exc))


teach_worker = thread_worker(teach_events)


class TeachWidget(QWidget):
    """Dock widget teaching areas from named regions."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.image_choice = LayerChoice(napari_viewer, Image)
        self.shapes_choice = LayerChoice(napari_viewer, Shapes)
        self.model = QLineEdit("default")
        self.model.setToolTip("Model bundle whose encoder embeds the fields ('default': bundled)")
        self.pairs_list = QListWidget()
        self.pairs: list[Pair] = []
        add_btn = QPushButton("Add section")
        add_btn.clicked.connect(self.add_pair)
        clear_btn = QPushButton("Clear list")
        clear_btn.clicked.connect(self.clear_pairs)
        self.fit_btn = QPushButton("Fit")
        self.fit_btn.clicked.connect(self.fit)
        self.save_btn = QPushButton("Save…")
        self.save_btn.setEnabled(False)
        self.save_btn.clicked.connect(lambda: self.save())
        self.table = QPlainTextEdit()
        self.table.setReadOnly(True)
        self.table.setFont(QFont("monospace"))
        self.table.setPlaceholderText("cross-validation appears here after Fit")
        self.progress = ProgressRow()
        form = QFormLayout()
        form.addRow("Image", self.image_choice.combo)
        form.addRow("Named regions", self.shapes_choice.combo)
        form.addRow("Base model", self.model)
        row = QHBoxLayout()
        row.addWidget(add_btn)
        row.addWidget(clear_btn)
        buttons = QHBoxLayout()
        buttons.addWidget(self.fit_btn)
        buttons.addWidget(self.save_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(row)
        lay.addWidget(self.pairs_list)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.table, 1)
        self._worker = None
        self.taught = None
        napari_viewer.layers.events.removed.connect(while_alive(self, self._drop_removed))

    def _drop_removed(self, event=None) -> None:
        """Take off the list the sections whose image or regions layer left the viewer
        (a fit must not read a closed layer's data), with one note naming them."""
        layers = list(self.viewer.layers)
        gone = [p for p in self.pairs if p.image not in layers or p.shapes not in layers]
        if not gone:
            return
        self.pairs = [p for p in self.pairs if p not in gone]
        self.pairs_list.clear()
        for p in self.pairs:
            self.pairs_list.addItem(p.label())
        names = "; ".join(p.label() for p in gone)
        show_info(f"taken off the sections to teach from (layer closed): {names}")

    def current_pair(self) -> Pair | None:
        image, shapes = self.image_choice.value(), self.shapes_choice.value()
        return Pair(image, shapes) if image is not None and shapes is not None else None

    def add_pair(self) -> None:
        """Put the chosen image and regions layer on the list of sections to teach from."""
        p = self.current_pair()
        if p is None:
            show_error("choose an image and a Shapes layer of named regions first")
            return
        if p in self.pairs:
            return
        place_over(p.shapes, p.image)
        self.pairs.append(p)
        self.pairs_list.addItem(p.label())

    def clear_pairs(self) -> None:
        self.pairs.clear()
        self.pairs_list.clear()

    def fit(self) -> None:
        """Teach from the listed sections (or the chosen pair) in a worker thread."""
        if self._worker is not None:
            show_info("already fitting; cancel it first")
            return
        pairs = list(self.pairs) or ([self.current_pair()] if self.current_pair() else [])
        if not pairs:
            show_error("choose an image and a Shapes layer of named regions first")
            return
        for p in pairs:
            place_over(p.shapes, p.image)
            for note in skipped_notes(p.shapes):
                show_info(note)
        cancel = self.progress.start("reading and embedding fields…")
        self.save_btn.setEnabled(False)  # a model taught before is kept until a new one is
        worker = teach_worker(
            pairs,
            self.model.text().strip() or "default",
            cancel,
            on_progress=self.progress.relay,
            _ignore_errors=True,
        )
        run_job(self, worker, self.fit_btn, self._on_event, "teach", self._on_finished)

    def _on_event(self, ev: JobEvent) -> None:
        if isinstance(ev, Failed):
            show_error(f"teach: {ev.message}")
            self.progress.finish(f"not taught: {ev.message}{self._kept()}")
            return
        if self.progress.cancel_event.is_set():
            return
        self.taught = ev.result
        self.table.setPlainText(self.taught.cv.table())
        self.save_btn.setEnabled(True)
        self.progress.finish(
            f"taught {len(self.taught.names)} areas in {self.taught.seconds:.0f} s; "
            "check the cross-validation, then Save…"
        )

    def _kept(self) -> str:
        """What the status adds when a fit ends without a new model."""
        if self.taught is None:
            return ""
        return "; the model taught before is kept (its table below): Save… writes it"

    def _on_finished(self) -> None:
        """After a fit: Save… for the model at hand; a cancelled fit said as such."""
        self.save_btn.setEnabled(self.taught is not None)
        if self.progress.cancel_event.is_set():
            self.progress.finish(f"cancelled: nothing new taught{self._kept()}")

    def save(self, path: str | None = None) -> str | None:
        """Write the taught model as a bundle folder (asks where when ``path`` is None);
        returns the folder or None."""
        from ...teach import TeachError, save_taught

        if self.taught is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save taught model as folder")
            if not path:
                return None
        try:
            save_taught(self.taught, path)
        except TeachError as exc:  # names the folder itself
            show_error(f"not saved: {exc}")
            return None
        except (OSError, ValueError) as exc:
            show_error(f"could not save {path}: {exc}")
            return None
        show_info(f"saved {path}: choose it as the model in Describe or Area map")
        return str(path)

    def cancel(self) -> None:
        self.progress.cancel()

    @property
    def busy(self) -> bool:
        return self._worker is not None
