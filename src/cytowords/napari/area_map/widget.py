"""The "Area map" dock widget: map the areas of the current view, a ROI or the whole section.

Widget values become an :class:`AreaMapRequest`; ``compute_area_map`` runs in a napari thread
worker with progress and cancel; the result is added on the main thread as a Labels layer
(area colours and names, µm scale) plus a layer marking rejected tiles. A cancelled or
failed run adds nothing.

*Follow view* maps the current view while the user looks: after the camera stops
(:data:`~._live_view.LIVE_DEBOUNCE_MS`) the view is mapped at the finest stride that is
fast (:mod:`._live_view`) into one layer pair, ``<image> live map`` (+ ``rejected``),
updated in place; a camera move cancels the run in flight and results of older runs
(tagged with a generation number) are dropped. Maps computed with the button are never
touched by it. Like the button's map it waits (in its worker) for the image's running
pixel size check and maps nothing when the check finds the pixel size wrong: one
notification per image and reason, the live layers hidden.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from napari.layers import Image, Shapes
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...sections import Section
from ...sections.scale_check import PendingCheck
from ..events import Done, Failed, JobEvent, Loaded
from ..io.layers import (
    LayerError,
    camera,
    check_grayscale,
    pixel_size_problem,
    pixel_size_um,
    place_over,
    section_from_layer,
    shape_polygon_section_um,
    world_to_section,
)
from ..io.slide import layer_slide
from ..qt.layer_choice import LayerChoice
from ..qt.model_choice import ModelChooser
from ..qt.pixel_size import PixelSizeRow
from ..qt.progress import ProgressRow, while_alive
from ..qt.slide import SlideRow
from ..qt.warm import MODEL_MODULES, warm_imports
from .layers import area_map_layers
from .live_view import (
    LIVE_DEBOUNCE_MS,
    LIVE_MAX_VIEW_MM2,
    live_region,
    live_stride_um,
    model_strides,
)

REGIONS = ("current view", "selected ROI", "whole section")
#: "Views per tile" choices (first word: the count, or "model" for the bundle's default)
VIEW_CHOICES = ("model default", "1 (fastest)", "2", "4", "8")
#: largest map side (tiles); the stride grows so that the Labels layer stays this small
MAX_MAP_PX = 2048
#: the ``item`` of the :class:`~..events.Failed` event of a map not made because the
#: image's pixel size check found its pixel size wrong
ABSTAINED = -1


@dataclass
class AreaMapRequest:
    """Widget values for one area-map run.

    Attributes:
        model: ``"default"`` or a bundle folder; device: ``"auto"``/``"cpu"``/``"cuda"``.
        region_um: ``(y0, x0, y1, x1)`` in section µm, or None for the whole section.
        stride_um: tile side in µm (None: the engine's default, half a model patch).
        views: mirror/rotation views averaged per tile (None: the model's default; 1 is
            the fastest, each view costs one encoder pass).
        lm_path: the folder of the bundle's language model when it has moved ("": as
            recorded in the bundle). Maps read the vision parts only; a model the
            describe widget loaded serves both.
        live: a *Follow view* map: the stride is the finest that is fast for the model
            (:func:`~._live_view.live_stride_um`), ``stride_um`` is ignored.
        abstain: why the image is not mapped: its pixel size check found its pixel size
            wrong (:attr:`ScaleCheck.abstain_reason
            <cytowords.sections.scale_check.ScaleCheck.abstain_reason>`; "": none).
        pending_check: the image's pixel size check, still running when the map was
            requested (None: none runs). The job waits for it in its own thread, after
            loading the model, and does not map when it finds the pixel size wrong.
    """

    model: str
    device: str = "auto"
    region_um: tuple[float, float, float, float] | None = None
    stride_um: float | None = None
    views: int | None = None
    lm_path: str = ""
    live: bool = False
    abstain: str = ""
    pending_check: PendingCheck | None = None


def fitting_stride(extent_um: float, stride_um: float | None, patch_um: float) -> float | None:
    """A stride that keeps the map under :data:`MAX_MAP_PX` tiles per side (None = default)."""
    s = stride_um or patch_um / 2.0
    if extent_um / s <= MAX_MAP_PX:
        return stride_um
    return float(np.ceil(extent_um / MAX_MAP_PX))


def area_map_events(
    request: AreaMapRequest,
    section: Section,
    cancel: threading.Event,
    on_progress: Callable[[int, int], None] | None = None,
) -> Iterator[JobEvent]:
    """Yields ``Loaded()`` then ``Done(AreaMap)`` or ``Failed(message)``; nothing more
    when cancelled. When the image's pixel size check finds its pixel size wrong
    (``request.abstain``, or ``request.pending_check`` once it ends) nothing is mapped:
    ``Failed(reason, item=ABSTAINED)``."""
    from ...jobs import Cancelled
    from ...mapping import compute_area_map
    from ...model import get_bundle

    if request.abstain:
        yield Failed(request.abstain, ABSTAINED)
        return
    bundle = get_bundle(
        request.model, request.device, captioner=False, lm_path=request.lm_path or None
    )
    yield Loaded()
    if request.pending_check is not None:
        reason = request.pending_check.abstain_reason(cancel)
        if cancel.is_set():
            return
        if reason:
            yield Failed(reason, ABSTAINED)
            return
    y0, x0, y1, x1 = request.region_um or (0.0, 0.0, *section.shape_um)
    if request.live:
        stride = live_stride_um((y0, x0, y1, x1), *model_strides(bundle))
    else:
        patch_um = bundle.patch_px * bundle.pixel_size_um
        stride = fitting_stride(max(y1 - y0, x1 - x0), request.stride_um, patch_um)
    try:
        amap = compute_area_map(
            section,
            request.model,
            region_um=request.region_um,
            stride_um=stride,
            device=request.device,
            on_progress=on_progress,
            cancel=cancel,
            views=request.views,
        )
    except Cancelled:
        return
    except ValueError as exc:  # includes NoTissueError
        yield Failed(str(exc))
        return
    yield Done(amap)


area_map_worker = thread_worker(area_map_events)


def map_summary(amap, top: int = 5) -> str:
    """The largest areas among accepted tiles, e.g. ``"largest: hOc1 24%, hOc2 18% … of
    312 mm² accepted"`` (hover the map for names)."""
    ok = (amap.labels > 0) & ~amap.rejected
    if not ok.any():
        return "no tile accepted as a known area"
    values, counts = np.unique(amap.labels[ok], return_counts=True)
    order = np.argsort(-counts)[:top]
    total = int(counts.sum())
    parts = [
        f"{amap.area_table.get(int(values[i]), (str(values[i]),))[0]} {counts[i] / total:.0%}"
        for i in order
    ]
    mm2 = total * float(amap.pixel_size_um) ** 2 / 1e6
    more = " …" if len(values) > top else ""
    return f"largest: {', '.join(parts)}{more} of {mm2:.4g} mm² accepted (hover for names)"


class AreaMapWidget(QWidget):
    """Dock widget computing area maps of a section image."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        warm_imports(*MODEL_MODULES)  # for the first job, off the GUI thread
        self.viewer = napari_viewer
        self.image_choice = LayerChoice(napari_viewer, Image)
        self.region_combo = QComboBox()
        self.region_combo.addItems(REGIONS)
        self.roi_choice = LayerChoice(napari_viewer, Shapes)
        self.model = ModelChooser()
        self.pixel_size = PixelSizeRow(napari_viewer, self.image_choice, self.model)
        self.pixel_size.changed.connect(self._on_pixel_size)
        self.slide = SlideRow(napari_viewer, self.image_choice)
        self.slide.changed.connect(self._on_slide)
        self.stride = QDoubleSpinBox()
        self.stride.setRange(0.0, 100000.0)
        self.stride.setDecimals(0)
        self.stride.setSuffix(" µm")
        self.stride.setSpecialValueText("auto")
        self.stride.setToolTip("Tile side = map pixel size (auto: half a model patch)")
        self.views = QComboBox()
        self.views.addItems(VIEW_CHOICES)
        self.views.setToolTip(
            "Mirror/rotation views averaged per tile: more views are more accurate, each "
            "costs one model pass (model: the model's calibrated default)"
        )
        self.run_btn = QPushButton("Compute area map")
        self.run_btn.clicked.connect(self.run)
        self.progress = ProgressRow()
        self.follow = QCheckBox("Follow view")
        self.follow.setToolTip(
            "Map the current view while you look: after each pan/zoom the view is mapped "
            "again (finest fast tile size, 1 view unless chosen) into one 'live map' layer"
        )
        self.live_status = QLabel("")
        self.live_status.setWordWrap(True)
        #: largest view area (mm² of the section) mapped live
        self.live_max_mm2 = LIVE_MAX_VIEW_MM2
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_DEBOUNCE_MS)
        self._live_timer.timeout.connect(self.refresh_live)
        self._live_gen = 0
        self._live_worker = None
        self._live_cancel = threading.Event()
        self._live_pending = False
        #: image -> the abstain reason last notified for it (notified once, not per view)
        self._live_refused: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.follow.toggled.connect(self._on_follow)
        # a deleted widget stops following (the camera outlives it)
        on_camera, events = self._on_camera, self._camera_events()
        self.destroyed.connect(lambda *_: [ev.disconnect(on_camera) for ev in events])
        form = QFormLayout()
        form.addRow("Image", self.image_choice.combo)
        form.addRow("Pixel size", self.pixel_size)
        form.addRow("Slide", self.slide)
        form.addRow("Region", self.region_combo)
        form.addRow("ROI layer", self.roi_choice.combo)
        self.model.add_rows(form)
        form.addRow("Tile size", self.stride)
        form.addRow("Views per tile", self.views)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.run_btn)
        lay.addWidget(self.progress)
        lay.addWidget(self.follow)
        lay.addWidget(self.live_status)
        lay.addStretch(1)
        self._worker = None
        self.last_layers: list = []

    def region_um(self, image: Image) -> tuple[float, float, float, float] | None:
        """The chosen region in section µm (None for the whole section)."""
        mode = self.region_combo.currentText()
        if mode == "whole section":
            return None
        if mode == "selected ROI":
            shapes = self.roi_choice.value()
            sel = sorted(shapes.selected_data) if shapes is not None else []
            if not sel:
                raise LayerError("no ROI selected: select a ROI (or choose another region)")
            place_over(shapes, image)  # a QuPath/Fiji file: image pixels
            poly = shape_polygon_section_um(shapes, sel[0], image)
            if poly is None:
                raise LayerError(f"ROI {sel[0] + 1} encloses no region; select a rectangle")
            lo, hi = poly.min(axis=0), poly.max(axis=0)
            return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
        return self.view_um(image)

    def view_um(self, image: Image) -> tuple[float, float, float, float]:
        """The canvas extent ``(y0, x0, y1, x1)`` in section µm of ``image``."""
        off = world_to_section(image)
        cam = camera(self.viewer)
        size = np.asarray(getattr(self.viewer.canvas, "size", (600, 800)), dtype=float)
        centre = np.asarray(cam.center[-2:], dtype=float) + off
        half = size / (2.0 * float(cam.zoom))
        lo, hi = centre - half, centre + half
        return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))

    def request(self, image: Image) -> AreaMapRequest:
        """The current widget values as an :class:`AreaMapRequest`."""
        stride = float(self.stride.value()) or None
        choice = self.views.currentText().split()[0]
        views = None if choice == "model" else int(choice)
        return AreaMapRequest(
            self.model.value(),
            self.model.device_value(),
            self.region_um(image),
            stride,
            views,
            self.model.lm_value(),
        )

    def run(self) -> None:
        """Start computing the area map (notifications on bad input)."""
        from ...model import resolve_model_path

        if self._worker is not None:
            show_info("An area map is already being computed; cancel it first.")
            return
        image = self.image_choice.value()
        try:
            if image is None:
                raise LayerError("no image layer: open a section (File > Open) first")
            check_grayscale(image)
            section = section_from_layer(image)  # LayerError when it has no pixel size
            resolve_model_path(self.model.value())
            request = self.request(image)
        except (LayerError, FileNotFoundError, ValueError) as exc:
            show_error(str(exc))
            return
        self.pixel_size.auto_check()
        # the image's pixel size check found (or, still running, may find) it wrong: no map
        request.abstain = self.pixel_size.abstain_reason(image)
        request.pending_check = self.pixel_size.pending(image)
        what = ", checking the pixel size" if request.pending_check is not None else ""
        cancel = self.progress.start(f"loading model{what}…")
        worker = area_map_worker(
            request, section, cancel, on_progress=self.progress.relay, _ignore_errors=True
        )
        worker.yielded.connect(while_alive(self, lambda ev: self._on_event(ev, image)))
        worker.errored.connect(lambda exc: show_error(f"area map failed: {exc}"))
        worker.finished.connect(self._on_finished)
        self._worker = worker
        self.run_btn.setEnabled(False)
        worker.start()

    def _on_event(self, ev: JobEvent, image: Image) -> None:
        if isinstance(ev, Loaded):
            self.progress.status.setText("mapping tiles over tissue…")
        elif isinstance(ev, Failed) and ev.item == ABSTAINED:
            show_error(f"{image.name!r} not mapped: {ev.message}")
            self.progress.finish(f"not mapped: {ev.message}")
        elif isinstance(ev, Failed):
            show_error(f"area map: {ev.message}")
        elif isinstance(ev, Done) and not self.progress.cancel_event.is_set():
            self._add_layers(ev.result, image)

    def maps_of(self, image: Image) -> list:
        """The area map layers (areas and rejected) computed over ``image`` with the button
        (not the *Follow view* layers)."""
        return [
            ly
            for ly in self.viewer.layers
            if ly.metadata.get("cytowords_image") == image.name
            and not ly.metadata.get("cytowords_live_map")
            and (
                ly.metadata.get("cytowords_area_map") or ly.metadata.get("cytowords_rejection_map")
            )
        ]

    def _add_layers(self, amap, image: Image) -> None:
        earlier = self.maps_of(image)
        for ly in earlier:  # kept, never deleted: napari numbers the new layers' names
            ly.visible = False
        to_world = -world_to_section(image)
        self.last_layers = []
        px, shape = pixel_size_um(image), tuple(int(v) for v in image.level_shapes[0][-2:])
        slide = layer_slide(image)
        for data, meta, kind in area_map_layers(
            amap, to_world, f"{image.name} area map", px, shape
        ):
            meta["metadata"]["cytowords_image"] = image.name
            meta["metadata"]["section_slide"] = slide  # for the writers
            self.last_layers.append(getattr(self.viewer, f"add_{kind}")(data, **meta))
        self.viewer.layers.selection.active = self.last_layers[0]
        n = int((amap.labels > 0).sum())
        rej = int(amap.rejected.sum())
        nc = int(amap.no_cortex.sum()) if amap.no_cortex is not None else 0
        kept = f"; {len(earlier) // 2} earlier map(s) hidden" if earlier else ""
        self.progress.finish(
            f"{n} tile(s) of {amap.pixel_size_um:.0f} µm mapped, {rej} rejected ({nc} no "
            f"cortex){kept}.\n{map_summary(amap)}"
        )

    def _on_finished(self) -> None:
        self._worker = None
        self.run_btn.setEnabled(True)
        if self.progress.cancel_event.is_set():
            self.progress.finish("cancelled: no layer added")
        elif self.progress.busy:
            self.progress.finish("stopped")

    def _on_pixel_size(self, image: Image) -> None:
        """The image was re-scaled: its maps, made at the old pixel size, are hidden and
        renamed (never deleted)."""
        self._outdated(image, "old pixel size")

    def _on_slide(self, image: Image) -> None:
        """The image was read again with another slide (:class:`SlideRow`): its maps, made
        of the old pixels, are hidden and renamed (never deleted)."""
        self._outdated(image, "old slide reading")

    def _outdated(self, image: Image, what: str) -> None:
        """``image`` changed (``what`` its maps were made at): the live map is made again,
        the maps of the button hidden and renamed ``… (what)``."""
        self._live_refused.pop(image, None)  # a new image: a new verdict, said again
        if self.follow.isChecked():  # the live map follows the image
            self._on_camera()
        old = [ly for ly in self.maps_of(image) if not ly.name.endswith(f"({what})")]
        for ly in old:
            ly.visible = False
            ly.name = f"{ly.name} ({what})"
        if old:
            show_info(
                f"{len(old)} area map layer(s) of {image.name!r} were made with the {what}: "
                f"hidden and renamed '… ({what})'; compute the map again"
            )

    def cancel(self) -> None:
        """Cancel the running computation (no layer is added)."""
        self.progress.cancel()

    @property
    def busy(self) -> bool:
        """True while an area map is computed (or the image's pixel size checked, or the
        image read again with another slide)."""
        return (
            self._worker is not None
            or self.pixel_size.worker is not None
            or self.slide.worker is not None
        )

    # --- Follow view ---------------------------------------------------------------------
    def _on_follow(self, on: bool) -> None:
        """Follow view on: map the view now and after every pan/zoom; off: stop the pending
        timer and cancel the run in flight (the live layers stay as they are)."""
        for ev in self._camera_events():
            if on:
                ev.connect(self._on_camera)
            else:
                ev.disconnect(self._on_camera)
        if on:
            self._on_camera()
            return
        self._live_timer.stop()
        self._live_pending = False
        self._live_gen += 1  # whatever is still in flight is dropped
        self._live_cancel.set()
        self._live_note("follow view off")

    def _camera_events(self) -> tuple:
        cam = camera(self.viewer)
        return (cam.events.center, cam.events.zoom)

    def _on_camera(self, event=None) -> None:
        """The view moved: cancel the run in flight and map again once the camera stops."""
        self._live_gen += 1
        self._live_cancel.set()
        self._live_timer.start()  # restarts the debounce

    def _live_note(self, text: str) -> None:
        """Show ``text`` in the live status line (once: unchanged text is not re-set)."""
        if self.live_status.text() != text:
            self.live_status.setText(text)

    def refresh_live(self) -> None:
        """Map the current view into the live layers now (Follow view; the debounce timer
        calls this). Waits for a run still in flight (cancelled) to end first."""
        from ...model import resolve_model_path

        if not self.follow.isChecked():
            return
        if self._live_worker is not None:
            self._live_pending = True
            return
        self._live_pending = False
        image = self.image_choice.value()
        if image is None:
            self._live_note("live map: no image layer: open a section first")
            return
        problem = pixel_size_problem(image)
        if problem is not None:
            self._live_note(f"live map paused: {problem}")
            return
        try:
            check_grayscale(image)
            section = section_from_layer(image)
            resolve_model_path(self.model.value())
        except (LayerError, FileNotFoundError, ValueError) as exc:
            self._live_note(f"live map paused: {exc}")
            return
        region, why = live_region(self.view_um(image), section.shape_um, max_mm2=self.live_max_mm2)
        if region is None:
            self._live_note(f"live map paused: {why}")
            return
        self.pixel_size.auto_check()
        # like the button's map: no map when the image's pixel size check found (or, still
        # running, finds) its pixel size wrong; the worker waits for a running check
        abstain = self.pixel_size.abstain_reason(image)
        if abstain:
            self._live_refuse(image, abstain)
            return
        choice = self.views.currentText().split()[0]
        request = AreaMapRequest(
            self.model.value(),
            self.model.device_value(),
            region,
            views=1 if choice == "model" else int(choice),
            lm_path=self.model.lm_value(),
            live=True,
            pending_check=self.pixel_size.pending(image),
        )
        self._live_gen += 1
        gen = self._live_gen
        self._live_cancel = threading.Event()
        worker = area_map_worker(request, section, self._live_cancel, _ignore_errors=True)
        worker.yielded.connect(while_alive(self, lambda ev: self._on_live_event(ev, image, gen)))
        worker.errored.connect(
            while_alive(self, lambda exc: self._live_note(f"live map failed: {exc}"))
        )
        worker.finished.connect(self._on_live_finished)
        self._live_worker = worker
        what = " (after the pixel size check)" if request.pending_check is not None else ""
        self._live_note(f"live map: mapping the view{what}…")
        worker.start()

    def _on_live_event(self, ev: JobEvent, image: Image, gen: int) -> None:
        if gen != self._live_gen:  # the view moved (or follow went off) since: stale
            return
        if isinstance(ev, Failed) and ev.item == ABSTAINED:
            self._live_refuse(image, ev.message)
        elif isinstance(ev, Failed):
            self._live_note(f"live map: {ev.message}")
        elif isinstance(ev, Done):
            self._show_live(ev.result, image)

    def _live_refuse(self, image: Image, reason: str) -> None:
        """Map nothing of ``image``, whose pixel size check found its pixel size wrong
        (``reason``): its live layers are hidden, the status line says why, and one
        notification names the image and the reason (not again for the same reason)."""
        for ly in self.live_layers(image):
            if ly.visible:
                ly.visible = False
                ly.metadata["cytowords_live_hidden"] = True  # shown again by the next map
        self._live_note(f"live map: {image.name!r} not mapped: {reason}")
        if self._live_refused.get(image) != reason:
            self._live_refused[image] = reason
            show_error(f"{image.name!r} not mapped: {reason}")

    def _on_live_finished(self) -> None:
        self._live_worker = None
        if self._live_pending:
            self.refresh_live()

    def live_layers(self, image: Image) -> list:
        """``[areas, rejected]`` live layers of ``image`` (empty when there are none)."""
        found = [
            ly
            for ly in self.viewer.layers
            if ly.metadata.get("cytowords_live_map")
            and ly.metadata.get("cytowords_image") == image.name
        ]
        areas = [ly for ly in found if ly.metadata.get("cytowords_area_map")]
        rejected = [ly for ly in found if ly.metadata.get("cytowords_rejection_map")]
        return [areas[0], rejected[0]] if areas and rejected else []

    def _show_live(self, amap, image: Image) -> None:
        """Put ``amap`` into the image's live layer pair: updated in place (data, scale,
        translate, colours, names) when it exists, else added."""
        px, shape = pixel_size_um(image), tuple(int(v) for v in image.level_shapes[0][-2:])
        parts = area_map_layers(amap, -world_to_section(image), f"{image.name} live map", px, shape)
        slide = layer_slide(image)
        for _, meta, _ in parts:
            meta["metadata"].update(
                cytowords_image=image.name, cytowords_live_map=True, section_slide=slide
            )
        layers = self.live_layers(image)
        if layers:
            for ly, (data, meta, _) in zip(layers, parts, strict=True):
                if ly.metadata.pop("cytowords_live_hidden", False):  # hidden by a refusal
                    ly.visible = True
                ly.scale, ly.translate = meta["scale"], meta["translate"]
                ly.data = data
                ly.colormap, ly.features = meta["colormap"], meta["features"]
                ly.metadata.clear()
                ly.metadata.update(meta["metadata"])
        else:
            for ly in self.viewer.layers:  # half a pair left (the other deleted): replaced
                if (
                    ly.metadata.get("cytowords_live_map")
                    and ly.metadata.get("cytowords_image") == image.name
                ):
                    self.viewer.layers.remove(ly)
            active = self.viewer.layers.selection.active
            for data, meta, kind in parts:
                getattr(self.viewer, f"add_{kind}")(data, **meta)
            if active is not None:  # following the view never steals the selection
                self.viewer.layers.selection.active = active
        n = int((amap.labels > 0).sum())
        self._live_note(
            f"live map: {n} tile(s) of {amap.pixel_size_um:.0f} µm, "
            f"{int(amap.rejected.sum())} rejected.\n{map_summary(amap)}"
        )

    @property
    def live_busy(self) -> bool:
        """True while a Follow view map is computed or waiting for the camera to stop."""
        return self._live_worker is not None or self._live_timer.isActive()
