"""Tests of labelled patch sampling (cytowords.synth.sample_patches)."""

from __future__ import annotations

import numpy as np
import pytest

from cytowords.atlas import NONE_ID
from cytowords.synth import sample_patches


def test_shapes_labels_and_determinism():
    p, labels, meta = sample_patches([1, 2], ["V1", "4a"], 3, rng_seed=4, include_nontissue=0.25)
    assert p.shape == (15, 128, 128) and p.dtype == np.uint8
    assert labels[:3] == ["hOc1"] * 3 and labels.count(NONE_ID) == 3
    assert set(meta["brain"]) == {1, 2}
    assert len(meta["angle"]) == 15
    p2, labels2, _ = sample_patches([1, 2], ["V1", "4a"], 3, rng_seed=4, include_nontissue=0.25)
    np.testing.assert_array_equal(p, p2)
    assert labels == labels2
    p3, _, _ = sample_patches([1, 2], ["V1", "4a"], 3, rng_seed=5, include_nontissue=0.25)
    assert np.abs(p3.astype(int) - p).mean() > 1


def test_tissue_centred_and_nontissue_kinds():
    p, labels, meta = sample_patches([3], ["44"], 6, include_nontissue=1.0, rng_seed=1)
    for img, lab, kind, rel in zip(p, labels, meta["kind"], meta["centre_depth_rel"]):
        if lab != NONE_ID:
            assert kind == "tissue" and 0.1 < rel < 0.9
            assert img[56:72, 56:72].mean() < 215  # centre shows stained cortex
        elif kind == "background":
            assert img.mean() > 225


def test_neighbours_stay_in_scope():
    _, _, meta = sample_patches([0], ["Ig1"], 20, neighbour_prob=1.0, rng_seed=2)
    assert set(meta["neighbour"]) <= {"Ig2", "OP2"}  # Id1 and OP3 are unseen areas


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(area_ids=["nope"]), "close matches|unknown"),
        (dict(n_per_area=-1), "n_per_area"),
        (dict(size_px=0), "size_px"),
        (dict(brain_seeds=[]), "brain_seeds"),
        (dict(artefacts=2.0), "artefacts"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = dict(brain_seeds=[0], area_ids=["hOc1"], n_per_area=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sample_patches(
            args.pop("brain_seeds"), args.pop("area_ids"), args.pop("n_per_area"), **args
        )
