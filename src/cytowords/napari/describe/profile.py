"""Profile view: the laminar profile of the selected ROI beside the atlas's reference profiles.

For the ROI selected in a ROI layer, the model-free readout (:func:`cytowords.measure.measure_roi`,
profiles only) runs in a worker thread; the view then plots the ROI's optical-density
profile (mean ± SD over its traverses, pia -> white matter) with the estimated layer
borders, beside the reference profiles (:mod:`cytowords.measure.reference`) of the area the
description predicted and its next alternatives (read from the ROI's ``area`` and
``alternatives`` columns, so after Describe has run), all scaled by shape. The traverses,
the pial surface and the grey/white-matter border are drawn over the image as Shapes layers.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
from napari.layers import Image, Shapes
from napari.qt.threading import thread_worker
from qtpy.QtWidgets import QFormLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ...atlas import NONE_ID, load_atlas
from ..io.layers import (
    LayerError,
    is_area_shape,
    section_from_layer,
    shape_polygon_section_um,
    world_to_section,
)
from ..qt.layer_choice import LayerChoice
from ..qt.progress import while_alive
from ..qt.warm import PLOT_MODULES, warm_imports

if TYPE_CHECKING:  # imported where used: scipy.signal and matplotlib take ~1-2 s on the GUI
    # thread when napari makes the widget; a background thread imports them meanwhile
    from matplotlib.figure import Figure

    from ...measure import Readout
    from ...measure.reference import ReferenceProfile

#: what the readout and the plot import (in a background thread when the widget is made)
PROFILE_MODULES = ("cytowords.measure", "cytowords.measure.reference", *PLOT_MODULES)

TRAVERSES_LAYER = "profile traverses"
PIA_LAYER = "pial surface"
WHITE_LAYER = "white-matter border"
#: how many of the description's alternatives get a reference profile
N_ALTERNATIVES = 2
PIA_COLOR = "#00e5ff"
WHITE_COLOR = "#ff9800"


def _measure(section, polygon_um: np.ndarray) -> Readout:
    from ...measure import measure_roi

    return measure_roi(section, polygon_um, cells=False)


profile_worker = thread_worker(_measure)


def reference_areas(area: str, alternatives: str, n_alt: int = N_ALTERNATIVES) -> list[str]:
    """The predicted area then up to ``n_alt`` alternatives (``"4a 38%, 6d1 3%"``); the
    rejection id and empty names are left out."""
    names = [area] + [m.group(1) for m in re.finditer(r"([^,\s]+) \d+%", alternatives or "")][
        :n_alt
    ]
    return [a for a in names if a and a != NONE_ID and a != "nan"]


def layer_borders(readout: Readout) -> list[tuple[str, float]]:
    """``(label, relative depth)`` of the layer borders the readout shows ("I/II" ...)."""
    lay = readout.layers
    if lay is None:
        return []
    return [(k, float(d)) for k, (d, _c) in lay.borders.items() if np.isfinite(d)]


def _short(sentence: str) -> bool:
    """Sentences shown in the status line (thickness, layer IV, borders)."""
    return sentence.startswith(
        ("The cortex is", "The profile shows", "The somata show", "Layer IV is", "Layer borders")
    )


def draw_profile(fig: Figure, readout: Readout, refs: list[ReferenceProfile], title: str) -> None:
    """Plot the ROI's profile (shape-scaled mean ± SD), its layer borders and the reference
    profiles on ``fig`` (cleared first). Depth runs left (pia) to right (white matter)."""
    from ...measure.reference import shape_range

    fig.clear()
    ax = fig.add_subplot(111)
    atlas = load_atlas()
    if readout.measured:
        lo, hi = shape_range(readout.profile_mean)
        span = hi - lo if hi > lo else 1.0
        m = (readout.profile_mean - lo) / span
        sd = readout.profile_sd / span
        ax.fill_between(readout.depth, m - sd, m + sd, color="0.6", alpha=0.35, lw=0)
        ax.plot(
            readout.depth, m, color="k", lw=2, label=f"this ROI ({readout.n_traverses} traverses)"
        )
        for label, d in layer_borders(readout):
            ax.axvline(d, color="crimson", lw=1, ls=":")
            ax.text(
                d,
                1.02,
                label,
                color="crimson",
                fontsize=7,
                ha="center",
                va="bottom",
                transform=ax.get_xaxis_transform(),
            )
    for i, ref in enumerate(refs):
        try:
            color = atlas.color(ref.area)
        except (KeyError, ValueError):
            color = None
        ax.plot(
            ref.depth,
            ref.profile,
            color=color,
            lw=1.3,
            ls="-" if i == 0 else "--",
            label=f"{ref.area} (atlas{', predicted' if i == 0 else ''})",
        )
    ax.set_xlim(0, 1)
    ax.set_xlabel("relative depth (0 pia → 1 white matter)")
    ax.set_ylabel("cell-body stain (scaled by shape)")
    ax.set_title(title, fontsize=9, pad=14)
    if ax.lines:
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()


class ProfileWidget(QWidget):
    """Dock widget: the laminar profile of the selected ROI (see the module docstring)."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        warm_imports(*PROFILE_MODULES)
        self.viewer = napari_viewer
        self.image_choice = LayerChoice(napari_viewer, Image)
        self.roi_choice = LayerChoice(napari_viewer, Shapes)
        self.show_btn = QPushButton("Profile of the selected ROI")
        self.show_btn.setToolTip(
            "Measure the selected ROI's laminar profile (pia -> white matter) and compare it "
            "with the atlas profiles of its predicted area and alternatives"
        )
        self.show_btn.clicked.connect(self.show_selected)
        self.status = QLabel("Select a ROI (describe it first for the reference profiles).")
        self.status.setWordWrap(True)
        # the matplotlib canvas is made with the first plot (see :attr:`figure`)
        self._figure = self._canvas = None
        self._plot_area = QWidget()
        self._plot_area.setMinimumHeight(260)
        self._plot_lay = QVBoxLayout(self._plot_area)
        self._plot_lay.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        form.addRow("Image", self.image_choice.combo)
        form.addRow("ROI layer", self.roi_choice.combo)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.show_btn)
        lay.addWidget(self.status)
        lay.addWidget(self._plot_area, 1)
        self.setMinimumWidth(360)
        self.readout: Readout | None = None
        self.references: list[ReferenceProfile] = []
        self._worker = None

    @property
    def figure(self) -> Figure:
        """The plot's matplotlib figure (made, with its Qt canvas, when first asked for)."""
        if self._figure is None:
            from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
            from matplotlib.figure import Figure

            self._figure = Figure(figsize=(4.2, 3.0), dpi=80)
            self._canvas = FigureCanvasQTAgg(self._figure)
            self._canvas.setMinimumHeight(260)
            self._plot_lay.addWidget(self._canvas)
        return self._figure

    @property
    def canvas(self):
        """The plot's Qt canvas (``FigureCanvasQTAgg``)."""
        _ = self.figure
        return self._canvas

    @property
    def busy(self) -> bool:
        """True while a readout runs."""
        return self._worker is not None

    def _selected_row(self, layer: Shapes) -> int | None:
        sel = sorted(layer.selected_data)
        rows = [i for i in (sel or range(len(layer.data))) if is_area_shape(layer, i)]
        return rows[0] if rows else None

    def show_selected(self) -> None:
        """Measure the selected ROI (the first area shape when none is selected) in a
        worker; the plot and the layers follow when it returns."""
        if self.busy:
            self.status.setText("Still measuring the previous ROI…")
            return
        image, layer = self.image_choice.value(), self.roi_choice.value()
        if image is None or layer is None:
            self.status.setText("Open a section image and draw a ROI first.")
            return
        row = self._selected_row(layer)
        if row is None:
            self.status.setText(f"Layer {layer.name!r} has no ROI (a rectangle or polygon).")
            return
        try:
            section = section_from_layer(image)
            poly = shape_polygon_section_um(layer, row, image)
        except LayerError as exc:
            self.status.setText(str(exc))
            return
        feats = layer.features
        get = lambda k: str(feats[k].iloc[row]) if k in feats.columns and row < len(feats) else ""  # noqa: E731
        areas = reference_areas(get("area"), get("alternatives"))
        self.status.setText(f"Measuring ROI {row + 1}…")
        self.show_btn.setEnabled(False)
        worker = profile_worker(section, poly)
        worker.returned.connect(while_alive(self, lambda r: self._show(r, image, row, areas)))
        worker.errored.connect(self._failed)
        worker.finished.connect(self._done)
        self._worker = worker
        worker.start()

    def _done(self) -> None:
        self._worker = None
        self.show_btn.setEnabled(True)

    def _failed(self, exc: Exception) -> None:
        from ...measure import MeasureError

        msg = str(exc) if isinstance(exc, MeasureError) else f"{type(exc).__name__}: {exc}"
        self.status.setText(f"Not measured: {msg}")

    def _show(self, readout: Readout, image: Image, row: int, areas: list[str]) -> None:
        from ...measure.reference import atlas_reference

        self.readout = readout
        self.references = [r for r in (atlas_reference(a) for a in areas) if r is not None]
        if readout.measured:
            th = f"{readout.thickness_mm:.2f} mm thick"
            lay = readout.layers
            ctype = "?" if lay is None else lay.cortex_type or "layer IV undecided"
            title = f"ROI {row + 1}: {th}, {ctype}"
            said = readout.statements()
            # the thickness, layer IV and layer borders here; every sentence in the tooltip
            self.status.setText(" ".join(t for t in said if _short(t)))
            self.status.setToolTip("\n".join(said))
        else:
            title = f"ROI {row + 1}: not measured"
            self.status.setText("Not measured: " + "; ".join(readout.reasons))
        if not self.references:
            title += " (describe it for reference profiles)"
        draw_profile(self.figure, readout, self.references, title)
        self.canvas.draw_idle()
        self._draw_layers(readout, image)

    def _draw_layers(self, readout: Readout, image: Image) -> None:
        """Traverses, pial surface and white-matter border as path layers in world µm."""
        off = world_to_section(image)
        units = tuple(str(u) for u in image.units[-2:]) if image.units is not None else None
        paths = {
            TRAVERSES_LAYER: ([t - off for t in readout.traverses_um], "#ffffff", 0.5),
            PIA_LAYER: ([readout.pial_line_um() - off], PIA_COLOR, 1.0),
            WHITE_LAYER: ([readout.white_line_um() - off], WHITE_COLOR, 1.0),
        }
        width = 2.0 * float(readout.profile_pixel_um)
        for name, (data, color, share) in paths.items():
            data = [d for d in data if len(d) >= 2]
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
            if not data:
                continue
            kw = {"units": units} if units is not None else {}
            self.viewer.add_shapes(
                data,
                shape_type="path",
                edge_color=color,
                edge_width=width * share,
                name=name,
                **kw,
            )
