"""A masked export (the background outside the tissue set to the data's white, as QuPath's
or Fiji's "clear outside" leaves it) makes the glass a plateau at the top of the range, and
every hole inside the tissue (a ventricle, the glass in a sulcus) reads at it: those holes
are no clipped tissue (:func:`cytowords.measure.slide.clipped_tissue` leaves out a plateau
whose edge is a step to the tissue), so a well-exposed scan is measured as the unmasked
one; an exposure too long (the white matter clipped with the glass, masked or not) is still
said. Brain 203 of ``cytowords.synth`` at 32 µm/px, masked along the generator's own
tissue with a ventricle-like hole cut into its white matter, written as labs write their
files (an ImageJ TIFF, a 12-bit OME-Zarr, a 16-bit TIFF)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from cytowords.measure import measure_roi
from cytowords.measure.readout import CLIPPED_TISSUE_MAX
from cytowords.measure.slide import clipped_glass, clipped_tissue, slide_reference
from cytowords.sections import open_section
from cytowords.sections.write import write_section
from cytowords.synth import section_geometry, squares_across_ribbon, virtual_section

SEED = 203  # a test brain
PX = 32.0  # µm/px
#: the ventricle-like hole, a share of the tissue's area
VENTRICLE = 0.25


@pytest.fixture(scope="module")
def brain() -> dict:
    """The section's light (0-1, uint8 / 255), its tissue (the generator's, depth >= 0)
    less a ventricle-like ellipse cut into the white matter, and three squares across the
    ribbon."""
    img = np.asarray(virtual_section(SEED, pixel_size_um=PX).levels[0].compute())
    h, w = img.shape
    yy, xx = np.mgrid[0:h, 0:w]
    geom = section_geometry(SEED)
    depth = np.asarray(geom.query((xx.ravel() + 0.5) * PX, (yy.ravel() + 0.5) * PX)["depth"])
    depth = depth.reshape(h, w)
    tissue, wm = depth >= 0, depth > 1
    d = ndi.distance_transform_edt(wm)
    cy, cx = np.unravel_index(np.argmax(d), d.shape)
    area = VENTRICLE * tissue.sum()
    a = np.sqrt(3 * area / np.pi)  # an ellipse 3 times as wide as high
    hole = wm & (((xx - cx) / a) ** 2 + ((yy - cy) * 3 / a) ** 2 <= 1)
    rois = [v for v, _ in squares_across_ribbon(geom, 3, 3000.0, np.random.default_rng(0))]
    return {"t": img / 255.0, "tissue": tissue & ~hole, "hole": hole, "rois": rois}


def _imagej(path: Path, data: np.ndarray) -> Path:
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / PX, 1 / PX), metadata={"unit": "um"})
    return path


def _file(tmp: Path, brain: dict, kind: str, exposure: float = 1.0, masked: bool = True):
    """The scan as a lab's file: ``kind`` ``u8`` (ImageJ TIFF), ``12-bit`` (uint16
    OME-Zarr), ``16-bit`` (ImageJ TIFF); ``exposure`` times the light that brings the glass
    to full scale (clipped above it; 1.0: the scan as it is); ``masked``: everything outside
    the tissue (the ventricle too) at the data's white."""
    t = brain["t"]
    if exposure != 1.0:
        t = t * exposure / np.percentile(t, 99.5)
    top = {"u8": 255, "12-bit": 4095, "16-bit": 65535}[kind]
    data = np.clip(np.rint(t * top), 0, top)
    if masked:
        data = np.where(brain["tissue"], data, top)
    data = data.astype(np.uint8 if kind == "u8" else np.uint16)
    tag = f"{kind}-{exposure}-{masked}"
    if kind == "12-bit":
        return open_section(write_section(tmp / f"{tag}.ome.zarr", data, pixel_size_um=PX))
    return open_section(_imagej(tmp / f"{tag}.tif", data))


def _share(section) -> float:
    return clipped_tissue(section.levels, [float(s) for s in section.pixel_size_um])


def _overexposed(r) -> list[str]:
    return [x for x in r.reasons if x.startswith("overexposed")]


@pytest.mark.parametrize("kind", ["u8", "12-bit", "16-bit"])
def test_masked_export_with_a_ventricle_is_not_overexposed(tmp_path, brain, kind):
    section = _file(tmp_path, brain, kind)
    glass = slide_reference(section.levels)[0]
    assert clipped_glass(section.levels, glass)  # the mask makes the glass a plateau
    # the ventricle alone is a quarter of the tissue's outline (and was taken for clipped
    # white matter); the glass in the sulci adds to it
    hole = brain["hole"].sum() / (brain["tissue"] | brain["hole"]).sum()
    assert hole > CLIPPED_TISSUE_MAX
    assert _share(section) < 0.05


def test_masked_export_measures_as_the_unmasked_scan(tmp_path, brain):
    plain = _file(tmp_path, brain, "u8", masked=False)
    masked = _file(tmp_path, brain, "u8")
    n = 0
    for v in brain["rois"]:
        a = measure_roi(plain, v, cells=False, profile_um=PX)
        b = measure_roi(masked, v, cells=False, profile_um=PX)
        assert not _overexposed(b)
        assert b.measured == a.measured, (a.reasons, b.reasons)
        if a.measured:
            n += 1
            assert b.thickness_mm == pytest.approx(a.thickness_mm, rel=0.05)
    assert n >= 2


@pytest.mark.parametrize("masked", [False, True])
def test_overexposed_scan_is_still_said(tmp_path, brain, masked):
    # 1.3 x: the white matter clips with the glass (the ventricle inside it merges with it)
    section = _file(tmp_path, brain, "u8", exposure=1.3, masked=masked)
    share = _share(section)
    assert share >= CLIPPED_TISSUE_MAX + 0.1
    r = measure_roi(section, brain["rois"][0], cells=False, profile_um=PX)
    assert not r.measured and len(_overexposed(r)) == 1
    assert f"{share:.0%} of the slide's tissue" in _overexposed(r)[0]
