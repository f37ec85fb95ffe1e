"""The napari Profile view: the selected ROI's laminar profile, references and layers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cytowords.atlas import NONE_ID
from cytowords.measure.reference import atlas_reference, shape_normalised
from cytowords.napari.describe.profile import (
    PIA_LAYER,
    TRAVERSES_LAYER,
    WHITE_LAYER,
    ProfileWidget,
    layer_borders,
    reference_areas,
)
from cytowords.synth import virtual_section
from tests.support.napari_helpers import rect

PX = 16.0
# an 8 × 9 mm window of brain 203 around area 4p (as in test_describe_measured)
Y0, X0, H, W = 36000, 7000, 8000, 9000
ACROSS = (4192.0, 4648.0)


@pytest.fixture(scope="module")
def window() -> np.ndarray:
    sec = virtual_section(203, pixel_size_um=PX, variation="classic")  # fixed coordinates: classic geometry
    a, b = int(Y0 / PX), int(X0 / PX)
    return np.asarray(sec.levels[0][a : a + int(H / PX), b : b + int(W / PX)])


def test_reference_areas_from_the_description_columns():
    assert reference_areas("4p", "4a 38%, 6d1 3%, 3a 1%") == ["4p", "4a", "6d1"]
    assert reference_areas(NONE_ID, "4a 38%") == ["4a"]
    assert reference_areas("", "") == []


def test_atlas_reference_is_shape_normalised():
    ref = atlas_reference("hOc1")
    assert ref is not None and ref.area == "hOc1" and len(ref.depth) == 100
    inner = ref.profile[5:95]
    assert np.percentile(inner, 5) == pytest.approx(0, abs=1e-9)
    assert np.percentile(inner, 95) == pytest.approx(1, abs=1e-9)
    # layer IV of the koniocortex is a dense band: above the middle of layer V
    iv = ref.layer_bounds["IV"]
    v = ref.layer_bounds["V"]
    at = lambda b: ref.profile[(ref.depth >= b[0]) & (ref.depth < b[1])].mean()  # noqa: E731
    assert at(iv) > at(v)
    assert atlas_reference("no such area") is None
    assert np.all(shape_normalised(np.ones(50)) == 0)


def test_profile_view_of_a_described_roi(make_napari_viewer, qtbot, window):
    viewer = make_napari_viewer()
    image = viewer.add_image(window, scale=(PX, PX), name="section")
    cy, cx = ACROSS
    rois = viewer.add_shapes(
        [rect((cy - 1500) / PX, (cx - 1500) / PX, (cy + 1500) / PX, (cx + 1500) / PX)],
        shape_type="rectangle",
        scale=(PX, PX),
        name="ROIs",
    )
    # what Describe leaves in the layer's features
    rois.features = pd.DataFrame({"area": ["4p"], "alternatives": ["4a 30%, 6d1 5%"]})
    rois.selected_data = {0}
    w = ProfileWidget(viewer)
    w.image_choice.set_value(image)
    w.roi_choice.set_value(rois)
    w.show_btn.click()
    qtbot.waitUntil(lambda: not w.busy, timeout=120000)
    r = w.readout
    assert r is not None and r.measured, w.status.text()
    assert 1.5 < r.thickness_mm < 4.5
    assert [ref.area for ref in w.references] == ["4p", "4a", "6d1"]
    ax = w.figure.axes[0]
    labels = [ln.get_label() for ln in ax.lines]
    assert any(lab.startswith("this ROI") for lab in labels)
    assert sum("atlas" in lab for lab in labels) == 3
    # the estimated borders are drawn (layer I at least)
    assert layer_borders(r) and layer_borders(r)[0][0] == "I/II"
    assert "thick" in w.status.text() and "Layer borders" in w.status.text()
    assert "Laminar contrast" in w.status.toolTip()
    # layers over the image, in world µm (the image's world = section µm - 8 µm here)
    trav = viewer.layers[TRAVERSES_LAYER]
    assert len(trav.data) == r.n_traverses
    pia = viewer.layers[PIA_LAYER].data[0]
    white = viewer.layers[WHITE_LAYER].data[0]
    lo = np.array([cy - 1500, cx - 1500]) - 400
    hi = np.array([cy + 1500, cx + 1500]) + 400
    for line in (pia, white):
        assert np.all((line >= lo) & (line <= hi))
    # the two lines lie about one cortical thickness apart
    gap = np.median([np.min(np.hypot(*(white - p).T)) for p in pia]) / 1000
    assert 0.6 * r.thickness_mm < gap < 1.3 * r.thickness_mm
    # running it again replaces the layers instead of adding more
    n_layers = len(viewer.layers)
    w.show_btn.click()
    qtbot.waitUntil(lambda: not w.busy, timeout=120000)
    assert len(viewer.layers) == n_layers


def test_profile_view_says_what_is_missing(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    w = ProfileWidget(viewer)
    w.show_btn.click()
    assert "Open a section" in w.status.text()
    viewer.add_image(np.full((64, 64), 200, np.uint8), scale=(8.0, 8.0), name="glass")
    rois = viewer.add_shapes([rect(2, 2, 60, 60)], shape_type="rectangle", scale=(8.0, 8.0))
    w.roi_choice.set_value(rois)
    w.show_btn.click()
    qtbot.waitUntil(lambda: not w.busy, timeout=60000)
    assert "Not measured" in w.status.text()
    assert w.readout is not None and not w.readout.measured
    assert TRAVERSES_LAYER not in viewer.layers
