"""The "Borders" dock widget: a path drawn along the cortex -> observer-independent borders
(:func:`cytowords.measure.borders.find_borders`, in a worker thread) -> a Points layer of
the borders, a Shapes layer of the segments between them (named ``segment k`` in the
``name`` feature, to rename as the areas they run along; they are paths, which the Teach
widget cannot read fields in: it teaches from named polygons over the cortex) and the
distance function plotted against position along the path.

The path is the selected (else the first) path or line shape of the chosen Shapes layer,
drawn on the pial surface, along the middle of the ribbon or along the white-matter border.
"""

from __future__ import annotations

import numpy as np
from napari.layers import Image, Shapes
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...slide_reading import EXPORT_KEY, section_slide
from ..events import Done, Failed, JobEvent
from ..io.layers import LayerError, place_over, section_from_layer, world_to_section
from ..qt.layer_choice import LayerChoice
from ..qt.progress import ProgressRow, run_job
from ..qt.warm import PLOT_MODULES, warm_imports

#: test levels offered; "default" is the test's own (1e-4 Bonferroni, 0.002 permutation)
ALPHAS = ("default", "1e-7", "1e-5", "0.01", "0.05")
#: the tests offered (:data:`cytowords.measure.border_stats.TESTS`, the first is the default)
TESTS = ("bonferroni", "permutation")
PATH_TYPES = ("path", "line")
#: colours cycled over the segments
SEGMENT_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def path_section_um(shapes: Shapes, image: Image) -> np.ndarray:
    """The selected (else first) path/line shape of ``shapes`` as ``(N, 2)`` section µm;
    :class:`LayerError` when the layer has none."""
    idx = [i for i, t in enumerate(shapes.shape_type) if t in PATH_TYPES]
    if not idx:
        raise LayerError(
            f"layer {shapes.name!r} has no path: draw one along the pial surface "
            "(Shapes layer, 'add path' tool)"
        )
    chosen = [i for i in sorted(shapes.selected_data) if i in idx]
    v = np.asarray(shapes.data[(chosen or idx)[0]], dtype=float)[:, -2:]
    world = v * np.asarray(shapes.scale)[-2:] + np.asarray(shapes.translate)[-2:]
    return world + world_to_section(image)


def borders_events(
    section, path_um, spacing_um, blocks, alpha, test="bonferroni", adjust_length=True
):
    """Worker body: yields ``Done(BorderResult)`` or ``Failed(message)``; ``alpha`` None is
    the test's default level."""
    from ...measure import MeasureError
    from ...measure.borders import find_borders

    try:
        yield Done(
            find_borders(
                section,
                path_um,
                spacing_um=spacing_um,
                block_sizes=blocks,
                alpha=alpha,
                test=test,
                adjust_length=adjust_length,
            )
        )
    except MeasureError as exc:
        yield Failed(str(exc))


borders_worker = thread_worker(borders_events)


class DistancePlot(QWidget):
    """Mean Mahalanobis D² over block sizes against position along the path (mm), the
    borders as vertical lines (matplotlib's Qt canvas)."""

    def __init__(self) -> None:
        super().__init__()
        # matplotlib (~1-4 s to import on a busy core) is imported in a background thread
        # when the widget is made; the canvas is made with the first plot (:attr:`ax`)
        self.setMinimumHeight(160)
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)
        self.figure = self.canvas = self._ax = None
        self.x = np.zeros(0)
        self.y = np.zeros(0)

    @property
    def ax(self):
        """The plot's axes (made, with the figure and its Qt canvas, when first asked for)."""
        if self._ax is None:
            from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
            from matplotlib.figure import Figure

            self.figure = Figure(figsize=(4, 2.2), layout="constrained")
            self.canvas = FigureCanvasQTAgg(self.figure)
            self.canvas.setMinimumHeight(160)
            self._ax = self.figure.add_subplot(111)
            self._lay.addWidget(self.canvas)
        return self._ax

    def show_result(self, r) -> None:
        """Plot ``r`` (:class:`~cytowords.measure.borders.BorderResult`)."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns at the ends
            self.y = np.nanmean(r.distance, axis=0)
        self.x = r.positions_along_um / 1000.0
        ax = self.ax
        ax.clear()
        ax.plot(self.x, self.y, color="#1f77b4", lw=1.2)
        for b in r.border_along_um:
            ax.axvline(b / 1000.0, color="#d62728", lw=1, ls="--")
        ax.set_xlabel("position along the path (mm)")
        ax.set_ylabel("Mahalanobis D²")
        ax.set_title(f"{len(r.border_along_um)} border(s)", fontsize=9)
        self.canvas.draw_idle()


class BordersWidget(QWidget):
    """Dock widget finding area borders along a drawn path."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        warm_imports(
            *PLOT_MODULES, "cytowords.measure.borders"
        )  # for the first job, off the GUI thread
        self.viewer = napari_viewer
        self.image_choice = LayerChoice(napari_viewer, Image)
        self.path_choice = LayerChoice(napari_viewer, Shapes)
        self.spacing = QDoubleSpinBox()
        self.spacing.setRange(10.0, 2000.0)
        self.spacing.setValue(100.0)
        self.spacing.setSuffix(" µm")
        self.spacing.setToolTip("distance between neighbouring traverses along the path")
        self.block_min, self.block_max = QSpinBox(), QSpinBox()
        for sb, v in ((self.block_min, 16), (self.block_max, 30)):
            sb.setRange(4, 200)
            sb.setValue(v)
            sb.setSuffix(" traverses")
        self.alpha = QComboBox()
        self.alpha.addItems(ALPHAS)
        self.alpha.setToolTip("level of the corrected test (default: the test's own)")
        self.test = QComboBox()
        self.test.addItems(TESTS)
        self.test.setToolTip(
            "Hotelling T² with Bonferroni correction, or the max-statistic permutation test "
            "over the path (1000 seeded shuffles: about 10 s more per 20 mm)"
        )
        self.adjust_length = QCheckBox("adjust features for traverse length")
        self.adjust_length.setChecked(True)
        self.adjust_length.setToolTip(
            "compare the blocks with the log traverse length as covariate: a change the "
            "length explains within the blocks (oblique or curved ribbon) is no border; off "
            "for short paths over areas of different thickness"
        )
        self.run_btn = QPushButton("Find borders")
        self.run_btn.clicked.connect(self.run)
        self.save_btn = QPushButton("Save borders…")
        self.save_btn.setEnabled(False)
        self.save_btn.setToolTip(
            "the borders and the segments, with the names given them in the segments layer, "
            "as QuPath GeoJSON (full-resolution pixels), as `cytowords borders --out` writes"
        )
        self.save_btn.clicked.connect(lambda: self.save())
        self.progress = ProgressRow()
        self.progress.cancel_btn.setToolTip("the result of a cancelled run is not shown")
        self.plot = DistancePlot()
        form = QFormLayout()
        form.addRow("Image", self.image_choice.combo)
        form.addRow("Path layer", self.path_choice.combo)
        form.addRow("Spacing", self.spacing)
        form.addRow("Smallest block", self.block_min)
        form.addRow("Largest block", self.block_max)
        form.addRow("Test", self.test)
        form.addRow("Test level α", self.alpha)
        form.addRow("", self.adjust_length)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.run_btn)
        lay.addWidget(self.save_btn)
        lay.addWidget(self.progress)
        lay.addWidget(self.plot, 1)
        self._worker = None
        self.result = None
        #: µm per full-resolution pixel of the image the result was found on
        self.result_pixel_um = 1.0
        #: how that image's slide was read (:mod:`cytowords.slide_reading`; None: not said)
        self.result_slide: str | None = None
        self.last_layers: list = []
        # a result is shown in steps, one per turn of the event loop (:meth:`_show`)
        self._steps: list = []
        self._step_timer = QTimer(self)
        self._step_timer.setSingleShot(True)
        self._step_timer.setInterval(0)
        self._step_timer.timeout.connect(self._next_step)

    def run(self) -> None:
        """Start border detection on the chosen path (notifications on bad input)."""
        if self.busy:
            show_info("borders are already being computed; cancel first")
            return
        image, shapes = self.image_choice.value(), self.path_choice.value()
        try:
            if image is None or shapes is None:
                raise LayerError(
                    "choose an image and a Shapes layer with a path drawn on the cortex"
                )
            section = section_from_layer(image)
            place_over(shapes, image)  # a path read from a QuPath/Fiji file: image pixels
            path = path_section_um(shapes, image)
        except LayerError as exc:
            show_error(str(exc))
            return
        self.result = None
        self.save_btn.setEnabled(False)
        self.result_pixel_um = float(section.pixel_size_um[0])
        self.result_slide = section_slide(section)
        lo, hi = sorted((self.block_min.value(), self.block_max.value()))
        blocks = tuple(range(lo, hi + 1, 2)) or (lo,)
        self.progress.start("reading the ribbon and tracing traverses…")
        self.progress.set_fraction(0.05)
        worker = borders_worker(
            section,
            path,
            self.spacing.value(),
            blocks,
            None if self.alpha.currentText() == "default" else float(self.alpha.currentText()),
            self.test.currentText(),
            self.adjust_length.isChecked(),
            _ignore_errors=True,
        )
        run_job(self, worker, self.run_btn, lambda ev: self._on_event(ev, image), "borders")

    def _on_event(self, ev: JobEvent, image: Image) -> None:
        if self.progress.cancel_event.is_set():
            return
        if isinstance(ev, Failed):
            show_error(f"borders: {ev.message}")
            self.progress.finish(f"no borders: {ev.message}")
            return
        self.result = r = ev.result
        self._show(r, image)

    def _show(self, r, image: Image) -> None:
        """Show result ``r``: the progress row first (``QProgressBar.setValue`` repaints at
        once: before the new layers exist, it draws only the bar), then the borders layer,
        the segments layer and the plot, each in its own turn of the event loop, so that
        napari draws each new layer and matplotlib the plot (``draw_idle``) on their own,
        not in one long stall."""
        self.progress.set_fraction(1.0)
        self.progress.finish(
            f"{len(r.border_along_um)} border(s) along {r.path_length_um / 1000:.1f} mm "
            f"({len(r.traverses_um)} traverses)"
        )
        self.last_layers = []
        self._steps = [
            lambda: self._add_borders(r, image),
            lambda: self._add_segments(r, image),
            lambda: self.plot.show_result(r),
            lambda: self.save_btn.setEnabled(True),
        ]
        self._step_timer.start()

    def _next_step(self) -> None:
        if self._steps:
            self._steps.pop(0)()
        if self._steps:
            self._step_timer.start()

    @staticmethod
    def _placement(image: Image) -> tuple[dict, object]:
        """``(layer keywords, section µm -> layer data function)`` placing a new layer over
        ``image`` (its scale, translation and units)."""
        to_world = -world_to_section(image)
        kw = {"scale": tuple(image.scale[-2:]), "translate": tuple(image.translate[-2:])}
        if image.units is not None:
            kw["units"] = tuple(str(u) for u in image.units[-2:])
        scale = np.asarray(image.scale[-2:], dtype=float)
        offset = np.asarray(image.translate[-2:], dtype=float)

        def data(pts_um):  # section µm -> layer data coordinates
            return ((np.asarray(pts_um) + to_world) - offset) / scale

        return kw, data

    def _add_borders(self, r, image: Image) -> None:
        """The Points layer ``<image> borders`` (features ``along_mm``, ``support``)."""
        kw, data = self._placement(image)
        pts = self.viewer.add_points(
            data(r.border_um) if len(r.border_um) else np.zeros((0, 2)),
            name=f"{image.name} borders",
            size=max(8.0, 300.0 / float(image.scale[-2])),
            face_color="#d62728",
            features={
                "along_mm": np.round(r.border_along_um / 1000.0, 2),
                "support": np.round(r.border_support, 2),
            },
            **kw,
        )
        self.last_layers.append(pts)

    def _add_segments(self, r, image: Image) -> None:
        """The Shapes layer ``<image> segments``: one path per segment, named ``segment k``."""
        from ...measure.borders import point_at

        kw, data = self._placement(image)
        segs = []
        for a, b in r.segments_along_um:
            along = np.linspace(a, b, max(2, int((b - a) / r.spacing_um) + 1))
            segs.append(data(point_at(r.path_um, along)))
        names = [f"segment {k}" for k in range(1, len(segs) + 1)]
        seg = self.viewer.add_shapes(
            segs,
            shape_type="path",
            name=f"{image.name} segments",
            edge_width=max(2.0, 100.0 / float(image.scale[-2])),
            edge_color="segment",
            edge_color_cycle=SEGMENT_COLOURS,
            # the segment number as text: napari colours each from the cycle without guessing
            features={"name": names, "segment": [str(k) for k in range(1, len(segs) + 1)]},
            text={"string": "{name}", "color": "white", "size": 10},
            **kw,
        )
        self.last_layers.append(seg)

    def save(self, path: str | None = None) -> str | None:
        """Write the last result's borders and segments as QuPath GeoJSON
        (:func:`~cytowords.measure.borders.borders_geojson`; the segments named as in the
        segments layer, atomically); asks where when ``path`` is None. Returns the file or
        None."""
        import json

        from ...atomic import atomic_write_text
        from ...measure.borders import borders_geojson

        r = self.result
        if r is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Save borders and segments", "", "QuPath GeoJSON (*.geojson)"
            )
            if not path:
                return None
        if not str(path).lower().endswith((".geojson", ".json")):
            path = f"{path}.geojson"
        names = None
        segs = self.last_layers[1] if len(self.last_layers) > 1 else None
        if (
            segs is not None
            and segs in self.viewer.layers
            and "name" in segs.features.columns
            and len(segs.features) == len(r.segments_along_um)
        ):
            names = [str(v) for v in segs.features["name"]]
        gj = borders_geojson(r, self.result_pixel_um, names)
        if self.result_slide:  # beside the pixel size
            gj["properties"][EXPORT_KEY] = self.result_slide
        try:
            atomic_write_text(path, json.dumps(gj, indent=1, ensure_ascii=False))
        except OSError as exc:
            show_error(f"could not save {path}: {exc.strerror or exc}")
            return None
        show_info(
            f"saved {path}: {len(r.border_along_um)} border(s) and "
            f"{len(r.segments_along_um)} segment(s)"
        )
        return str(path)

    def cancel(self) -> None:
        self.progress.cancel()

    @property
    def busy(self) -> bool:
        """True while borders are computed or their result is being shown."""
        return self._worker is not None or bool(self._steps)
