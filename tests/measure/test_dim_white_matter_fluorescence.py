"""Fluorescent Nissl whose dim white matter is about half the tissue, read inverted: the
white matter lies far under a quarter of the slide's typical tissue OD (raised by the
bright somata, near-black once inverted), so the tissue line is taken from the tissue's
own pale end above the dark slide (:func:`cytowords.measure.slide.tissue_line`). And white
matter found in a window far denser than the slide's own is not read
(:func:`cytowords.measure.ribbon._unlike_slide_wm`). Hand-made gyrus (tests/support/gyrus.py)
with a thinner cortex and pale white matter, and its fluorescent twin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cytowords.measure import ribbon as rb
from cytowords.measure.slide import slide_matter, slide_reference
from cytowords.sections import open_section
from cytowords.sections.write import write_section
from tests.support.gyrus import PX, XC, YS, H, R, gyrus_image

#: cortex 1.5 mm thick over a white matter 5 mm wide: the white matter about half the tissue
T = 1500.0
#: the white matter's OD in bright field (the gyrus's own: 0.25)
WM_OD = 0.18


def _dim_wm_gyrus() -> np.ndarray:
    """:func:`gyrus_image` with a 1.5 mm cortex and its white matter at :data:`WM_OD`, on a
    slide 1.5 mm taller (glass under the finger's cut end)."""
    img = gyrus_image(thickness=T)
    yy, xx = (np.mgrid[0 : img.shape[0], 0 : img.shape[1]] + 0.5) * PX
    ds = np.where(yy < YS, np.hypot(yy - YS, xx - XC), np.abs(xx - XC))
    wm = (R - ds) / T > 1
    rng = np.random.default_rng(1)
    od = WM_OD * np.exp(rng.normal(0, 0.15, img.shape))
    dim = 240.0 * np.exp(-od) + rng.normal(0, 2, img.shape)
    out = np.where(wm, np.clip(dim, 1, 255), img)
    # the finger cut off 1.5 mm above the slide's edge (glass below it): the white matter
    # does not run out of the image, as on a section, not a crop
    pad = int(1500 / PX)
    glass = np.clip(240.0 + rng.normal(0, 2, (pad, img.shape[1])), 1, 255)
    return np.concatenate([out, glass]).astype(np.uint8)


#: the tissue's autofluorescence, a share of the grey matter's dye signal (white matter:
#: myelin and lipofuscin glow faintly; test_dark_field's twin: 0.04)
AUTOFLUORESCENCE = 0.1


def fluorescence_twin(img: np.ndarray, seed: int = 0, offset: float = 100.0) -> np.ndarray:
    """tests/sections/test_dark_field.py's fluorescent twin of the bright-field ``img``
    (dye signal ~ OD^1.3, camera ``offset`` with shot and read noise, 12-bit data in
    uint16), with :data:`AUTOFLUORESCENCE` and even excitation (that twin's light falling
    to 0.75 at the left edge makes the dim white matter, taken for the glass by
    :func:`cytowords.measure.illumination.slide_field`, read as uneven light)."""
    rng = np.random.default_rng(seed)
    od = np.maximum(-np.log(np.maximum(img.astype(np.float64) / 240.0, 1e-3)), 0.0)
    tissue = od > 0.05
    sig = (od / np.median(od[tissue])) ** 1.3 + AUTOFLUORESCENCE * tissue
    e = sig * 3000.0 / np.percentile(sig[tissue], 99.9)
    dn = rng.poisson(e) + offset + rng.normal(0, 5, img.shape)
    return np.clip(np.rint(dn), 0, 4095).astype(np.uint16)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("dim_wm")
    img = _dim_wm_gyrus()
    return {
        "bright": write_section(tmp / "bright.ome.zarr", img, pixel_size_um=PX),
        "fluor": write_section(tmp / "fluor.ome.zarr", fluorescence_twin(img), pixel_size_um=PX),
    }


def _drawn_white_matter(shape: tuple[int, int]) -> np.ndarray:
    """The white matter as drawn (:func:`_dim_wm_gyrus`), on its pixel grid."""
    yy, xx = (np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5) * PX
    ds = np.where(yy < YS, np.hypot(yy - YS, xx - XC), np.abs(xx - XC))
    return ((R - ds) / T > 1) & (yy < H)


def _segmented(path: Path, inverted: bool, line: bool) -> rb.Ribbon:
    """The whole slide segmented as the readout segments a window (the slide's reference,
    its white and grey matter, and its tissue line where ``line``; the default quarter
    line otherwise, as before)."""
    from cytowords.measure.slide import tissue_line

    s = open_section(path, dark_field=inverted)
    ref = slide_reference(s.levels)
    assert ref is not None
    matter = slide_matter(s.levels, s.pixel_size_um, ref, inverted=inverted)
    img = np.asarray(s.levels[0], dtype=np.float64)
    cut = tissue_line(s.levels, ref, inverted) if line else None
    return rb.segment(img, PX, ref, matter=matter, tissue_line=cut, inverted=inverted)


def test_dim_white_matter_of_an_inverted_fluorescent_slide_is_found(files) -> None:
    """Fails before (the default quarter line): the inverted twin's white matter (OD ~0.06
    against a typical tissue OD ~0.37, raised by the somata) lies under the line, is no
    tissue and no white matter is found. With the inverted slide's own line it is found
    where it is drawn, as on the bright-field twin."""
    drawn = _drawn_white_matter(np.asarray(open_section(files["bright"]).levels[0]).shape)
    bright = _segmented(files["bright"], False, True)
    old = _segmented(files["fluor"], True, False)
    new = _segmented(files["fluor"], True, True)

    def overlap(wm: np.ndarray) -> float:
        return float((wm & drawn).sum() / (wm | drawn).sum())

    assert overlap(bright.wm) > 0.8
    assert (old.tissue & drawn).sum() < 0.5 * drawn.sum()  # before: not even tissue
    assert overlap(old.wm) < 0.5
    assert (new.tissue & drawn).sum() > 0.95 * drawn.sum()
    assert overlap(new.wm) > 0.8


def test_the_inverted_line_lies_under_the_dim_white_matter_and_bright_field_keeps_its_own(
    files,
) -> None:
    from cytowords.measure.slide import tissue_line

    for name, inverted in (("bright", False), ("fluor", True)):
        s = open_section(files[name], dark_field=inverted)
        ref = slide_reference(s.levels)
        assert ref is not None
        line = tissue_line(s.levels, ref, inverted)
        wm, grey = slide_matter(s.levels, s.pixel_size_um, ref, inverted=inverted)
        if inverted:
            assert line < 0.25 * ref[1]  # lowered under the quarter line ...
            assert line < 0.75 * wm  # ... under the slide's white matter
        else:
            assert line == 0.25 * ref[1]  # bright field: unchanged


def test_white_matter_far_denser_than_the_slide_s_is_not_read_on_an_inverted_slide(
    files,
) -> None:
    """Fails before (the window's white matter was read whatever the slide's own): on a
    slide read inverted, a window whose white matter is 3x as dense as the slide's white
    matter is left unread, with the reason; one like it is read; bright field keeps its
    own tests (the same window read as before)."""
    s = open_section(files["bright"])
    ref = slide_reference(s.levels)
    img = np.asarray(s.levels[0], dtype=np.float64)[int(YS / PX) :, int(XC / PX) :]
    far = (WM_OD / 3, 0.6)
    rib = rb.segment(img, PX, ref, matter=far, inverted=True)
    assert not rib.wm.any()
    assert any("as dense as the slide's own white matter" in r for r in rib.reasons), rib.reasons
    ok = rb.segment(img, PX, ref, matter=(WM_OD, 0.6), inverted=True)
    assert ok.wm.any() and not any("slide's own white matter" in r for r in ok.reasons)
    bright = rb.segment(img, PX, ref, matter=far)
    assert np.array_equal(bright.wm, ok.wm) and bright.reasons == ok.reasons


def test_the_twin_is_judged_fluorescent_by_itself(files) -> None:
    """Fails before: with the dim white matter half the tissue, the tissue's median lies in
    that white matter, under a fifth of the range above the dark slide, so the twin was
    judged to show no slide and opened as stored."""
    from cytowords.slide_reading import INVERTED_KEY

    fluor = open_section(files["fluor"])
    assert fluor.metadata.get(INVERTED_KEY), fluor.metadata.get("slide")
    assert not open_section(files["bright"]).metadata.get(INVERTED_KEY)
