"""Observer-independent borders (:mod:`cytowords.measure.borders`): hand-made profile
sequences with a known change point, a synthetic section path across area borders, the CLI
and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cytowords.cli import main
from cytowords.measure import MeasureError
from cytowords.measure.border_stats import (
    consistent_borders,
    detect_borders,
    distance_function,
    profile_features,
    serial_correlation,
    within_segment_autocorrelation,
)
from cytowords.measure.borders import find_borders
from cytowords.sections import open_section, write_section
from cytowords.synth import virtual_section
from cytowords.synth.truth import _geometry, truth_at

DEPTH = (np.arange(100) + 0.5) / 100


def _profiles(centres: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Profiles with a dark band (layer-IV-like) at ``centres`` plus noise."""
    band = np.exp(-(((DEPTH[None, :] - centres[:, None]) / 0.08) ** 2))
    return 0.5 + 0.2 * DEPTH[None, :] + 0.3 * band + rng.normal(0, 0.03, (len(centres), 100))


def test_features_follow_the_profile_shape():
    rng = np.random.default_rng(1)
    f = profile_features(_profiles(np.array([0.3, 0.7]), rng))
    assert f.shape == (2, 10)
    # the centre of gravity moves with the band; the mean does not
    assert f[1, 1] > f[0, 1] + 0.02
    assert abs(f[1, 0] - f[0, 0]) < 0.02


@pytest.mark.parametrize("change", [30, 47])
def test_known_change_point_is_found_within_one_position(change):
    rng = np.random.default_rng(change)
    centres = np.where(np.arange(80) < change, 0.45, 0.6) + rng.normal(0, 0.02, 80)
    det = detect_borders(_profiles(centres, rng))
    assert len(det["positions"]) == 1
    assert abs(int(det["positions"][0]) - change) <= 1
    assert det["support"][0] >= 0.5
    d2, pv = distance_function(det["features"], 10)
    assert np.nanargmax(d2) in range(change - 2, change + 3)
    assert pv[change] < 0.05 and np.isnan(d2[:10]).all()


def test_border_between_maxima_that_wander_with_the_block_size():
    # four block sizes, their maxima two positions apart on either side of 50: no maximum
    # has three of the four within ±2 (48 and 52 lie 4 apart), but position 50 has all four
    x = np.arange(101)

    def bumps(at):  # each size's D² peaks at its maximum
        return np.stack([np.exp(-(((x - m) / 3.0) ** 2)) for m in at])

    maxima = [np.array([m]) for m in (48, 48, 52, 52)]
    pos, sup = consistent_borders(maxima, bumps([48, 48, 52, 52]), min_support=0.75)
    assert pos.tolist() == [50] and sup.tolist() == [1.0]
    # maxima 10 positions apart: no position lies within ±2 of both pairs
    apart = [np.array([m]) for m in (40, 40, 50, 50)]
    d2 = bumps([40, 40, 50, 50])
    assert consistent_borders(apart, d2, min_support=0.75)[0].size == 0
    # each pair alone is half the sizes: two borders at the default share, each where its
    # sizes' D² is largest (of the positions equally supported, the largest mean D²)
    pos, sup = consistent_borders(apart, d2)
    assert pos.tolist() == [40, 50] and sup.tolist() == [0.5, 0.5]


def test_no_change_gives_no_border():
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        centres = 0.5 + rng.normal(0, 0.02, 80)
        assert len(detect_borders(_profiles(centres, rng))["positions"]) == 0


def test_min_p_finds_a_change_that_only_the_small_blocks_reach():
    # 80 profiles, the change 18 before the end: only blocks of 16 and 18 (2 of the 8
    # sizes 16-30) test it, too few for the support rule; their smallest p finds it
    rng = np.random.default_rng(3)
    centres = np.where(np.arange(80) < 62, 0.45, 0.6) + rng.normal(0, 0.02, 80)
    profiles = _profiles(centres, rng)
    assert len(detect_borders(profiles)["positions"]) == 0
    det = detect_borders(profiles, combine="min_p")
    assert len(det["positions"]) == 1 and abs(int(det["positions"][0]) - 62) <= 1
    # support: the share of block sizes significant near it (the two that reach it)
    assert 0 < det["support"][0] <= 2 / 8
    # no change, no border
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        flat = _profiles(0.5 + rng.normal(0, 0.02, 80), rng)
        assert len(detect_borders(flat, combine="min_p")["positions"]) == 0
    with pytest.raises(ValueError, match="combine 'median'"):
        detect_borders(profiles, combine="median")


def test_vectorised_distance_matches_the_direct_formula():
    rng = np.random.default_rng(7)
    f = rng.normal(size=(40, 10)) + np.linspace(0, 1, 40)[:, None]
    f[:, 0] = np.cumsum(rng.normal(size=40))  # one serially correlated feature
    d2, _ = distance_function(f, 12, serial=False)
    z = (f - f.mean(0)) / f.std(0)
    a, b = z[8:20], z[20:32]
    pooled = (np.cov(a, rowvar=False) + np.cov(b, rowvar=False)) / 2
    pooled += np.eye(10) * 1e-6 * np.trace(pooled) / 10
    diff = a.mean(0) - b.mean(0)
    assert d2[20] == pytest.approx(float(diff @ np.linalg.solve(pooled, diff)), rel=1e-9)
    # corrected: each mean difference over the square root of its AR(1) variance inflation
    rho = serial_correlation(z, 12)
    assert rho[0] > 0.3
    diff = diff / np.sqrt((1 + rho) / (1 - rho))
    d2s, _ = distance_function(f, 12)
    assert d2s[20] == pytest.approx(float(diff @ np.linalg.solve(pooled, diff)), rel=1e-9)


def _change_sequence(seed: int, change: int | None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shift = 0.0 if change is None else 0.15
    centres = np.where(np.arange(80) < (change or 80), 0.45, 0.45 + shift)
    return _profiles(centres + rng.normal(0, 0.02, 80), rng)


def test_permutation_test_finds_a_known_change():
    det = detect_borders(
        _change_sequence(3, 37), (12, 16), 0.01, test="permutation", n_permutations=200
    )
    assert len(det["positions"]) == 1 and abs(int(det["positions"][0]) - 37) <= 1
    # no shuffle of the profile order comes near the change's D²: the smallest p-value
    assert np.nanmin(det["pvalue"]) == pytest.approx(1 / 201)


def test_permutation_test_without_change_and_deterministic():
    profiles = _change_sequence(11, None)
    det = detect_borders(profiles, (12, 16), 0.01, test="permutation", n_permutations=200)
    assert len(det["positions"]) == 0
    # the max-statistic test: under no change about the level's share of shuffles beat it
    assert np.nanmin(det["pvalue"]) > 0.01
    feats = profile_features(profiles)
    d_a, p_a = distance_function(feats, 12, "permutation", 200, seed=5)
    d_b, p_b = distance_function(feats, 12, "permutation", 200, seed=5)
    _, p_c = distance_function(feats, 12, "permutation", 200, seed=6)
    assert np.array_equal(p_a, p_b, equal_nan=True) and np.array_equal(d_a, d_b, equal_nan=True)
    assert not np.array_equal(p_a, p_c, equal_nan=True)
    with pytest.raises(ValueError, match="smallest p-value"):
        detect_borders(profiles, (12,), 1e-7, test="permutation", n_permutations=200)
    with pytest.raises(ValueError, match="test 'chi'"):
        distance_function(feats, 12, "chi")


def _length_step(seed: int, area_step: float) -> tuple[np.ndarray, np.ndarray]:
    """80 profiles whose traverse length steps from 2.5 to 3.5 mm at position 40 (varying
    by 8 % around that) and whose band lies deeper on longer traverses; ``area_step``: a
    change of the band's depth at position 40 that the length does not explain."""
    rng = np.random.default_rng(seed)
    i = np.arange(80)
    lengths = np.where(i < 40, 2500.0, 3500.0) * np.exp(rng.normal(0, 0.08, 80))
    centres = 0.5 + 0.3 * np.log(lengths / 3000.0) + np.where(i < 40, 0.0, area_step)
    return _profiles(centres + rng.normal(0, 0.01, 80), rng), lengths


def test_length_covariate_explains_a_step_in_traverse_length():
    # one area cut more obliquely beyond position 40: the band follows the traverse length
    # (as within each block), so with the length as covariate it is no border
    for seed in range(3):
        profiles, lengths = _length_step(seed, 0.0)
        plain = detect_borders(profiles)
        assert len(plain["positions"]) == 1 and np.nanmin(plain["pvalue"]) < 1e-8
        det = detect_borders(profiles, lengths_um=lengths)
        assert len(det["positions"]) == 0
        assert np.nanmin(det["pvalue"]) > 1e4 * np.nanmin(plain["pvalue"])
    # the permutation test shuffles profiles and lengths together and agrees
    perm = detect_borders(profiles, (12, 16), 0.01, test="permutation", lengths_um=lengths)
    assert len(perm["positions"]) == 0
    assert len(detect_borders(profiles, (12, 16), 0.01, test="permutation")["positions"]) == 1
    # a change the length does not explain is still found at the step
    profiles, lengths = _length_step(7, -0.15)
    det = detect_borders(profiles, lengths_um=lengths)
    assert len(det["positions"]) == 1 and abs(int(det["positions"][0]) - 40) <= 1
    with pytest.raises(ValueError, match="79 traverse lengths for 80 profiles"):
        detect_borders(profiles, lengths_um=lengths[1:])


def _ar1(rng: np.random.Generator, rho: float, n: int, sd: float, p: int = 1) -> np.ndarray:
    """An AR(1) sequence ``(n, p)`` with lag-1 correlation ``rho`` and innovations ``sd``."""
    e = rng.normal(0, sd, (n, p))
    x = np.zeros((n, p))
    for t in range(1, n):
        x[t] = rho * x[t - 1] + e[t]
    return x


def test_serial_correlation_of_ar1_features():
    rng = np.random.default_rng(4)
    iid = serial_correlation(rng.normal(size=(4000, 3)), 20)
    assert np.all(iid < 0.05)
    # around a running mean over 20 values the estimate is low (0.6 -> about 0.48), never high
    est = serial_correlation(_ar1(rng, 0.6, 4000, 1.0, 3), 20)
    assert np.all((est > 0.4) & (est < 0.6))
    assert np.all(serial_correlation(_ar1(rng, 0.95, 4000, 1.0, 3), 10) <= 0.9)


def test_within_segment_autocorrelation_of_ar1_segments():
    # three segments of AR(1) variation (rho 0.6) around levels 5 apart: within the segments
    # the lag-k correlation is about 0.6 ** k; the steps between them do not count
    rng = np.random.default_rng(11)
    level = np.repeat([0.0, 5.0, -5.0], 1500)
    f = _ar1(rng, 0.6, len(level), 1.0, 2) + level[:, None]
    seg = np.repeat(["a", "b", "c"], 1500)
    acf = within_segment_autocorrelation(f, seg, [1, 2, 4, 16])
    assert acf.shape == (4, 2)
    assert np.all(np.abs(acf[0] - 0.6) < 0.06) and np.all(np.abs(acf[1] - 0.36) < 0.07)
    assert np.all(np.abs(acf[2] - 0.13) < 0.07) and np.all(np.abs(acf[3]) < 0.07)
    # without the segments the steps read as correlation that persists over any lag
    whole = within_segment_autocorrelation(f, np.zeros(len(f)), [16])
    assert np.all(whole > 0.8)


def test_within_segment_autocorrelation_edge_cases():
    rng = np.random.default_rng(12)
    f = rng.normal(size=(40, 3))
    f[:, 2] = 1.0  # no variance
    acf = within_segment_autocorrelation(f, np.arange(40) // 20, [1, 19, 20, 0])
    assert np.isfinite(acf[0, :2]).all() and np.isnan(acf[0, 2])
    # lag 19 leaves one pair per segment, lag 20 none within a segment, lag 0 is no lag
    assert np.isnan(acf[1:]).all()
    with pytest.raises(ValueError, match="segment labels"):
        within_segment_autocorrelation(f, np.zeros(39), [1])


def test_serial_correction_keeps_correlated_profiles_from_reading_as_borders():
    # the band's depth wanders slowly (AR(1), rho 0.9) and never steps: at a lax level the
    # uncorrected test, which takes neighbouring profiles as independent, finds "borders"
    def wandering(seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return _profiles(0.5 + _ar1(rng, 0.9, 120, 0.01)[:, 0], rng)

    def n_found(serial: bool) -> int:
        return sum(
            len(detect_borders(wandering(s), (12, 16, 20), 0.01, serial=serial)["positions"])
            for s in range(20)
        )

    without, with_ = n_found(False), n_found(True)
    assert without >= 10
    assert with_ <= without // 2
    # a real step is still found with the correction (and the same D² without it)
    rng = np.random.default_rng(9)
    centres = np.where(np.arange(80) < 40, 0.45, 0.6) + rng.normal(0, 0.02, 80)
    det = detect_borders(_profiles(centres, rng))
    assert len(det["positions"]) == 1 and abs(int(det["positions"][0]) - 40) <= 1


# a 40 × 30 mm section of brain 205: areas about 2 mm long along the pia
SEED, SIZE = 205, (40, 30)
PX = 16.0


@pytest.fixture(scope="module")
def crop(tmp_path_factory):
    """The pia of hOc1..hOc4d as a path (µm in the crop) and an OME-Zarr crop around it."""
    # the classic generator: the sites below were found on its geometry (the realistic
    # default folds differently)
    sec = virtual_section(SEED, size_mm=SIZE, variation="classic")
    g = _geometry(sec)
    g._build()
    s = g._arclen
    sel = (s > 800) & (s < 8600)
    path = g._poly[sel][:, ::-1]  # (x, y) -> (y, x)
    y0, x0 = np.floor((path.min(0) - 5000) / PX) * PX
    y1, x1 = np.ceil((path.max(0) + 5000) / PX) * PX
    y0, x0 = max(y0, 0.0), max(x0, 0.0)
    y1, x1 = min(y1, sec.shape_um[0]), min(x1, sec.shape_um[1])
    img = sec.read_window(y0, x0, y1 - y0, x1 - x0, PX)
    out = tmp_path_factory.mktemp("borders") / "crop.ome.zarr"
    write_section(out, np.clip(img, 0, 255).astype(np.uint8), pixel_size_um=PX)
    return {"file": out, "path": path - [y0, x0], "origin": np.array([y0, x0]), "section": sec}


def test_path_across_known_area_borders(crop):
    # areas here are about 2 mm long: blocks of 8-20 traverses (0.8-2 mm), the usual level,
    # and no length adjustment: over a path of four short areas that differ in thickness the
    # regression on traverse length takes the areas' thickness for obliqueness
    blocks = tuple(range(8, 21, 2))
    r = find_borders(
        open_section(crop["file"]),
        crop["path"],
        block_sizes=blocks,
        alpha=0.05,
        adjust_length=False,
    )
    assert len(r.traverses_um) >= 50
    mids = np.array([t[len(t) // 2] for t in r.traverses_um]) + crop["origin"]
    area = truth_at(crop["section"], mids)["area"]
    change = np.flatnonzero(area[1:] != area[:-1]) + 1
    # only borders with a smallest block of profiles on both sides can be tested
    bmin = min(r.block_sizes)
    change = change[(change >= bmin) & (change <= len(area) - bmin)]
    true_um = r.positions_along_um[change]
    assert len(true_um) >= 2 and len(r.border_along_um) >= 1
    # the profiles here change 1.0-1.3 mm beyond the traverse truth's hOc3d/hOc4d border
    # (D² high from 5.2 to 5.5 mm at every block size, the truth at 4.2 mm): the border is
    # placed 1.2 mm from it (1.0 mm with the profile mean compared), hence 1.5 mm here
    found = [np.min(np.abs(r.border_along_um - t)) <= 1500 for t in true_um]
    false = [np.min(np.abs(true_um - b)) > 1500 for b in r.border_along_um]
    assert sum(found) >= len(true_um) - 1 and sum(false) <= 1
    assert r.distance.shape == (len(r.block_sizes), len(r.profiles) + 1)
    assert len(r.segment_profiles) == len(r.border_along_um) + 1
    assert r.segments_along_um[0, 0] == 0 and r.segments_along_um[-1, 1] == r.path_length_um


def test_cli_borders_writes_geojson(crop, tmp_path, capsys):
    path_px = crop["path"][:, ::-1] / PX
    line = tmp_path / "path.geojson"
    line.write_text(
        json.dumps(
            [
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": path_px.round(1).tolist()},
                    "properties": {"objectType": "annotation"},
                }
            ]
        )
    )
    out = tmp_path / "borders.geojson"
    # the default blocks (16-30) on a 7.8 mm path: a lax level gives the file a border to hold
    rc = main(
        ["borders", str(crop["file"]), "--path", str(line), "--json", "--out", str(out)]
        + ["--alpha", "0.01"]
    )
    assert rc == 0
    d = json.loads(capsys.readouterr().out)
    saved = json.loads(out.read_text())
    kinds = [f["geometry"]["type"] for f in saved["features"]]
    assert kinds.count("Point") == len(d["borders"]) >= 1
    assert kinds.count("LineString") == len(d["borders"]) + 1
    first = next(f for f in saved["features"] if f["geometry"]["type"] == "Point")
    b = d["borders"][0]
    assert first["geometry"]["coordinates"] == pytest.approx(
        [b["x_um"] / PX, b["y_um"] / PX], abs=0.1
    )
    # the smallest p over the block sizes: same profiles, its borders are significant there
    rc = main(
        ["borders", str(crop["file"]), "--path", str(line), "--json", "--alpha", "0.01"]
        + ["--combine", "min_p"]
    )
    assert rc == 0
    m = json.loads(capsys.readouterr().out)
    pv = np.array([[np.nan if v is None else v for v in m["pvalue"][k]] for k in m["pvalue"]])
    along = np.array(m["positions_along_um"], dtype=float)
    assert len(m["borders"]) >= 1
    for border in m["borders"]:
        i = int(np.argmin(np.abs(along - border["along_um"])))
        assert np.nanmin(pv[:, i]) * len(pv) < 0.01


def test_bad_paths(crop, capsys):
    sec = open_section(crop["file"])
    with pytest.raises(MeasureError, match="at least .* mm"):
        find_borders(sec, crop["path"][:5])
    with pytest.raises(MeasureError, match="outside the section"):
        find_borders(sec, [[-9000.0, -9000.0], [-9000.0, -2000.0]])
    # along the slide's corner, in the glass: no pia or white matter near the path
    with pytest.raises(MeasureError, match="off the cortex"):
        find_borders(crop["section"], [[300.0, 300.0], [300.0, 4000.0]], profile_um=32.0)
    rc = main(["borders", str(crop["file"]), "--path-um", "1000,1000;1000,1500"])
    assert rc == 2
    assert "at least" in capsys.readouterr().err
    with pytest.raises(MeasureError, match="smallest p-value of 1000"):
        find_borders(sec, crop["path"], test="permutation", alpha=1e-7)
    with pytest.raises(MeasureError, match="combine 'median'"):
        find_borders(sec, crop["path"], combine="median")
    argv = ["borders", str(crop["file"]), "--path-um", "1000,1000;1000,9000"]
    assert main([*argv, "--test", "permutation", "--alpha", "1e-5"]) == 2
    assert "smallest p-value" in capsys.readouterr().err


# a hand-made gyrus (tests/support/gyrus.py): straight banks and a semicircular crown,
# laminae on the volume fraction of each column (Bok), one area or two


@pytest.fixture(scope="module")
def gyrus():
    from tests.support.gyrus import gyrus_section

    return {"one": gyrus_section(), "two": gyrus_section(change_y=9000.0)}


def test_bend_of_one_area_gives_no_border(gyrus):
    from tests.support.gyrus import crown_along, gyrus_path

    r = find_borders(gyrus["one"], gyrus_path())
    assert len(r.profiles) >= 0.95 * len(r.station_along_um) >= 280
    assert len(r.border_along_um) == 0
    # sampled at equidistant depths, the crown's profiles differ from the banks': its ends
    # (where the curvature jumps) read as borders
    flat = find_borders(gyrus["one"], gyrus_path(), equivolume=False)
    ends = np.array(crown_along())
    assert len(flat.border_along_um) >= 1
    assert all(np.min(np.abs(ends - b)) <= 500 for b in flat.border_along_um)


def test_one_area_change_on_a_curved_ribbon_is_found_within_1_mm(gyrus):
    from tests.support.gyrus import YS, crown_along, gyrus_path

    r = find_borders(gyrus["two"], gyrus_path())
    true = crown_along()[1] + 9000.0 - YS
    assert len(r.border_along_um) == 1
    assert abs(r.border_along_um[0] - true) <= 1000


@pytest.mark.parametrize("offset", [1000.0, 2500.0])
def test_path_inside_the_grey_or_white_matter_finds_the_pia(gyrus, offset):
    # 1 mm beneath the pia (mid-ribbon) and 0.5 mm inside the white matter
    from tests.support.gyrus import PX, R, gyrus_path, radius_of

    r = find_borders(gyrus["one"], gyrus_path(offset))
    assert len(r.traverses_um) >= 0.95 * len(np.arange(50, r.path_length_um, 100))
    starts = np.array([t[0] for t in r.traverses_um])
    assert np.abs(radius_of(starts) - R).max() <= 3 * PX
    # each traverse passes its station: the path crosses the ribbon nowhere else
    assert len(r.border_along_um) == 0


def test_path_deep_in_the_white_matter_says_why(gyrus):
    from tests.support.gyrus import MARGIN, XC, YS, H

    # along the spine: 2 mm from the grey matter, beyond the search range of 1.5 mm
    spine = [[YS, XC], [H - MARGIN, XC]]
    with pytest.raises(MeasureError, match=r"0 stations lie in the grey matter or within 1.5 mm"):
        find_borders(gyrus["one"], spine)
