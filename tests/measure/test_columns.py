"""Columnar organisation (:mod:`cytowords.measure.columns`): hand-made sections of somata
in radial columns, at random, and at random with pale radial vessel streaks; a generator
truth check; a coarse scan says why."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage as ndi

from cytowords.measure import columns as columns_mod
from cytowords.measure import measure_roi
from cytowords.measure.columns import (
    COLUMN_MAX_PX_UM,
    column_term,
    columnar_share,
    columns_along,
)
from cytowords.synth import truth_in_roi, virtual_section

PX = 2.0
GLASS = 230.0
SIZE_UM = 2400.0


def _cells(kind: str, seed: int, density_mm2: float = 3000.0, period_um: float = 45.0):
    """Soma centres (µm) in a square of SIZE_UM: ``columns`` (density modulated across x
    by ±60 % with ``period_um``, the same at every depth y), ``random``."""
    rng = np.random.default_rng(seed)
    n = rng.poisson(density_mm2 * 1.6 * (SIZE_UM / 1000) ** 2)
    y, x = rng.uniform(0, SIZE_UM, n), rng.uniform(0, SIZE_UM, n)
    if kind == "columns":
        keep = rng.random(n) * 1.6 < 1 + 0.6 * np.cos(2 * np.pi * x / period_um)
    else:
        keep = rng.random(n) * 1.6 < 1.0
    return y[keep], x[keep]


def _image(y, x, seed: int, streaks: int = 0) -> np.ndarray:
    """Intensity image at PX µm/px: dark somata (Gaussian blobs 6-14 µm) on a neuropil of
    optical density 0.25 with fine noise; ``streaks`` pale radial vessels (glass, 16-28 µm
    wide, running in y) without somata."""
    rng = np.random.default_rng(seed + 99)
    n = int(SIZE_UM / PX)
    od = np.zeros((n, n))
    iy = np.clip((y / PX).astype(int), 0, n - 1)
    ix = np.clip((x / PX).astype(int), 0, n - 1)
    np.add.at(od, (iy, ix), rng.uniform(0.6, 1.2, len(y)))
    od = ndi.gaussian_filter(od, 2.5 / PX) * 2 * np.pi * (2.5 / PX) ** 2 * 0.6
    od += 0.25 + 0.03 * rng.standard_normal(od.shape)
    img = GLASS * np.exp(-np.clip(od, 0, None))
    for k in range(streaks):
        cx = (k + 0.5) * SIZE_UM / streaks + rng.uniform(-40, 40)
        half = rng.uniform(8, 14) / PX
        c = int(cx / PX)
        img[:, max(0, c - int(half)) : c + int(half) + 1] = GLASS * rng.uniform(0.92, 1.0)
    return img


def _reader(img: np.ndarray):
    def read(y0, x0, h, w, px):
        assert abs(px - PX) < 1e-9
        out = np.full((int(round(h / px)), int(round(w / px))), np.nan)
        a, b = int(round(y0 / px)), int(round(x0 / px))
        ys = slice(max(a, 0), min(a + out.shape[0], img.shape[0]))
        xs = slice(max(b, 0), min(b + out.shape[1], img.shape[1]))
        out[ys.start - a : ys.stop - a, xs.start - b : xs.stop - b] = img[ys, xs]
        return out

    return read


def _paths():
    """Three straight traverses (pia at y = 0, white matter at y = SIZE_UM), tilted 4°."""
    t = np.deg2rad(4.0)
    out = []
    for x in (600.0, 1200.0, 1800.0):
        s = np.linspace(0, SIZE_UM - 100, 50)
        out.append(np.stack([50 + s * np.cos(t), x + s * np.sin(t) - 80], 1))
    return out


def _measure(kind: str, seed: int, streaks: int = 0):
    y, x = _cells(kind, seed)
    img = _image(y, x, seed, streaks)
    return columns_along(_reader(img), _paths(), GLASS, PX)


@pytest.mark.parametrize("seed", [1, 2])
def test_columns_strong_random_none(seed):
    # somata in radial columns 45 µm apart (density +-60 % across the ribbon, the same at
    # every depth; the traverses lean 4° against them) against somata at random
    col = _measure("columns", seed)
    rnd = _measure("random", seed)
    assert col.n_windows == 3 and rnd.n_windows == 3 and min(col.n_somata, rnd.n_somata) > 900
    assert col.term == "strong" and col.index >= 0.5 and col.z > 4 and col.cv > 0.15
    assert rnd.term == "none" and rnd.index < 0.3 and rnd.z < 3 and rnd.cv < 0.1


@pytest.mark.parametrize("seed", [1, 2])
def test_vessel_streaks_are_no_columns(seed, monkeypatch):
    # somata at random, cut by pale radial streaks (perforating vessels, one per ~100 µm):
    # the same tangential gap at every depth, left out, not read as columns
    rnd = _measure("random", seed, streaks=24)
    assert rnd.pale_share > 0.1
    assert rnd.term == "none" and rnd.index < 0.35 and rnd.z < 3
    # the streaks are a real confounder: counted as tissue without somata they read as
    # columns
    monkeypatch.setattr(columns_mod, "pale_mask", lambda od, px: np.zeros(od.shape, bool))
    unmasked = _measure("random", seed, streaks=24)
    assert unmasked.term in ("weak", "strong") and unmasked.z > 5


def test_columns_share_and_term_rules():
    assert columnar_share(0.0) == 0.0 and columnar_share(-0.2) == 0.0
    assert columnar_share(1.0) == pytest.approx(1.0)
    # 16 strips of 40 µm (0.64 mm) correlated 1/17 pairwise: half the window's variation
    # is columnar
    assert columnar_share(1 / 17) == pytest.approx(0.5)
    assert column_term(2.0, 0.9) == "none"
    assert column_term(4.0, 0.3) == "weak" and column_term(4.0, 0.6) == "strong"


def _square(y: float, x: float, half: float = 1500.0) -> np.ndarray:
    return np.array(
        [[y - half, x - half], [y - half, x + half], [y + half, x + half], [y + half, x - half]]
    )


def test_generator_area_without_columns_reads_none():
    # brain 224 (realistic: vessels, radial streaks), area p32 (no columns in the atlas),
    # 3 mm across the ribbon, at 2 µm/px
    section = virtual_section(224, pixel_size_um=2.0)
    roi = _square(17400.0, 67600.0)
    tr = truth_in_roi(section, roi, trace=False)
    assert tr["area"] == "p32" and tr["truth"]["columnar_organisation"] == "none"
    assert tr["truth"]["columnar_strength"] == pytest.approx(0.05)
    r = measure_roi(section, roi, cells=False, columns=True, profile_um=16.0)
    d = r.to_dict(traverses=False)["columnar_organisation"]
    assert d is not None and d["pixel_size_um"] == 2.0 and d["n_windows"] == 3
    assert d["term"] == "none" and d["n_somata"] >= 300
    assert any("No radial cell columns were detected" in s for s in r.statements())
    assert not any("columnar organisation" in x for x in r.reasons)


def test_coarse_scan_says_why():
    # the same brain read as a scan whose finest level is 16 µm/px: no somata to count
    full = virtual_section(224, pixel_size_um=2.0)
    k = next(i for i, p in enumerate(full.pixel_size_um) if p >= 16 * 0.9999)
    scan = replace(full, levels=full.levels[k:], pixel_size_um=list(full.pixel_size_um[k:]), labels={})
    r = measure_roi(scan, _square(17400.0, 67600.0), cells="auto")
    assert r.measured and r.columns is None
    assert r.to_dict(traverses=False)["columnar_organisation"] is None
    why = [x for x in r.reasons if x.startswith("columnar organisation")]
    assert why and f"<= {COLUMN_MAX_PX_UM:g} µm/px needed" in why[0] and "16 µm/px" in why[0]
