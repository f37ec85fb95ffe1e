"""Describing a large ROI densely (one window, fields on the feature lattice) gives the
per-field answer; the dense path is chosen only for encoders that can run densely."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import cytowords.describe.describer as describer_module
from cytowords.describe import DescribeParams, Describer
from cytowords.mapping.dense import (
    DENSE_MIN_FIELDS,
    dense_layout,
    read_region_fields,
    snap_to_lattice,
)
from cytowords.regions import Roi
from cytowords.regions.roi import patch_grid
from tests.support.dense_encoder import dense_bundle
from tests.support.map_fixtures import band_section


@pytest.fixture(scope="module")
def section():
    return band_section(2400.0, 2000.0)


@pytest.fixture(scope="module")
def bundle(tiny_bundle, section):
    return dense_bundle(tiny_bundle, section)


def _centres(bundle, section, roi, max_patches=256):
    pu = bundle.patch_px * bundle.pixel_size_um
    return patch_grid(
        roi,
        patch_um=pu,
        stride_um=pu / 2,
        section_shape_um=section.shape_um,
        max_patches=max_patches,
        min_patches=5,
    )


def test_dense_fields_equal_fields_read_one_by_one(section, bundle):
    c = _centres(bundle, section, Roi.rectangle(700, 150, 1700, 1850))
    dense = read_region_fields(section, bundle, c)
    assert dense.evaluation == "dense" and len(c) > 20
    s_um = dense_layout(bundle.encoder).stride_px * bundle.pixel_size_um
    assert np.abs(dense.centres_um - c).max() <= s_um / 2 + 1e-6  # snapped, not moved far
    fields = read_region_fields(section, bundle, dense.centres_um, dense=False)
    assert fields.evaluation == "per field" and fields.emb is None
    np.testing.assert_array_equal(dense.patches, fields.patches)
    per = bundle.embed(fields.patches)
    assert per.std(0).mean() > 1e-3  # the fields differ
    torch.testing.assert_close(dense.emb, per, atol=1e-4, rtol=1e-4)


def _per_field(section, bundle, centres, **_):
    """The per-field read of the centres the dense path would use."""
    snapped, _k, _lo = snap_to_lattice(
        centres, bundle.pixel_size_um, bundle.read_px, dense_layout(bundle.encoder).stride_px
    )
    return read_region_fields(section, bundle, snapped, dense=False)


@pytest.mark.parametrize("roi", [(700, 150, 1700, 1850), (200, 150, 1300, 1000)])
def test_large_roi_described_densely_gives_the_per_field_answer(
    tiny_bundle, section, bundle, monkeypatch, roi
):
    d = Describer(tiny_bundle, device="cpu", params=DescribeParams(measure=False))
    d.bundle = bundle
    r = Roi.rectangle(*roi)
    assert read_region_fields(section, bundle, _centres(bundle, section, r)).evaluation == "dense"
    dense = d.describe_roi(section, r)
    monkeypatch.setattr(describer_module, "read_region_fields", _per_field)
    fields = d.describe_roi(section, r)
    assert dense.n_patches == fields.n_patches > DENSE_MIN_FIELDS
    assert (dense.area, dense.rejected, dense.rejection_reason) == (
        fields.area,
        fields.rejected,
        fields.rejection_reason,
    )
    assert dense.probability == pytest.approx(fields.probability, abs=1e-4)
    assert [p.center_um for p in dense.patches] == [p.center_um for p in fields.patches]
    assert [p.quality for p in dense.patches] == [p.quality for p in fields.patches]
    assert [p.votes for p in dense.patches] == [p.votes for p in fields.patches]
    np.testing.assert_allclose(
        [p.probability for p in dense.patches], [p.probability for p in fields.patches], atol=1e-4
    )
    # the answer from the grid's own centres (not snapped) is the same
    monkeypatch.setattr(
        describer_module,
        "read_region_fields",
        functools.partial(read_region_fields, dense=False),
    )
    unsnapped = d.describe_roi(section, r)
    assert (unsnapped.area, unsnapped.rejected) == (dense.area, dense.rejected)


def test_dense_is_chosen_for_large_rois_of_dense_encoders_only(tiny_bundle, section):
    from cytowords.model import get_bundle, load_bundle, resolve_model_path

    default = get_bundle(resolve_model_path("default"), "cpu")
    assert dense_layout(default.encoder) is not None
    big = band_section(20000.0, 20000.0, 64.0)
    c = _centres(default, big, Roi.rectangle(2000, 2000, 18000, 18000))
    assert len(c) >= DENSE_MIN_FIELDS
    assert read_region_fields(big, default, c).evaluation == "dense"
    # a small ROI: the centroid and 4 points around it, closer than the feature stride
    small = _centres(default, big, Roi.rectangle(9000, 9000, 9500, 9500))
    assert len(small) >= DENSE_MIN_FIELDS
    assert read_region_fields(big, default, small).evaluation == "per field"
    assert read_region_fields(big, default, c[:2]).evaluation == "per field"  # too few
    tiny = load_bundle(tiny_bundle, captioner=False)
    if dense_layout(tiny.encoder) is not None:  # make it an encoder that cannot run densely
        tiny.encoder.supports_dense = False
    assert dense_layout(tiny.encoder) is None
    c = _centres(tiny, section, Roi.rectangle(700, 150, 1700, 1850))
    f = read_region_fields(section, tiny, c)
    assert f.evaluation == "per field" and f.emb is None and len(c) >= DENSE_MIN_FIELDS
