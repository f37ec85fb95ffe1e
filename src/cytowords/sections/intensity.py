"""Intensity normalisation of a section: its real range, not its data type's.

One :class:`Intensity` per section, estimated once from a coarse level (at most
``COARSE_MAX_PX`` px per side of the coarsest level is read) and cached in
``Section.metadata["intensity"]``:

- ``uint8``: value / 255 exactly (the bundled model was trained on 8-bit scans).
- other integer types (12-/14-bit scanners store their data in ``uint16``): the white level
  is the largest value of the smallest standard bit depth (8, 10, 12, 14, 16, then any)
  that holds the 99.99th percentile of the coarse level; value / white. A 12-bit scan
  (0–4095) whose empty slide lies anywhere above 1023 thus reads like its 8-bit twin.
  Signed integers holding negative values (an offset zero, e.g. ``value × 16 − 2048``)
  take the floating-point rule: their zero is no black level.
- floating point: values already in [0, 1] are kept; otherwise the robust range from
  ``min(0, 0.1th percentile)`` to the 99.9th percentile of the coarse level maps to [0, 1]
  (in a bright-field scan the empty slide is the brightest thing, so it reads near 1).

Results are clipped to [0, 1]. NaN and infinite values (Fiji's NaN outside the tissue) are
read as black when a section is opened (:func:`fill_not_finite`). The *background* (the empty slide's raw value, 99.5th
percentile of the coarse level) is what fields read outside the section.

A **black background** (volumes and exports that mask everything outside the tissue to
0, e.g. slices of a reconstructed brain such as BigBrain, or scans padded with black) is
read as the empty slide it stands for (:func:`fill_black_background`): pixels at most
:data:`BLACK_SHARE` of the bright level, at least :data:`BLACK_MIN_AREA` of the coarse
level, connected to its border, and far darker than the darkest tissue (whose 0.5th
percentile is at least :data:`BLACK_GAP` of the bright level, its median below 0.9 of
it and at least :data:`SLIDE_BRIGHT_TISSUE` of it), take the data's white
level, so the pia lies next to them and fields read them as glass.

A **dark slide** (fluorescent Nissl such as NeuroTrace, or a nuclear counterstain shown
alone: somata bright on a dark slide) is read inverted (:func:`judge_slide`,
:func:`invert_levels`): each value becomes ``white - value`` (``white``: the data's white
level, :func:`intensity_of`; for floating-point counts above 255, the top of their bit
depth as for integers), so the slide reads as glass and somata as dark, as in a
bright-field cell-body stain. The slide is judged on the coarse image (at least
:data:`SLIDE_MIN_PX` px per side; median-filtered over 3 px): at least :data:`SLIDE_RING`
of the image's outer border strip (2 % of its short side, at least 2 px) lies in the
darkest :data:`SLIDE_BAND` of its range (0.5th–99.5th percentile) and the strip's median
does too; the pixels within :data:`SLIDE_EVEN` of the range above that median and
connected to the border (the slide) hold at least :data:`SLIDE_RING` of the strip and
:data:`BLACK_MIN_AREA` of the image; and the rest (the tissue, at least 10 % of the image)
has its median at least :data:`SLIDE_BAND` of the range above the slide. A border that is
mostly in the brightest :data:`SLIDE_BAND` is a bright slide. A black background that
:func:`fill_black_background` fills is never judged (the section's opener fills first); a
dark slide at most :data:`BLACK_SHARE` of the bright level on which nine in ten pixels
share one value, or one whose tissue is mostly bright (its median at least
:data:`SLIDE_BRIGHT_TISSUE` of the range above the slide: a bright-field slide masked to
black, also with noise in its black), is a black mask, not a fluorescent slide. An image without a bright slide whose structure is all fine (noise:
box means over 1/32 of its short side keep less than :data:`SLIDE_STRUCTURE` of its SD)
is not judged.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import dask.array as da
import numpy as np
from scipy import ndimage as ndi

from .section import Section

#: at most this many px per side of the coarsest level are read to estimate the range
COARSE_MAX_PX = 2048
#: standard bit depths of scanners, tried in order for integer data
BIT_DEPTHS = (8, 10, 12, 14, 16)
#: a black background: raw values at most this share of the bright level (99.5th percentile)
BLACK_SHARE = 0.02
#: ... covering at least this share of the coarse level, connected to its border ...
BLACK_MIN_AREA = 0.05
#: ... and the darkest tissue (0.5th percentile of the rest) at least this share of the
#: bright level (a stained cortex transmits far more than nothing)
BLACK_GAP = 0.10
#: the slide is judged on coarse images of at least this many px per side
SLIDE_MIN_PX = 128
#: a slide's values lie in this darkest (or brightest) share of the coarse range ...
SLIDE_BAND = 0.2
#: ... along at least this share of the image's outer border strip
SLIDE_RING = 0.5
#: a dark slide is even: within this share of the coarse range above its border's median
SLIDE_EVEN = 0.05
#: an image with no bright slide is judged only where its structure is large (slide,
#: tissue, layers): box means of 1/32 of its short side keep at least this share of its SD
SLIDE_STRUCTURE = 0.25
#: a dark slide whose tissue has its median at least this share of the range above the
#: slide is a bright-field slide masked to black: bright-field tissue transmits most of the
#: light (its median near the top of the range), fluorescence is bright only where the dye
#: gathers (grey matter, somata) and dim elsewhere (0.22-0.26 on the benchmark's
#: fluorescent sections, 0.68-0.93 on masked bright-field ones)
SLIDE_BRIGHT_TISSUE = 0.5


@dataclass(frozen=True)
class Intensity:
    """Raw values ``black`` and ``white`` map to 0 and 1; ``background`` is the raw value
    of the empty slide; ``rule`` says in words how the range was found."""

    black: float
    white: float
    background: float
    rule: str

    @property
    def scale(self) -> float:
        """Factor from raw value (minus ``black``) to [0, 1]."""
        return 1.0 / (self.white - self.black)

    def _shifted(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float32)
        return raw - np.float32(self.black) if self.black else raw

    def to_unit(self, raw: np.ndarray) -> np.ndarray:
        """Raw values -> float32 in [0, 1]."""
        return np.clip(self._shifted(raw) * self.scale, 0.0, 1.0)

    def to_uint8(self, raw: np.ndarray) -> np.ndarray:
        """Raw values -> uint8 (unit value × 255, rounded half to even); exact for uint8."""
        return np.clip(np.rint(self._shifted(raw) * (255.0 * self.scale)), 0, 255).astype(np.uint8)


def bit_depth_white(sample: np.ndarray) -> tuple[int, float]:
    """``(bits, white)``: the smallest standard bit depth (:data:`BIT_DEPTHS`, then any)
    that holds the 99.99th percentile of ``sample`` (raw values), and its largest value."""
    v = np.asarray(sample, dtype=np.float32)
    v = v[np.isfinite(v)]
    hi = float(np.percentile(v, 99.99)) if v.size else 255.0
    bits = next((b for b in BIT_DEPTHS if hi <= 2**b - 1), None)
    if bits is None:
        bits = max(17, math.ceil(math.log2(hi + 1.0)))
    return bits, float(2**bits - 1)


def intensity_of(sample: np.ndarray, dtype: np.dtype) -> Intensity:
    """The intensity rule (module docstring) applied to a coarse ``sample`` of the data."""
    dt = np.dtype(dtype)
    v = np.asarray(sample, dtype=np.float32)
    bg = float(np.percentile(v, 99.5)) if v.size else 0.0
    if dt == np.uint8:
        return Intensity(0.0, 255.0, bg, "8-bit: value / 255")
    if dt == np.bool_:
        return Intensity(0.0, 1.0, bg, "binary: 0 / 1")
    lo, hi = (float(q) for q in np.percentile(v, [0.1, 99.9])) if v.size else (0.0, 1.0)
    if np.issubdtype(dt, np.integer) and lo >= 0.0:  # negatives: the robust range below
        bits, white = bit_depth_white(v)
        return Intensity(0.0, white, bg, f"{bits}-bit data in {dt}: value / {white:g}")
    if lo >= 0.0 and hi <= 1.0:
        return Intensity(0.0, 1.0, bg, f"{dt} in [0, 1]: kept")
    black = min(0.0, lo)
    white = hi if hi > black else black + 1.0
    return Intensity(
        black, white, bg, f"{dt}: robust range {black:g} .. {white:g} (0.1th–99.9th percentile)"
    )


def section_intensity(section: Section) -> Intensity:
    """The section's :class:`Intensity`, estimated once (coarsest level, at most
    ``COARSE_MAX_PX`` px per side) and cached in ``section.metadata["intensity"]``."""
    cached = section.metadata.get("intensity")
    if isinstance(cached, dict):
        try:
            return Intensity(**cached)
        except TypeError:
            pass
    small = section.levels[-1][:COARSE_MAX_PX, :COARSE_MAX_PX].compute()
    inten = intensity_of(small, section.dtype)
    section.metadata["intensity"] = asdict(inten)
    return inten


def section_background(section: Section) -> float:
    """Raw value of the empty slide (bright background of a cell-body stain)."""
    return section_intensity(section).background


def fill_not_finite(
    levels: list[da.Array], judge: da.Array | None = None
) -> tuple[list[da.Array], str | None]:
    """Floating-point levels (finest first, grey) with their NaN and infinite values (Fiji's
    NaN outside the tissue) read as black: ``min(0, 0.1th percentile)`` of the finite values
    of the coarse image ``judge`` (default: the coarsest of ``levels``; at most
    ``COARSE_MAX_PX`` px per side), so that a masked bright-field slide's black background
    is filled (:func:`fill_black_background`) and a fluorescent slide reads as dark; and a
    sentence saying so. Other levels, and levels of finite values only, unchanged, ``None``.
    Lazy: each level is mapped chunk by chunk."""
    lev = levels[-1] if judge is None else judge
    if np.dtype(lev.dtype).kind != "f":
        return levels, None
    img = np.asarray(lev[:COARSE_MAX_PX, :COARSE_MAX_PX], dtype=np.float64)
    finite = np.isfinite(img)
    if finite.all():
        return levels, None
    v = img[finite]
    black = min(0.0, float(np.percentile(v, 0.1))) if v.size else 0.0
    fill = np.asarray(black, dtype=lev.dtype)
    out = [da.where(da.isfinite(d), d, fill) for d in levels]
    return out, f"NaN ({1 - finite.mean():.0%} of the image) read as black ({black:g})"


def fill_black_background(
    levels: list[da.Array], judge: da.Array | None = None
) -> tuple[list[da.Array], str | None]:
    """Levels (finest first, grey) with a masked black background read as the empty slide
    (module docstring), and a sentence saying so; the levels unchanged and ``None`` where
    the coarse image ``judge`` (default: the coarsest of ``levels``; at most
    ``COARSE_MAX_PX`` px per side of it is read) shows none. Lazy: each level is mapped
    chunk by chunk."""
    lev = levels[-1] if judge is None else judge
    img = np.asarray(lev[:COARSE_MAX_PX, :COARSE_MAX_PX], dtype=np.float64)
    finite = np.isfinite(img)
    v = img[finite]
    if v.size < 100:
        return levels, None
    hi = float(np.percentile(v, 99.5))
    if hi <= 0:
        return levels, None
    cut = BLACK_SHARE * hi
    dark = finite & (img <= cut)
    if dark.mean() < BLACK_MIN_AREA:
        return levels, None
    lab, _ = ndi.label(dark)
    edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    edge = edge[edge > 0]
    black = np.isin(lab, edge)
    rest = img[finite & ~dark]
    if black.mean() < BLACK_MIN_AREA or rest.size < 100:
        return levels, None
    # the rest is stained tissue: far brighter than the background at its darkest, and
    # not all at the bright level (a black image with a white mark is no section); and
    # mostly bright, as bright-field tissue is (dim tissue on black is fluorescence's)
    med = float(np.median(rest))
    if float(np.percentile(rest, 0.5)) < BLACK_GAP * hi or med > 0.9 * hi:
        return levels, None
    if med < SLIDE_BRIGHT_TISSUE * hi:
        return levels, None
    dtype = np.dtype(lev.dtype)
    white = intensity_of(rest, dtype).white
    white = white if dtype.kind == "f" else float(min(white, np.iinfo(dtype).max))
    fill = np.asarray(white, dtype=dtype)
    out = [da.where(d <= cut, fill, d).astype(dtype) for d in levels]
    share = black.mean()
    return out, (
        f"black background ({share:.0%} of the slide at or below {cut:g}) read as the empty "
        f"slide (value {white:g})"
    )


def judge_slide(judge: da.Array | np.ndarray) -> str:
    """Which slide the coarse image ``judge`` shows (module docstring; at most
    ``COARSE_MAX_PX`` px per side is read): ``"bright"`` (bright-field), ``"dark"``
    (bright cells on a dark slide: fluorescence), ``"black"`` (a masked black background),
    ``"none"`` (no slide along the border: a crop inside the tissue) or ``"unjudged"``
    (an image under :data:`SLIDE_MIN_PX` px per side, of one value, or without a bright
    slide and without large structure: :data:`SLIDE_STRUCTURE`)."""
    img = np.asarray(judge[:COARSE_MAX_PX, :COARSE_MAX_PX], dtype=np.float64)
    finite = np.isfinite(img)
    if min(img.shape) < SLIDE_MIN_PX or finite.sum() < 100:
        return "unjudged"
    v = img[finite]
    lo, hi = float(np.percentile(v, 0.5)), float(np.percentile(v, 99.5))
    span = hi - lo
    if span <= 0:
        return "unjudged"
    sm = ndi.median_filter(np.where(finite, img, lo), size=3)
    w = max(2, round(0.02 * min(img.shape)))
    ring = np.zeros(img.shape, dtype=bool)
    ring[:w] = ring[-w:] = True
    ring[:, :w] = ring[:, -w:] = True
    if (sm[ring] >= hi - SLIDE_BAND * span).mean() >= SLIDE_RING:
        return "bright"
    box = max(3, min(img.shape) // 32)
    if np.std(ndi.uniform_filter(sm, box)) < SLIDE_STRUCTURE * np.std(sm):
        return "unjudged"  # no tissue, no slide at this scale: noise
    b = float(np.median(sm[ring]))
    if b > lo + SLIDE_BAND * span:
        return "none"
    near = sm <= b + SLIDE_EVEN * span
    lab, _ = ndi.label(near)
    edge = np.unique(lab[ring])
    slide = np.isin(lab, edge[edge > 0]) & finite
    tissue = finite & ~near
    if (
        slide[ring].mean() < SLIDE_RING
        or slide.mean() < BLACK_MIN_AREA
        or tissue.mean() < 0.1
        or float(np.median(img[tissue])) < b + SLIDE_BAND * span
    ):
        return "none"
    s = img[slide]
    _, counts = np.unique(s, return_counts=True)
    if counts.max() >= 0.9 * s.size and float(np.median(s)) <= BLACK_SHARE * hi:
        return "black"
    if float(np.median(img[tissue])) >= b + SLIDE_BRIGHT_TISSUE * span:
        return "black"  # most of the tissue near the top of the range: bright field, masked
    return "dark"


def invert_levels(
    levels: list[da.Array], judge: da.Array | None = None
) -> tuple[list[da.Array], float]:
    """Levels (finest first, grey) read inverted, ``top - value`` clipped to the data's
    range, and ``top``: the white level (:func:`intensity_of`) of the coarse image
    ``judge`` (default: the coarsest of ``levels``; at most ``COARSE_MAX_PX`` px per side);
    for floating-point data outside [0, 1] ``black + white``, with ``white`` the integer
    data's (:func:`bit_depth_white`) when they are a camera's counts (:func:`_counts`).
    The data type is kept. Lazy: each level is mapped chunk by chunk."""
    lev = levels[-1] if judge is None else judge
    dtype = np.dtype(lev.dtype)
    sample = np.asarray(lev[:COARSE_MAX_PX, :COARSE_MAX_PX])
    inten = intensity_of(sample, dtype)
    white = inten.white if dtype.kind in "fb" else float(min(inten.white, np.iinfo(dtype).max))
    if dtype.kind == "f" and _counts(sample):
        white = bit_depth_white(sample)[1]
    top = inten.black + white
    out = [da.clip(top - d.astype(np.float64), inten.black, white).astype(dtype) for d in levels]
    return out, top


def _counts(sample: np.ndarray) -> bool:
    """Whether floating-point data outside [0, 1] hold a camera's counts beyond 8 bits
    (Fiji's 32-bit image of a 10- to 16-bit scan, also after its background was
    subtracted): a 99.99th percentile above 255."""
    v = np.asarray(sample, dtype=np.float32)
    v = v[np.isfinite(v)]
    return bool(v.size) and float(np.percentile(v, 99.99)) > 255.0
