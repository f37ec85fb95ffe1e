"""An exposure so long that the white matter clips at the top of the range with the glass:
the readout says so and measures no thickness (the white matter cannot be told from the
glass, and the palest layers of the cortex would be taken for it); a clean scan, and one
whose glass alone is clipped, are measured without that note. A hand-made section
(independent of cytowords.synth): a disc of white matter inside a ribbon of cortex, glass
around it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cytowords.measure import measure_roi
from cytowords.measure.slide import clipped_tissue
from cytowords.sections import open_section
from cytowords.sections.write import write_section

PX = 10.0  # µm/px
SIDE = 12000.0  # µm, the slide
R_WM, T = 3000.0, 2500.0  # white matter's radius, the cortex's thickness (µm)
#: a square across the ribbon, at the top of the disc: pia above, white matter below
ROI = np.array([[200.0, 4500.0], [200.0, 7500.0], [3700.0, 7500.0], [3700.0, 4500.0]])


def scene(seed: int = 0) -> np.ndarray:
    """Optical density (natural log): white matter (OD 0.15) inside a 2.5 mm ribbon of
    cortex (OD 0.4, a paler layer I under the pia), glass outside."""
    yy, xx = (np.mgrid[0 : int(SIDE / PX), 0 : int(SIDE / PX)] + 0.5) * PX
    r = np.hypot(yy - SIDE / 2, xx - SIDE / 2)
    depth = (R_WM + T - r) / T  # 0 at the pia, 1 at the white matter
    cortex = 0.25 + 0.15 / (1 + np.exp(-(depth - 0.08) / 0.02))
    to_wm = 1 / (1 + np.exp(-(R_WM - r) / 50.0))
    od = (1 - to_wm) * cortex + to_wm * 0.15
    rng = np.random.default_rng(seed)
    return np.where(r > R_WM + T, 0.0, od * np.exp(rng.normal(0, 0.15, od.shape)))


def scan(tmp_path: Path, exposure: float | None):
    """The scene as an 8-bit OME-Zarr: clean (``None``: the glass at 0.94 of full scale) or
    ``exposure`` times the light that brings the glass to full scale (clipped above it)."""
    od = scene()
    t = (0.94 if exposure is None else exposure) * np.exp(-od)
    t = t + np.random.default_rng(1).normal(0, 2 / 255, t.shape)
    data = np.clip(np.rint(t * 255), 0, 255).astype(np.uint8)
    return open_section(write_section(tmp_path / f"x{exposure}.ome.zarr", data, pixel_size_um=PX))


def _overexposed(r) -> list[str]:
    return [x for x in r.reasons if x.startswith("overexposed")]


def test_clipped_white_matter_is_said_and_not_measured(tmp_path):
    # 1.3 x: the white matter (OD 0.15) clips with the glass, the cortex does not
    section = scan(tmp_path, 1.3)
    share = clipped_tissue(section.levels, [float(s) for s in section.pixel_size_um])
    assert share == pytest.approx((R_WM / (R_WM + T)) ** 2, abs=0.08)  # the white matter's area
    r = measure_roi(section, ROI, cells=False, profile_um=16.0)
    assert not r.measured
    said = _overexposed(r)
    assert len(said) == 1 and f"{share:.0%} of the slide's tissue" in said[0]
    assert any(s.startswith("Not measured: overexposed") for s in r.statements())
    assert r.to_dict()["not_measured"] == r.reasons


@pytest.mark.parametrize("exposure", [None, 1.05])
def test_clean_or_clipped_glass_alone_is_measured_without_the_note(tmp_path, exposure):
    # 1.05 x: the glass clips, the white matter (at about 0.9 of full scale) does not
    r = measure_roi(scan(tmp_path, exposure), ROI, cells=False, profile_um=16.0)
    assert r.measured, r.reasons
    assert r.thickness_mm * 1000 == pytest.approx(T, rel=0.1)
    assert not _overexposed(r)
