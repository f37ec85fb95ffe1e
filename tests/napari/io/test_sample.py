"""The napari sample data contribution: the virtual section and its hidden ground truth."""

from __future__ import annotations

import pytest

from cytowords.napari.io.sample import make_sample_section


def test_sample_layer_data():
    layers = make_sample_section()
    (img, meta, kind), (lab, lmeta, lkind) = layers
    assert kind == "image" and lkind == "labels"
    assert img[0].shape == (30000, 40000) and meta["multiscale"]
    assert meta["scale"] == (2.0, 2.0) and meta["contrast_limits"] == (0.0, 255.0)
    assert lab[0].shape == img[0].shape and lmeta["visible"] is False
    assert "hOc1" in lmeta["features"]["name"]
    assert len(lmeta["features"]["index"]) == len(set(lmeta["features"]["index"]))


@pytest.mark.gui
def test_sample_opens_in_napari(make_napari_viewer):
    viewer = make_napari_viewer()
    for data, meta, kind in make_sample_section():
        getattr(viewer, f"add_{kind}")(data, **meta)
    image, labels = viewer.layers
    assert image.multiscale and labels.multiscale and not labels.visible
    assert tuple(image.scale) == (2.0, 2.0)
