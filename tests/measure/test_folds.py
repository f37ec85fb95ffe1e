"""Folds and tears across a region (issue #21, real sections carry them): a fold is the
section lying doubled, its optical density about twice the tissue's beside it; a tear is
glass. The traverses one crosses are left out by relative measures alone (each against the
traverses' median at the same relative depth, ``artefact_traverses``) and the readout
says so; a region without one is measured as before. Hand-made ribbons of
``test_thickness`` (independent of cytowords.synth)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from cytowords.measure import measure_roi
from cytowords.measure.readout import MIN_TRAVERSES
try:
    from cytowords.measure.readout import artefact_traverses
except ImportError:
    pass
from cytowords.sections import Section

from .test_thickness import PIA_Y, PX, ROI, T, ribbon_section

GLASS = 240.0  # ribbon_section's glass level


def folded_section(x0: float, x1: float, y0: float, y1: float) -> Section:
    """:func:`ribbon_section` with its optical density doubled (the transmitted light
    squared, the section lying doubled) in the rectangle ``y0..y1`` × ``x0..x1`` µm."""
    sec = ribbon_section()
    img = np.asarray(sec.levels[0]).astype(np.float64)
    yy, xx = (np.mgrid[0 : img.shape[0], 0 : img.shape[1]] + 0.5) * PX
    fold = (yy > y0) & (yy < y1) & (xx > x0) & (xx < x1)
    t = np.clip(img / GLASS, 1e-3, 1.0)
    out = np.where(fold, GLASS * t**2, img)
    return Section([da.from_array(np.clip(out, 1, 255).astype(np.uint8), chunks=1024)], [PX], name="folded")


#: a fold 400 µm wide along the ribbon in the upper cortex (0.1-0.26 of its depth), over
#: the left third of the ROI (x 1500-2500 µm of 1500-4500)
FOLD = (1500.0, 2500.0, PIA_Y + 250.0, PIA_Y + 650.0)


def _band_excess(r, clean) -> float:
    """The readout's mean profile over the fold's depths against the clean ribbon's."""
    d = (r.depth >= 0.12) & (r.depth <= 0.24)
    return float(np.mean(r.profile_mean[d]) / np.mean(clean.profile_mean[d]))


def test_a_fold_over_part_of_the_region_is_left_out_and_said():
    clean = measure_roi(ribbon_section(), ROI, cells=False, profile_um=16.0)
    r = measure_roi(folded_section(*FOLD), ROI, cells=False, profile_um=16.0)
    assert r.measured and r.n_traverses >= MIN_TRAVERSES
    # the traverses under the fold are left out (a third of the region's), the rest read
    # the ribbon as without it: no dense band where the fold lies
    assert r.n_artefact >= 0.2 * (r.n_traverses + r.n_artefact)
    assert "fold" in r.artefact_why
    assert _band_excess(r, clean) == pytest.approx(1.0, abs=0.08)
    assert r.thickness_mm * 1000 == pytest.approx(T, rel=0.03)
    # the sentences are the clean ribbon's: before, the fold's edge was a "clear" II/III
    # border at 0.26 and the laminar contrast "sharp" (clean: moderate, no II/III)
    assert r.layers.laminar_contrast_term == clean.layers.laminar_contrast_term
    assert set(r.layers.borders) == set(clean.layers.borders)
    said = [s for s in r.statements() if "left out" in s]
    assert len(said) == 1 and f"{r.n_artefact} of {r.n_traverses + r.n_artefact}" in said[0]
    assert "fold (tissue doubled" in said[0]
    d = r.to_dict(traverses=False)["thickness_mm"]
    assert d["n_left_out_artefact"] == r.n_artefact and "fold" in d["left_out_artefact"]
    # no kept traverse runs under the fold
    for t in r.traverses_um:
        inside = (t[:, 1] > FOLD[0] + 50) & (t[:, 1] < FOLD[1] - 50) & (t[:, 0] > FOLD[2]) & (t[:, 0] < FOLD[3])
        assert not inside.any()


def test_without_the_rule_the_fold_would_read_as_a_dense_band():
    # what the readout measured before (every traverse kept): the fold raises the mean
    # profile at its depths by about a third, a dense band that is not in the tissue
    from cytowords.measure import readout

    clean = measure_roi(ribbon_section(), ROI, cells=False, profile_um=16.0)
    keep = readout.artefact_traverses
    try:
        readout.artefact_traverses = lambda p: (np.zeros(len(p), bool), "")
        r = measure_roi(folded_section(*FOLD), ROI, cells=False, profile_um=16.0)
    finally:
        readout.artefact_traverses = keep
    assert _band_excess(r, clean) > 1.15


def test_a_clean_ribbon_leaves_nothing_out():
    r = measure_roi(ribbon_section(), ROI, cells=False, profile_um=16.0)
    assert r.n_artefact == 0 and r.artefact_why == ""
    assert not any("left out" in s or "traverses cross" in s for s in r.reasons)


def test_profiles_rule_relative_and_a_fold_over_most_traverses_is_not_left_out():
    rng = np.random.default_rng(0)
    depth = (np.arange(100) + 0.5) / 100
    base = 0.4 + 0.3 * np.exp(-(((depth - 0.5) / 0.08) ** 2))
    profiles = base * np.exp(rng.normal(0, 0.08, (20, 100)))
    assert not artefact_traverses(profiles)[0].any()
    # the same rule on a slide stained 3 times darker: relative measures only
    assert not artefact_traverses(3.0 * profiles)[0].any()
    folded = profiles.copy()
    folded[:4, 30:45] *= 2.0  # 4 traverses doubled over 15 % of the depth
    torn = profiles.copy()
    torn[5, 60:70] = 0.01  # glass in one traverse
    bad, why = artefact_traverses(folded)
    assert bad.tolist() == [True] * 4 + [False] * 16 and why.startswith("a fold")
    bad, why = artefact_traverses(torn)
    assert np.flatnonzero(bad).tolist() == [5] and why == "a tear (glass inside the ribbon)"
    # a fold in layer I (the pale band's border varies between traverses) is not read
    top = profiles.copy()
    top[:4, 0:8] *= 2.0
    assert not artefact_traverses(top)[0].any()
