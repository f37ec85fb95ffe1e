"""Tests of the GLI-profile baseline (cytowords.training.baselines.gli)."""

from __future__ import annotations

import numpy as np
import pytest

from cytowords.synth import render_patch, sample_patches
from cytowords.training.baselines.gli import GLIClassifier, depth_axis_angle, gli_profile


def test_depth_axis_follows_the_cortex():
    for angle in (0.0, 30.0, 90.0, 135.0):
        img = render_patch(
            "hOc2", 1, size_um=2048, pixel_size_um=16, angle=angle, depth_offset=-200
        )
        est = np.rad2deg(depth_axis_angle(img)) % 180
        true = (angle + 90) % 180  # depth direction (-sin, cos) in image coordinates
        assert min(abs(est - true), 180 - abs(est - true)) < 15, (angle, est)
    prof = gli_profile(img, n_bins=32)
    assert prof.shape == (32,) and np.all((prof >= 0) & (prof <= 1))


def test_classifier_separates_distinct_areas_across_brains():
    areas = ["hOc1", "4a", "CA1"]
    kw = dict(depth_range=(0.45, 0.55), neighbour_prob=0.0)
    xtr, ytr, _ = sample_patches([0, 1, 2], areas, 6, rng_seed=0, **kw)
    xte, yte, _ = sample_patches([50, 51], areas, 5, rng_seed=1, **kw)
    for kind in ("mahalanobis", "centroid"):
        clf = GLIClassifier(kind).fit(xtr, ytr)
        acc = np.mean(np.array(clf.predict(xte)) == np.array(yte))
        assert acc > 0.5, (kind, acc)  # chance: 1/3
        assert clf.distances(xte).shape == (len(yte), 3)
    with pytest.raises(ValueError, match="kind"):
        GLIClassifier("knn")
