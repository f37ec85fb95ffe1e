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
- **tissue**: share of pixels darker than the section's tissue threshold (the Otsu level
  of :func:`cytowords.sections.tissue_mask`).

Thresholds (:data:`DEFAULT_THRESHOLDS`) were set on fields of the default model's
*training* brains (``python benchmarks/field_quality.py --calibrate``): the focus limit is
half the 1st percentile of clean fields, the blockiness limit twice the 99th percentile's
excess over 1. They flag no clean field of those brains and almost every field blurred by
σ ≥ 1.5 px or stored as JPEG at quality ≤ 50. They are calibrated on the synthetic
generator: on real scans whose fields are smoother at the model's resolution they may flag
too much; ``thresholds`` is a parameter everywhere for that reason.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

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
    Otsu level); None: every pixel counts as tissue. A field with too little tissue is
    background (reason ``"tissue"``) and its image is not judged; otherwise the first
    fault found of focus, compression, clipping is its reason.
    """
    x = _as_fields(patches)
    t = thresholds
    tis = tissue_pixels(x, tissue_threshold)
    share = tis.mean(axis=(1, 2)) if len(x) else np.zeros(0)
    f, b, c = focus(x, tis), blockiness(x), clipped(x, tis)
    reasons: list[str | None] = []
    for i in range(len(x)):
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


def quality_summary(counts: dict[str, int], n_fields: int) -> str:
    """One sentence for the fields that abstained for a fault of the image, e.g.
    ``"3 of 12 fields out of focus: not used"``; empty when none did."""
    parts = [
        f"{counts[k]} of {n_fields} fields {REASONS[k]}" for k in IMAGE_FAULTS if counts.get(k)
    ]
    return "; ".join(parts) + ": not used" if parts else ""


def section_tissue_threshold(section: Section) -> float | None:
    """The section's tissue threshold in [0, 1] (Otsu level of its coarsest level, as
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
