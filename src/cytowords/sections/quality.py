"""Is a field good enough to read? Cheap, model-free image-quality measures per field, and
the warning for a section coarser than the model reads.

The model answers on any field, also on an out-of-focus or JPEG-compressed one, and there
it is wrong far more often while being just as sure (docs/benchmarks.md, field quality).
These measures let such fields abstain instead. All work on fields as the model sees them:
``(M, n, n)`` float patches in [0, 1] at the model's pixel size (µm/px), and none depends
on the stain's intensity or contrast (each is a ratio of two quantities that scale alike):

- **focus**: high-frequency energy (the field minus a Gaussian blur of σ 0.7 px) relative
  to mid-frequency energy (σ 0.7 px minus σ 3 px blur), over the tissue pixels. Cortex at
  the model's resolution always carries fine texture (cells, vessels, dust of grain) on top
  of its laminar bands; defocus removes the fine part first.
- **blockiness**: JPEG's 8 × 8 blocks leave steps at every 8th pixel boundary. Each
  boundary's mean absolute step is compared with its two neighbours'; the median of that
  ratio over every 8th boundary (the strongest of the 8 phases, rows and columns apart)
  is ~1 for an uncompressed field whatever its alignment, and well above 1 for a JPEG'd
  one.
- **clipped**: share of the tissue pixels at either end of the range (0 or 1): intensity
  information lost to over-exposure or a crushed dark end.
- **tissue**: share of pixels darker than the section's tissue threshold (the threshold
  of :func:`cytowords.sections.tissue_mask`).

Thresholds (:data:`DEFAULT_THRESHOLDS`) were set on fields of the default model's
*training* brains (``python benchmarks/field_quality.py --calibrate``): the focus limit is
half the 1st percentile of clean fields, the blockiness limit twice the 99th percentile's
excess over 1. They flag no clean field of those brains and almost every field blurred by
σ ≥ 1.5 px or stored as JPEG at quality ≤ 50. They are calibrated on the synthetic
generator: on real scans whose fields are smoother at the model's resolution they may flag
too much; ``thresholds`` is a parameter everywhere for that reason. A whole-slide scan's
JPEG level stored at the model's pixel size (smooth, averaged from a finer level) would be
flagged from quality 80 down; the field reader therefore reads such levels only
downsampled 4 × or more, where a finer level is stored (``Section.read_window``'s
``model_view``; ``benchmarks/jpeg_levels.py``).
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from .section import Section
from .tissue import NoTissueError, tissue_mask

#: why a field abstains, in the words shown to the user (``"tissue"`` is not a quality
#: fault of the image: such fields are background and do not count as flagged)
REASONS = {
    "focus": "out of focus",
    "compression": "with JPEG compression artefacts",
    "clipped": "with clipped (saturated) intensities",
    "tissue": "mostly background",
}
#: the reasons that count as a fault of the image (a ROI mostly flagged is rejected)
IMAGE_FAULTS = ("focus", "compression", "clipped")


@dataclass(frozen=True)
class QualityThresholds:
    """Limits beyond which a field abstains.

    Attributes:
        min_focus: focus ratio below which a field is out of focus (high- over
            mid-frequency energy, unitless).
        max_blockiness: blockiness above which a field shows JPEG blocks (ratio, 1 = none).
        max_clipped: share of tissue pixels at 0 or 1 above which a field is saturated.
        min_tissue: share of tissue pixels below which a field is background.
    """

    min_focus: float = 0.24
    max_blockiness: float = 1.24
    max_clipped: float = 0.2
    min_tissue: float = 0.25


DEFAULT_THRESHOLDS = QualityThresholds()
#: tissue pixels with fewer than this share of the field are too few to judge focus on
_MIN_FOCUS_SUPPORT = 0.1
#: fields narrower than this (px) have too few boundaries per 8-pixel phase (under 6) for
#: a robust median: their blockiness is not judged (NaN)
_MIN_GRID_PX = 48


def _as_fields(patches: np.ndarray) -> np.ndarray:
    x = np.asarray(patches, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"expected (M, n, n) fields, got shape {x.shape}")
    return x


def tissue_pixels(patches: np.ndarray, threshold: float | None) -> np.ndarray:
    """``(M, n, n)`` bool: pixels darker than ``threshold`` (all pixels when None)."""
    x = _as_fields(patches)
    if threshold is None:
        return np.ones(x.shape, dtype=bool)
    return x < float(threshold)


def focus(patches: np.ndarray, tissue: np.ndarray | None = None) -> np.ndarray:
    """``(M,)`` focus ratio: RMS of the band below 0.7 px over RMS of the 0.7–3 px band,
    over pixels whose 3 px neighbourhood is tissue (NaN where too few are)."""
    x = _as_fields(patches)
    g1 = gaussian_filter(x, (0, 0.7, 0.7), mode="reflect")
    g3 = gaussian_filter(x, (0, 3.0, 3.0), mode="reflect")
    hi, mid = x - g1, g1 - g3
    w = np.ones(x.shape, dtype=bool) if tissue is None else tissue
    # away from the tissue's edge (a pial edge is mid-frequency energy, not defocus)
    w = gaussian_filter(w.astype(np.float32), (0, 3.0, 3.0), mode="reflect") > 0.98
    w[:, :3] = w[:, -3:] = False
    w[:, :, :3] = w[:, :, -3:] = False
    n = w.sum(axis=(1, 2))
    out = np.full(len(x), np.nan, dtype=np.float64)
    ok = n >= _MIN_FOCUS_SUPPORT * x.shape[1] * x.shape[2]
    if ok.any():
        e_hi = np.where(w, hi * hi, 0).sum(axis=(1, 2))
        e_mid = np.where(w, mid * mid, 0).sum(axis=(1, 2))
        ratio = np.sqrt(e_hi / np.maximum(e_mid, 1e-12))
        out[ok] = ratio[ok]
    return out


def _grid_score(x: np.ndarray, axis: int) -> np.ndarray:
    """``(M,)`` strength of a period-8 grid of steps along ``axis`` (2: between columns,
    1: between rows): per boundary, its mean absolute step over the mean of its two
    neighbours'; per phase (index modulo 8), the median over its boundaries; the
    strongest phase."""
    steps = np.abs(np.diff(x, axis=axis)).mean(axis=1 if axis == 2 else 2)  # (M, n - 1)
    ratio = steps[:, 1:-1] / np.maximum(0.5 * (steps[:, :-2] + steps[:, 2:]), 1e-12)
    phase = np.arange(1, steps.shape[1] - 1) % 8
    return np.stack([np.median(ratio[:, phase == k], axis=1) for k in range(8)], axis=1).max(1)


def blockiness(patches: np.ndarray) -> np.ndarray:
    """``(M,)`` JPEG block-grid strength: geometric mean over columns and rows of the
    strongest 8-pixel phase's median step ratio (about 1 without a grid; the grid's
    alignment with the field does not matter, and one straight edge, e.g. the section's
    border, moves only one boundary of its phase, not the median). NaN for fields under
    48 px."""
    x = _as_fields(patches)
    if min(x.shape[1:]) < _MIN_GRID_PX:
        return np.full(len(x), np.nan)
    return np.sqrt(_grid_score(x, 2) * _grid_score(x, 1))


def clipped(patches: np.ndarray, tissue: np.ndarray | None = None) -> np.ndarray:
    """``(M,)`` share of tissue pixels at 0 or 1 (within half a grey level of 8 bits)."""
    x = _as_fields(patches)
    at_end = (x <= 0.5 / 255) | (x >= 1 - 0.5 / 255)
    w = np.ones(x.shape, dtype=bool) if tissue is None else tissue
    return (at_end & w).sum(axis=(1, 2)) / np.maximum(w.sum(axis=(1, 2)), 1)


@dataclass
class FieldQuality:
    """Quality of ``M`` fields: the four measures and why each field abstains.

    Attributes:
        focus, blockiness, clipped, tissue: ``(M,)`` measures (module docstring).
        reasons: per field the key of :data:`REASONS` that made it abstain, or None.
    """

    focus: np.ndarray
    blockiness: np.ndarray
    clipped: np.ndarray
    tissue: np.ndarray
    reasons: list[str | None]

    @property
    def flagged(self) -> np.ndarray:
        """``(M,)`` bool: fields with a fault of the image (:data:`IMAGE_FAULTS`)."""
        return np.array([r in IMAGE_FAULTS for r in self.reasons], dtype=bool)

    @property
    def usable(self) -> np.ndarray:
        """``(M,)`` bool: fields that may vote (no fault, enough tissue)."""
        return np.array([r is None for r in self.reasons], dtype=bool)

    def counts(self) -> dict[str, int]:
        """Fields per reason (only reasons that occur), image faults first."""
        c = Counter(r for r in self.reasons if r is not None)
        return {k: c[k] for k in REASONS if c[k]}


def assess_fields(
    patches: np.ndarray,
    tissue_threshold: float | None = None,
    thresholds: QualityThresholds = DEFAULT_THRESHOLDS,
) -> FieldQuality:
    """Measure ``(M, n, n)`` fields in [0, 1] and decide which abstain.

    ``tissue_threshold``: intensity in [0, 1] below which a pixel is tissue (the section's
    tissue-mask threshold); None: every pixel counts as tissue. A field with too little tissue is
    background (reason ``"tissue"``) and its image is not judged; otherwise the first
    fault found of focus, compression, clipping is its reason.
    """
    x = _as_fields(patches)
    tis = tissue_pixels(x, tissue_threshold)
    share = tis.mean(axis=(1, 2)) if len(x) else np.zeros(0)
    return _verdicts(focus(x, tis), blockiness(x), clipped(x, tis), share, thresholds)


def _verdicts(
    f: np.ndarray, b: np.ndarray, c: np.ndarray, share: np.ndarray, t: QualityThresholds
) -> FieldQuality:
    """The rule: too little tissue is background; otherwise the first fault found of
    compression, focus, clipping is the field's reason (NaN measures are not faults)."""
    reasons: list[str | None] = []
    for i in range(len(share)):
        if share[i] < t.min_tissue:
            reasons.append("tissue")
        elif b[i] > t.max_blockiness:  # NaN (too small to judge) is not flagged
            reasons.append("compression")
        elif f[i] < t.min_focus:  # NaN (too little tissue to judge) is not flagged
            reasons.append("focus")
        elif c[i] > t.max_clipped:
            reasons.append("clipped")
        else:
            reasons.append(None)
    return FieldQuality(f, b, c, share, reasons)


# --- the same measures computed densely over a block ------------------------------------
#: fields per chunk of the dense blockiness (bounds its ``(chunk, field_px)`` temporaries)
_DENSE_CHUNK = 8192


def _integral(values: np.ndarray) -> np.ndarray:
    """``(H + 1, W + 1)`` summed-area table (int64 for bool/int input, else float64)."""
    dt = np.int64 if values.dtype.kind in "bui" else np.float64
    ii = np.zeros((values.shape[0] + 1, values.shape[1] + 1), dtype=dt)
    np.cumsum(np.cumsum(values, axis=0, dtype=dt), axis=1, out=ii[1:, 1:])
    return ii


def _box(ii: np.ndarray, y0: np.ndarray, x0: np.ndarray, h: int, w: int) -> np.ndarray:
    """Sums over the ``h × w`` boxes with top-left corners ``(y0, x0)`` from a
    summed-area table."""
    return ii[y0 + h, x0 + w] - ii[y0, x0 + w] - ii[y0 + h, x0] + ii[y0, x0]


def _dense_grid_score(image: np.ndarray, y0: np.ndarray, x0: np.ndarray, n: int) -> np.ndarray:
    """``(M,)`` :func:`_grid_score` along the columns (axis 2) of the ``n`` px fields at
    ``(y0, x0)``: a field's mean step at a column boundary is a column sum over the field's
    rows, the same for every field of those rows (one cumulative sum over the block), and
    its ratio to the two neighbouring boundaries' is then the same for every field that
    holds all three; only the median over the field's boundaries is taken per field."""
    steps = np.abs(np.diff(image, axis=1))  # (H, W - 1)
    cum = np.zeros((steps.shape[0] + 1, steps.shape[1]), dtype=np.float64)
    np.cumsum(steps, axis=0, dtype=np.float64, out=cum[1:])
    rows, which = np.unique(y0, return_inverse=True)
    s = (cum[rows + n] - cum[rows]) / n  # (R, W - 1) mean step per boundary, per row band
    ratio = s[:, 1:-1] / np.maximum(0.5 * (s[:, :-2] + s[:, 2:]), 1e-12)  # boundary j + 1
    k = np.arange(n - 3)  # a field's boundaries 1 .. n - 3 are ratio columns x0 .. x0 + n - 4
    phase = (k + 1) % 8
    out = np.empty(len(y0), dtype=np.float64)
    for a in range(0, len(y0), _DENSE_CHUNK):
        r = ratio[which.ravel()[a : a + _DENSE_CHUNK, None], x0[a : a + _DENSE_CHUNK, None] + k]
        out[a : a + len(r)] = np.stack(
            [np.median(r[:, phase == p], axis=1) for p in range(8)], axis=1
        ).max(1)
    return out


#: reach (px) of the σ 3 px Gaussian of :func:`focus` (scipy: ``int(4 σ + 0.5)``) and the
#: margin (px) of the focus support inside a field
_R3, _EDGE = 12, 3


def _g3(a: np.ndarray, axis: int) -> np.ndarray:
    return gaussian_filter1d(a, 3.0, axis=axis, mode="reflect")


def _focus_terms(
    g3: np.ndarray, g3_tissue: np.ndarray, g1: np.ndarray, hi2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel, as :func:`focus`: in the support (bool), its high- and mid-band energy."""
    w = g3_tissue > 0.98
    mid = g1 - g3
    return w, np.where(w, hi2, 0), np.where(w, mid * mid, 0)


def _mirrored(a: np.ndarray, axis: int, keep: slice) -> np.ndarray:
    """The σ 3 px blur along ``axis`` of ``a`` (``2r`` px long there), mirrored at both
    ends, at the positions ``keep``; as a matrix product in float64 (scipy sums in float64
    too; ``a`` gathered from a float64 copy spares converting the gathered pieces) rounded
    to float32 like scipy's output (einsum: no BLAS threads inside a map's worker threads)."""
    m = gaussian_filter1d(np.eye(2 * _R3), 3.0, axis=0, mode="reflect")[keep]  # (k, 2r)
    out = np.einsum("...j,kj->...k", np.moveaxis(a, axis, -1).astype(np.float64, copy=False), m)
    return np.moveaxis(out, -1, axis).astype(np.float32)


def _dense_focus(
    img: np.ndarray, tis: np.ndarray, y0: np.ndarray, x0: np.ndarray, n: int
) -> np.ndarray:
    """``(M,)`` :func:`focus` of the ``n`` px fields at ``(y0, x0)`` of the block ``img``.

    :func:`focus` filters each field on its own, mirrored at its edges (scipy's
    ``reflect``). Its support starts 3 px in, beyond the σ 0.7 px blur's reach, so that
    blur is the block's. The σ 3 px blurs (of the image and of the tissue mask) reach
    12 px, so a field's support splits in nine: the interior (12 px in) sees the block's
    blur; the top and bottom strips depend on the field's first row only (the column pass
    mirrored at the field's top or bottom, then the block's row pass), the left and right
    strips on its first column only (the block's column pass, the row pass mirrored), and
    the four 9 × 9 px corners on both (computed for every first row and first column
    present, then picked). Each piece is filtered as :func:`focus` filters it (same passes
    in the same order, float64 sums, float32 values), so every pixel's energies equal the
    per-field ones; the strips are summed with cumulative sums, the interior with a
    summed-area table."""
    r, b = _R3, _EDGE
    tis_f = tis.astype(np.float32)
    g1 = gaussian_filter(img, 0.7, mode="reflect")  # the block's = the field's on the support
    hi2 = (img - g1) ** 2
    v_img, v_tis = _g3(img, 0), _g3(tis_f, 0)  # the column pass away from a field's top/bottom
    img64, tis64 = img.astype(np.float64), tis_f.astype(np.float64)  # what _mirrored reads
    v_img64, v_tis64 = v_img.astype(np.float64), v_tis.astype(np.float64)
    out = np.zeros((3, len(y0)), dtype=np.float64)  # support pixels, high, mid energy
    terms = _focus_terms(_g3(v_img, 1), _g3(v_tis, 1), g1, hi2)  # interior: the block's blur
    for q, t in enumerate(terms):
        out[q] += _box(_integral(t), y0 + r, x0 + r, n - 2 * r, n - 2 * r)
    tops, t_of = np.unique(y0, return_inverse=True)
    lefts, l_of = np.unique(x0, return_inverse=True)
    t_of, l_of = t_of.ravel(), l_of.ravel()
    j = np.arange(2 * r)
    # (offset of the 2r px beside the edge, the kept 9 px in them, offset of those 9 px)
    edges = ((0, slice(b, r), b), (n - 2 * r, slice(r, 2 * r - b), n - r))
    # top and bottom strips: column pass mirrored at the field's edge, the block's row pass
    strips = []
    for start, keep, off in edges:
        k = tops[:, None] + start + j  # (T, 2r) block rows
        vi, vt = _mirrored(img64[k], 1, keep), _mirrored(tis64[k], 1, keep)  # (T, 9, W)
        strips.append((vi, vt, off))
        rk = tops[:, None] + off + np.arange(r - b)
        for q, t in enumerate(_focus_terms(_g3(vi, 2), _g3(vt, 2), g1[rk], hi2[rk])):
            c = np.zeros((len(tops), t.shape[2] + 1), dtype=np.float64)
            np.cumsum(t.sum(axis=1, dtype=np.float64), axis=1, out=c[:, 1:])
            out[q] += c[t_of, x0 + n - r] - c[t_of, x0 + r]
    # left and right strips: the block's column pass, row pass mirrored at the field's edge
    for start, keep, off in edges:
        k = lefts[:, None] + start + j  # (L, 2r) block columns
        ck = lefts[:, None] + off + np.arange(r - b)
        gi, gt = _mirrored(v_img64[:, k], 2, keep), _mirrored(v_tis64[:, k], 2, keep)  # (H, L, 9)
        for q, t in enumerate(_focus_terms(gi, gt, g1[:, ck], hi2[:, ck])):
            c = np.zeros((t.shape[0] + 1, len(lefts)), dtype=np.float64)
            np.cumsum(t.sum(axis=2, dtype=np.float64), axis=0, out=c[1:])
            out[q] += c[y0 + n - r, l_of] - c[y0 + r, l_of]
    # corners: a strip's mirrored column pass, then the row pass mirrored, for every
    # (first row, first column) pair present: (T, 9, L, 9)
    for vi, vt, row_off in strips:
        vi64, vt64 = vi.astype(np.float64), vt.astype(np.float64)
        rk = (tops[:, None] + row_off + np.arange(r - b))[:, :, None, None]
        for start, keep, off in edges:
            k = lefts[:, None] + start + j  # (L, 2r)
            gi, gt = _mirrored(vi64[:, :, k], 3, keep), _mirrored(vt64[:, :, k], 3, keep)
            ck = (lefts[:, None] + off + np.arange(r - b))[None, None]
            for q, t in enumerate(_focus_terms(gi, gt, g1[rk, ck], hi2[rk, ck])):
                out[q] += t.sum(axis=(1, 3), dtype=np.float64)[t_of, l_of]
    f = np.full(len(y0), np.nan, dtype=np.float64)
    ok = out[0] >= _MIN_FOCUS_SUPPORT * n * n
    f[ok] = np.sqrt(out[1, ok] / np.maximum(out[2, ok], 1e-12))
    return f


def assess_block(
    image: np.ndarray,
    corners_px: np.ndarray,
    field_px: int,
    tissue_threshold: float | None = None,
    thresholds: QualityThresholds = DEFAULT_THRESHOLDS,
) -> FieldQuality:
    """:func:`assess_fields` of the fields ``image[y:y + n, x:x + n]`` (``n = field_px``)
    for each corner ``(y, x)`` of ``corners_px`` ``(M, 2)`` (px), computed over the block
    ``image`` ``(H, W)`` in [0, 1] once instead of field by field: the same rule and
    thresholds, the measures from per-pixel maps of the block summed over each field's
    box (summed-area tables).

    Every measure equals the per-field one up to float rounding of the sums (float64
    here, float32 there); the per-pixel values are the same: see :func:`_dense_focus` for
    the fields' mirrored edges. ``python benchmarks/dense_quality.py`` compares the two.
    """
    img = np.asarray(image, dtype=np.float32)
    pos = np.asarray(corners_px, dtype=np.int64).reshape(-1, 2)
    n = int(field_px)
    if img.ndim != 2:
        raise ValueError(f"expected an (H, W) block image, got shape {img.shape}")
    if len(pos) and (
        pos.min() < 0 or pos[:, 0].max() + n > img.shape[0] or pos[:, 1].max() + n > img.shape[1]
    ):
        raise ValueError(
            f"fields of {n} px at corners {pos.min(0).tolist()}..{pos.max(0).tolist()} px "
            f"reach outside the {img.shape} px block"
        )
    empty = np.zeros(0)
    if not len(pos):
        return FieldQuality(empty, empty, empty, empty, [])
    y0, x0 = pos[:, 0], pos[:, 1]
    area = float(n * n)
    tis = np.ones(img.shape, dtype=bool) if tissue_threshold is None else img < float(tissue_threshold)
    n_tis = _box(_integral(tis), y0, x0, n, n)
    share = n_tis / area
    at_end = (img <= 0.5 / 255) | (img >= 1 - 0.5 / 255)
    clip = _box(_integral(at_end & tis), y0, x0, n, n) / np.maximum(n_tis, 1)
    if n < _MIN_GRID_PX:
        block = np.full(len(pos), np.nan)
    else:
        cols = _dense_grid_score(img, y0, x0, n)
        rows = _dense_grid_score(img.T, x0, y0, n)
        block = np.sqrt(cols * rows)
    if n >= 2 * _R3:
        f = _dense_focus(img, tis, y0, x0, n)
    else:  # too small to split into the pieces of _dense_focus: field by field
        cut = np.stack([img[y : y + n, x : x + n] for y, x in pos])
        f = focus(cut, np.stack([tis[y : y + n, x : x + n] for y, x in pos]))
    return _verdicts(f, block, clip, share, thresholds)


#: what the user can do about a fault, added to :func:`quality_summary`'s sentence
ADVICE = {
    "compression": (
        "the image read at the model's pixel size shows JPEG blocks (a JPEG saved at that "
        "pixel size, or strong compression): export the section downsampled from the "
        "scan's full-resolution level without JPEG (TIFF with LZW or zip) and read that"
    ),
}


def quality_summary(counts: dict[str, int], n_fields: int) -> str:
    """One sentence for the fields that abstained for a fault of the image, e.g.
    ``"3 of 12 fields out of focus: not used"``, followed by what to do where
    :data:`ADVICE` knows; empty when none did."""
    faults = [k for k in IMAGE_FAULTS if counts.get(k)]
    if not faults:
        return ""
    parts = [f"{counts[k]} of {n_fields} fields {REASONS[k]}" for k in faults]
    advice = [ADVICE[k] for k in faults if k in ADVICE]
    return "; ".join([*parts[:-1], parts[-1] + ": not used", *advice])


def section_tissue_threshold(section: Section) -> float | None:
    """The section's tissue threshold in [0, 1] (of its coarsest level, as
    :func:`cytowords.sections.tissue_mask`), cached in its metadata; None
    when the section shows no tissue contrast."""
    key = "_cytowords_tissue_threshold"
    if key not in section.metadata:
        try:
            section.metadata[key] = float(tissue_mask(section).threshold)
        except NoTissueError:
            section.metadata[key] = None
    return section.metadata[key]


#: a section whose finest level is coarser than this × the encoder's pixel size is read
#: upsampled: :func:`warn_if_coarse` says so
MAX_UPSAMPLING = 1.5


class CoarseSectionWarning(UserWarning):
    """The section is coarser than the model reads: its fields are upsampled."""


def warn_if_coarse(section: Section, encoder_pixel_size_um: float) -> bool:
    """Warn (:class:`CoarseSectionWarning`, one line) when the section's finest level is
    coarser than :data:`MAX_UPSAMPLING` × the encoder's pixel size (µm/px). Fields are
    always read at the encoder's pixel size, so such a section is upsampled: the cells the
    encoder was trained to see are blurred away. Returns whether it warned."""
    finest, enc = float(section.pixel_size_um[0]), float(encoder_pixel_size_um)
    if finest <= MAX_UPSAMPLING * enc:
        return False
    warnings.warn(
        f"section {section.name!r} is {finest:g} µm/px at its finest, {finest / enc:.2g}× "
        f"coarser than the {enc:g} µm/px the model reads: its fields are upsampled and the "
        "areas and descriptions may be unreliable",
        CoarseSectionWarning,
        stacklevel=3,
    )
    return True
