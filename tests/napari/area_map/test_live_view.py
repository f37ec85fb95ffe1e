"""The Area map widget's *Follow view* mode: the current view mapped live into one layer pair,
in a real viewer with a real dense bundle and the tiny per-field bundle; and its pure
rules (stride for a view, whether to map it)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from cytowords.napari.area_map.live_view import (
    LIVE_DEBOUNCE_MS,
    LIVE_MAP_PX_DENSE,
    LIVE_MAP_PX_FIELD,
    live_region,
    live_stride_um,
)
from cytowords.napari.events import Done
from tests.support.napari_helpers import SECTION_UM, area_map_widget, section_array, wait_idle

#: the dense test encoder: 16 µm/px, feature stride 4 px
DENSE_FEATURE_UM = 64.0


# --- pure rules -----------------------------------------------------------------------
def test_live_stride_dense_is_finest_within_budget_never_below_the_feature_stride() -> None:
    # a 20 mm view: 20000 / 128 = 156 µm -> the next multiple of the 64 µm feature stride
    s = live_stride_um((0, 0, 12000, 20000), 16.0, DENSE_FEATURE_UM)
    assert s == 192.0 and 20000 / s <= LIVE_MAP_PX_DENSE
    assert live_stride_um((0, 0, 12000, 20000), 16.0, DENSE_FEATURE_UM, max_map_px=400) == 64.0
    # a small view: as fine as the features, not finer
    assert live_stride_um((100, 100, 900, 1100), 16.0, DENSE_FEATURE_UM) == DENSE_FEATURE_UM
    # exactly at the budget: no extra step
    assert live_stride_um((0, 0, 128 * 64.0, 10), 16.0, DENSE_FEATURE_UM) == 64.0


def test_live_stride_per_field_uses_fewer_tiles_in_model_pixels() -> None:
    s = live_stride_um((0, 0, 3000, 5000), 16.0)
    assert s % 16.0 == 0 and 5000 / s <= LIVE_MAP_PX_FIELD < 5000 / (s - 16.0)
    assert live_stride_um((0, 0, 100, 100), 16.0) == 16.0  # never below one model pixel
    with pytest.raises(ValueError, match="model pixel"):
        live_stride_um((0, 0, 100, 100), 0.0)


def test_live_region_clips_to_the_section_and_refuses_empty_or_large_views() -> None:
    region, why = live_region((-500, -500, 1000, 2000), (3200, 4000))
    assert region == (0.0, 0.0, 1000.0, 2000.0) and why == ""
    region, why = live_region((5000, 0, 6000, 1000), (3200, 4000))
    assert region is None and "none of the image" in why
    # zoomed far out: only the section's part counts (12.8 mm² here)
    assert live_region((-1e6, -1e6, 1e6, 1e6), (3200, 4000), max_mm2=13)[0] is not None
    region, why = live_region((0, 0, 30000, 30000), (50000, 50000), max_mm2=400)
    assert region is None and "900 mm²" in why and "zoom in" in why


# --- in a viewer ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def dense_bundle_path(tmp_path_factory, tiny_bundle):
    """The dense test bundle (tests/support/dense_encoder.py) saved as a folder, fitted on the
    widget tests' section image."""
    from cytowords.model import save_bundle
    from cytowords.sections import Section
    from tests.support.dense_encoder import dense_bundle

    section = Section([da.from_array(section_array())], [SECTION_UM], name="fit")
    b = dense_bundle(tiny_bundle, section)
    thresholds = {int(k): float(v) for k, v in b.config["tta"]["thresholds"].items()}
    return save_bundle(
        tmp_path_factory.mktemp("dense") / "bundle",
        encoder=b.encoder,
        head=b.head,
        scorer=b.scorer,
        area_ids=list(b.area_ids),
        fp16=False,
        thresholds=thresholds,
    )


def _look_at(viewer, w, image, centre_um, width_um) -> tuple:
    """Point the camera at ``centre_um`` (world µm) showing ``width_um`` across; the view's
    region on the section (µm)."""
    from cytowords.napari.io.layers import camera

    cam = camera(viewer)
    cam.zoom = float(viewer.canvas.size[1]) / width_um
    cam.center = tuple(float(v) for v in centre_um)
    return live_region(w.view_um(image), (400 * SECTION_UM, 500 * SECTION_UM))[0]


def _settled(qtbot, w, timeout=20000) -> None:
    qtbot.waitUntil(lambda: not w.live_busy, timeout=timeout)


def _assert_covers(layer, region) -> None:
    """The live map's tiles cover ``region`` (section µm; world = section here, up to the
    half-pixel offset of the image)."""
    s = float(layer.scale[-1])
    y0, x0, y1, x1 = region
    top = np.asarray(layer.translate[-2:]) - s / 2 + SECTION_UM / 2  # section µm of tile (0, 0)
    assert top[0] <= y0 + 1e-6 and y0 - top[0] < s + 16.0
    assert top[1] <= x0 + 1e-6 and x0 - top[1] < s + 16.0
    h, w = layer.data.shape
    assert top[0] + h * s >= y1 - 1e-6 and top[1] + w * s >= x1 - 1e-6


def test_follow_view_maps_the_view_into_one_layer_pair_updated_in_place(
    make_napari_viewer, qtbot, dense_bundle_path
) -> None:
    from cytowords.mapping import AreaMap

    viewer, w, image = area_map_widget(make_napari_viewer, dense_bundle_path)
    # a map the user computed with the button: following never touches it
    w.region_combo.setCurrentText("whole section")
    w.run()
    wait_idle(qtbot, w)
    button = list(w.last_layers)
    button_data = [ly.data.copy() for ly in button]
    n_layers = len(viewer.layers)

    region = _look_at(viewer, w, image, (1600.0, 1500.0), 1600.0)
    w.follow.setChecked(True)
    qtbot.waitUntil(lambda: bool(w.live_layers(image)), timeout=20000)
    _settled(qtbot, w)
    labels, rejected = w.live_layers(image)
    assert labels.name == "section live map" and rejected.name == "section live map rejected"
    assert len(viewer.layers) == n_layers + 2
    s = float(labels.scale[-1])
    # the finest fast stride of a dense model: its feature stride (the view is small)
    assert s == DENSE_FEATURE_UM and max(labels.data.shape) <= LIVE_MAP_PX_DENSE + 1
    _assert_covers(labels, region)
    assert rejected.data.shape == labels.data.shape
    assert {int(v) for v in np.unique(labels.data)} - {0}, "tissue tiles are mapped"
    assert "live map:" in w.live_status.text() and "tile(s) of 64 µm" in w.live_status.text()
    md = labels.metadata
    first = AreaMap(
        labels=labels.data.copy(),
        probability=md["probability"],
        ood_score=md["ood_score"],
        rejected=md["rejected"],
        pixel_size_um=md["pixel_size_um"],
        origin_um=tuple(md["origin_um"]),
        area_table=md["area_table"],
        no_cortex=md["no_cortex"],
    )

    # pan: after the camera stops, the same layers show the new view
    t0 = np.asarray(labels.translate).copy()
    region = _look_at(viewer, w, image, (1600.0, 2400.0), 1600.0)
    assert w.live_busy  # debouncing
    qtbot.waitUntil(lambda: not np.allclose(labels.translate, t0), timeout=20000)
    _settled(qtbot, w)
    assert w.live_layers(image)[0] is labels and w.live_layers(image)[1] is rejected
    assert len(viewer.layers) == n_layers + 2, "no new layers"
    assert labels.translate[-1] - t0[-1] == pytest.approx(900.0, abs=s)
    _assert_covers(labels, region)

    # a pan during a run cancels it; only the newest view's result is shown
    seen: list[tuple[str, int, int]] = []
    on_event = w._on_live_event

    def spy(ev, img, gen):
        seen.append((type(ev).__name__, gen, w._live_gen))
        on_event(ev, img, gen)

    w._on_live_event = spy
    _look_at(viewer, w, image, (1000.0, 2400.0), 1600.0)
    w._live_timer.stop()
    w.refresh_live()  # a run for this view starts now
    running_cancel, running_gen = w._live_cancel, w._live_gen
    assert w._live_worker is not None
    region = _look_at(viewer, w, image, (2200.0, 1400.0), 1600.0)
    assert running_cancel.is_set(), "moving the camera cancels the run in flight"
    qtbot.waitUntil(lambda: any(g > running_gen for _, g, _ in seen), timeout=20000)
    _settled(qtbot, w)
    assert all(cur != running_gen for _, g, cur in seen if g == running_gen)
    _assert_covers(labels, region)
    # a result of an older generation arriving late changes nothing
    t_now, d_now = np.asarray(labels.translate).copy(), labels.data.copy()
    on_event(Done(first), image, running_gen)
    np.testing.assert_array_equal(labels.translate, t_now)
    np.testing.assert_array_equal(labels.data, d_now)

    # the button's map was never touched
    for ly, data in zip(button, button_data, strict=True):
        assert ly in viewer.layers and ly.visible
        np.testing.assert_array_equal(ly.data, data)

    # off: the timer stops, nothing more is computed
    w.follow.setChecked(False)
    assert not w.live_busy and w._live_cancel.is_set()
    _look_at(viewer, w, image, (1600.0, 1500.0), 1600.0)
    qtbot.wait(LIVE_DEBOUNCE_MS + 300)
    assert not w.live_busy and w._live_worker is None
    np.testing.assert_array_equal(labels.translate, t_now)
    assert len(viewer.layers) == n_layers + 2


def test_follow_view_per_field_budget_and_paused_views(
    make_napari_viewer, qtbot, tiny_bundle
) -> None:
    viewer, w, image = area_map_widget(make_napari_viewer, tiny_bundle)
    region = _look_at(viewer, w, image, (1600.0, 2400.0), 1200.0)
    w.follow.setChecked(True)
    qtbot.waitUntil(lambda: bool(w.live_layers(image)), timeout=20000)
    _settled(qtbot, w)
    labels = w.live_layers(image)[0]
    s = float(labels.scale[-1])
    # per field: fewer tiles, stride in whole model pixels (16 µm)
    assert s % 16.0 == 0 and s > 16.0
    assert max(labels.data.shape) <= LIVE_MAP_PX_FIELD + 1
    _assert_covers(labels, region)
    t0 = np.asarray(labels.translate).copy()

    # a view larger than the live limit: said once in the status line, nothing computed
    w.live_max_mm2 = 0.5
    _look_at(viewer, w, image, (1600.0, 2000.0), 1200.0)
    _settled(qtbot, w)
    assert "zoom in" in w.live_status.text() and w._live_worker is None
    np.testing.assert_array_equal(labels.translate, t0)

    # an image without a pixel size: said in the status line, nothing computed
    raw = viewer.add_image(section_array(), name="raw")
    w.image_choice.set_value(raw)
    w.live_max_mm2 = 400.0
    w.refresh_live()
    assert "no physical pixel size" in w.live_status.text() and w._live_worker is None
    assert not w.live_layers(raw)
    w.follow.setChecked(False)
