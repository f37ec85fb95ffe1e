"""ROI geometry, patch grids and aggregation of per-patch predictions."""

from __future__ import annotations

import numpy as np
import pytest

from cytowords.describe.result import accepted_share, aggregate, top_alternatives
from cytowords.regions.roi import Roi, RoiError, patch_grid


def test_rectangle_area_bounds_and_containment() -> None:
    r = Roi.rectangle(100, 200, 0, 0)  # corners in any order
    assert r.bounds == (0.0, 0.0, 100.0, 200.0)
    assert r.area_um2 == pytest.approx(20000.0)
    inside = r.contains(np.array([[50, 100], [150, 100], [50, -1], [99.9, 199.9]]))
    assert inside.tolist() == [True, False, False, True]


def test_concave_polygon_containment() -> None:
    # an L shape: the notch at top-right is outside
    poly = Roi(np.array([[0, 0], [0, 10], [5, 10], [5, 5], [10, 5], [10, 0]]))
    assert poly.area_um2 == pytest.approx(75.0)
    assert poly.contains(np.array([[2, 8], [8, 8], [8, 2]])).tolist() == [True, False, True]


def test_holes_are_outside_and_do_not_count() -> None:
    hole = np.array([[4000.0, 4000], [4000, 8000], [8000, 8000], [8000, 4000]])
    r = Roi.rectangle(0, 0, 12000, 12000, name="donut")
    d = Roi(r.vertices, name="donut", holes=(hole,))
    assert d.area_um2 == pytest.approx(12000**2 - 4000**2)
    assert d.contains(np.array([[6000, 6000], [2000, 2000], [6000, 10000]])).tolist() == [
        False,
        True,
        True,
    ]
    # fields: never centred in the hole; the same grid as without it elsewhere
    full = patch_grid(r, patch_um=2048, stride_um=1024)
    pts = patch_grid(d, patch_um=2048, stride_um=1024)
    assert not Roi(hole).contains(pts).any() and len(pts) < len(full)
    kept = full[~Roi(hole).contains(full)]
    np.testing.assert_allclose(pts, kept)
    # a small ring whose centroid lies in its hole still gets a field on the ring
    small = Roi(
        Roi.rectangle(0, 0, 300, 300).vertices,
        holes=(Roi.rectangle(50, 50, 250, 250).vertices,),
    )
    (p,) = patch_grid(small, patch_um=4096)
    assert small.contains(p[None])[0]
    with pytest.raises(RoiError, match="hole 1"):
        Roi(r.vertices, holes=(hole + 50000.0,))


def test_multi_part_roi_is_one_region() -> None:
    a = Roi.rectangle(0, 0, 1000, 1000)
    b = Roi(
        Roi.rectangle(0, 5000, 1000, 6000).vertices,
        holes=(Roi.rectangle(400, 5400, 600, 5600).vertices,),
    )
    two = Roi(a.vertices, name="L1", parts=(b,))
    assert two.area_um2 == pytest.approx(2 * 1000**2 - 200**2)
    assert two.bounds == (0.0, 0.0, 1000.0, 6000.0)
    assert two.contains(np.array([[500, 500], [500, 3000], [200, 5200], [500, 5500]])).tolist() == [
        True,
        False,
        True,
        False,
    ]
    pts = patch_grid(two, patch_um=400, stride_um=200)
    assert two.contains(pts).all() and (pts[:, 1] > 5000).any() and (pts[:, 1] < 1000).any()
    assert [len(h) for _, h in two.polygons] == [0, 1] and two.parts[0].name == "L1"


@pytest.mark.parametrize(
    "verts",
    [np.zeros((2, 2)), np.array([[0, 0], [1, 1], [2, 2]]), np.array([[0, 0], [0, np.nan], [1, 1]])],
)
def test_degenerate_polygons_raise_clear_errors(verts: np.ndarray) -> None:
    with pytest.raises(RoiError, match="ROI"):
        Roi(verts)


def test_patch_grid_inside_roi_and_section() -> None:
    r = Roi.rectangle(0, 0, 4096, 4096)
    pts = patch_grid(r, patch_um=2048, stride_um=1024)
    assert pts.shape == (16, 2)
    np.testing.assert_allclose(np.unique(pts[:, 0]), [512, 1536, 2560, 3584])
    # clipped by the section: only the part inside the 3000 x 3000 µm section
    clipped = patch_grid(r, patch_um=2048, stride_um=1024, section_shape_um=(3000, 3000))
    assert len(clipped) < len(pts) and clipped.max() < 3000


def test_tiny_roi_gets_one_patch_at_centroid() -> None:
    r = Roi.rectangle(10, 10, 20, 30)
    pts = patch_grid(r, patch_um=2048)
    np.testing.assert_allclose(pts, [[15, 20]])


def test_small_roi_is_read_at_five_fields_inside_it() -> None:
    r = Roi.rectangle(1000, 2000, 2600, 3600)  # 1.6 mm, smaller than a 4 mm field
    pts = patch_grid(r, patch_um=4096, min_patches=5)
    assert len(pts) == 5 and r.contains(pts).all()
    np.testing.assert_allclose(pts.mean(0), [1800, 2800])
    np.testing.assert_allclose(np.ptp(pts, axis=0), [800, 800])  # a quarter of 1.6 mm each way
    # at the section's edge only the points inside the section remain
    edge = patch_grid(
        Roi.rectangle(0, 0, 1600, 1600),
        patch_um=4096,
        min_patches=5,
        section_shape_um=(1000, 1000),
    )
    assert 1 <= len(edge) < 5 and edge.max() < 1000
    # a ROI with enough grid fields is left as it is
    big = Roi.rectangle(0, 0, 4096, 4096)
    np.testing.assert_array_equal(
        patch_grid(big, patch_um=2048, stride_um=1024, min_patches=5),
        patch_grid(big, patch_um=2048, stride_um=1024),
    )


def test_roi_outside_section_is_refused() -> None:
    with pytest.raises(RoiError, match="outside the section"):
        patch_grid(
            Roi.rectangle(5000, 5000, 6000, 6000), patch_um=100, section_shape_um=(1000, 1000)
        )


def test_max_patches_coarsens_the_grid() -> None:
    r = Roi.rectangle(0, 0, 10000, 10000)
    pts = patch_grid(r, patch_um=100, max_patches=50)
    assert 0 < len(pts) <= 50


def test_aggregate_votes_and_rejection() -> None:
    ids = ["a", "b", "c"]
    probs = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    best, mean, ood, rej, acc = aggregate(
        probs, np.array([1.0, 2.0, 9.0]), np.array([0, 0, 1]), ids
    )
    assert best == 0 and not rej
    assert acc.tolist() == [True, True, False]
    np.testing.assert_allclose(mean, [0.65, 0.25, 0.1])
    assert ood == 2.0
    alts = top_alternatives(mean, ids, 2)
    assert [a for a, _ in alts] == ["a", "b"]
    np.testing.assert_allclose([p for _, p in alts], [0.65, 0.25])
    best, _, _, rej, _ = aggregate(probs, np.zeros(3), np.array([1, 1, 0]), ids)
    assert best is None and rej


def test_fields_that_read_as_non_cortex_do_not_vote() -> None:
    """A loosely drawn ROI: 2 fields on the area's cortex, 3 on white matter. Counted as
    votes, the white matter rejects the ROI; abstaining, it leaves the cortex to decide."""
    ids = ["a", "b"]
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.5, 0.5], [0.4, 0.6], [0.5, 0.5]])
    ood = np.array([0.1, 0.3, 5.5, 5.6, 5.4])
    rej = ood > 2.0
    noncortex = ood >= 5.0
    best, _, _, roi_rej, _ = aggregate(probs, ood, rej, ids)
    assert roi_rej and best is None
    best, mean, _, roi_rej, acc = aggregate(probs, ood, rej, ids, abstain=noncortex, min_votes=2)
    assert not roi_rej and best == 0
    np.testing.assert_allclose(mean, [0.85, 0.15])  # the accepted fields only
    assert accepted_share(acc, ~noncortex) == 1.0 and accepted_share(acc) == 0.4
    # every field abstains: no cortex of a known area in the ROI
    _, _, _, roi_rej, acc = aggregate(probs, ood, np.ones(5, bool), ids, abstain=np.ones(5, bool))
    assert roi_rej and accepted_share(acc, np.zeros(5, bool)) == 0.0
    # one voting field is not enough when two are asked for
    one = np.array([False, True, True, True, True])
    assert aggregate(probs, ood, rej, ids, abstain=one, min_votes=2)[3]
    assert not aggregate(probs, ood, rej, ids, abstain=one, min_votes=1)[3]
    # unknown cortex still votes: its rejection counts
    unknown = np.array([0.1, 3.0, 3.5, 3.2, 5.5])
    assert aggregate(probs, unknown, unknown > 2.0, ids, abstain=unknown >= 5.0, min_votes=2)[3]
    with pytest.raises(ValueError, match="abstain"):
        aggregate(probs, ood, rej, ids, abstain=np.ones(3, bool))
