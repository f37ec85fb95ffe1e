"""Per described ROI: does its tissue read better at another pixel size?

A region's voting fields are read again at a few factors × the stated pixel size (the same
centres); a field that another factor names as another area with a clearly lower open-set
score abstains (:func:`inconsistent_fields`), and a region whose fields as a whole read
better at another scale, or whose measured cortical thickness is impossible for human
cortex at the stated size, abstains with the reason (:func:`scale_rejection`,
:func:`thickness_rejection`). With a bundle's scale head (:mod:`cytowords.model.scale_head`)
a region also abstains when its tissue looks mis-scaled: the median of the head's ``log s``
over its accepted voting fields lies outside :attr:`ScaleLimits.head_band`
(:func:`head_estimate`, :func:`head_rejection`). The section-level check of the stated pixel size and of the
scan's familiarity is :mod:`.scale_check`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import Section, read_fields

#: the human cortex is this thick (mm), from the thinnest (calcarine) to the thickest
#: (precentral) areas
HUMAN_THICKNESS_MM = (1.0, 4.5)
#: a thickness from fewer pia-to-white-matter traverses is too uncertain to judge the scale
MIN_THICKNESS_TRAVERSES = 10


@dataclass(frozen=True)
class ScaleLimits:
    """How a described ROI checks that its tissue fits the stated pixel size.

    Attributes:
        factors: ratios (true / stated pixel size) at which the ROI's voting fields are
            read again (same centres); () turns the field and ROI checks off.
        field_margin: a field abstains when, read at one of ``factors``, it is named as
            another area *and* its open-set score is lower (more familiar) than at the
            stated size by more than this.
        max_flagged_share: a ROI abstains (rejected with the scale reason) when more
            than this share of its accepted fields abstain by the field rule (1: never).
        roi_margin: a ROI also abstains when the median open-set score of its voting
            fields at one of ``factors`` is lower than at the stated size by more than
            this (inf: off). In the units of the bundle's open-set score (the default
            bundle's: log odds of "no known area").
        thickness_tolerance: a ROI abstains when the readout's estimated true cortical
            thickness (mm, at the stated size) lies outside :data:`HUMAN_THICKNESS_MM`
            widened by this factor on both sides (0: no thickness check).
        views: test-time views per field of the re-reads (None: the bundle's default,
            the views the ROI's fields were read with). With another count the fields
            are also embedded again at the stated size with it, so that open-set scores
            and areas are compared at one view count.
        head_band: ``(lo, hi)`` range of the ROI-level median ``log s`` (s: stated / true
            pixel size) of a bundle's scale head; a ROI whose median over its accepted
            voting fields lies outside it abstains (None, or a bundle without a scale
            head: no head rule).
        head_min_fields: the head rule judges ROIs with at least this many accepted
            voting fields.

    The defaults are set for the default bundle on validation brains 100 and 101
    (``benchmarks/roi_scale.py --calibrate``, 31 squares of 8 mm): at the right pixel size
    the median gain reaches 1.79 and up to all of a square's accepted fields are flagged,
    so the two ROI rules sit just beyond what correctly scaled squares show; its open-set
    score barely tells a ×1.33 mis-scale (median gain 0.56) from the right size (0.11),
    and the measured thickness does most of the ROI's work. ``head_band`` is the 2.5–97.5 %
    range of the default bundle's calibrated scale head medians of such squares at the
    right pixel size (``--calibrate --stated 1 --per-area 3 --max-rois 60``: 89 of 93
    squares with at least ``head_min_fields`` accepted voting fields, ×0.68–×1.35; a ROI's
    few fields, about 4 in an 8 mm square, and one area's own look make its estimate far
    noisier than a section's). Other bundles' scorers and heads differ: set the limits for
    them.
    """

    factors: tuple[float, ...] = (0.8, 1.25)
    field_margin: float = 0.0
    max_flagged_share: float = 1.0
    roi_margin: float = 1.8
    thickness_tolerance: float = 1.25
    views: int | None = None
    head_band: tuple[float, float] | None = (-0.386, 0.300)
    head_min_fields: int = 3


DEFAULT_SCALE_LIMITS = ScaleLimits()


def inconsistent_fields(
    area: np.ndarray,
    ood: np.ndarray,
    area_at: np.ndarray,
    ood_at: np.ndarray,
    margin: float = DEFAULT_SCALE_LIMITS.field_margin,
) -> np.ndarray:
    """``(M,)`` index into the factors at which each field reads as another area and more
    familiar, the most familiar such factor; -1 where none does.

    ``area``/``ood``: ``(M,)`` predicted area index and open-set score at the stated size;
    ``area_at``/``ood_at``: ``(K, M)`` the same at each of ``K`` other factors."""
    area_at, ood_at = np.atleast_2d(area_at), np.atleast_2d(ood_at)
    better = (area_at != np.asarray(area)[None]) & (ood_at < np.asarray(ood)[None] - margin)
    score = np.where(better, ood_at, np.inf)
    return np.where(better.any(axis=0), np.argmin(score, axis=0), -1)


@dataclass
class RoiScale:
    """What re-reading a ROI's fields at other pixel sizes showed.

    Attributes:
        stated_um: the section's stated µm per pixel (level 0).
        factors: the factors (true / stated pixel size) read besides 1.
        median_ood: median open-set score of the checked fields at the stated size, then
            at each factor.
        field_factor: ``(M,)`` per field of the ROI the index of the factor at which it
            reads as another area and more familiar, -1 where none does or it was not
            checked.
        checked: ``(M,)`` the fields that were read again (the voting ones).
    """

    stated_um: float
    factors: tuple[float, ...]
    median_ood: tuple[float, ...]
    field_factor: np.ndarray
    checked: np.ndarray

    @property
    def flagged(self) -> np.ndarray:
        """``(M,)`` bool: fields that abstain (another area, more familiar elsewhere)."""
        return self.field_factor >= 0

    def best(self) -> int:
        """Index into :attr:`factors` where the checked fields are most familiar (lowest
        median open-set score)."""
        return int(np.argmin(self.median_ood[1:]))

    def gain(self) -> float:
        """How much lower the median open-set score is at the best other factor than at
        the stated size (positive: the tissue is more familiar there)."""
        return float(self.median_ood[0] - self.median_ood[1 + self.best()])

    def suggested_um(self) -> float:
        """The pixel size (µm, level 0) at which the ROI reads best among those tried:
        the factor most of the abstaining fields point to, else the best median."""
        k = self.field_factor[self.field_factor >= 0]
        f = self.factors[int(np.bincount(k).argmax())] if len(k) else self.factors[self.best()]
        return self.stated_um * f

    def to_dict(self) -> dict:
        """JSON-ready summary (no per-field arrays)."""
        return {
            "stated_um": self.stated_um,
            "factors": [1.0, *self.factors],
            "median_ood": [round(float(v), 4) for v in self.median_ood],
            "n_checked": int(self.checked.sum()),
            "n_flagged": int(self.flagged.sum()),
            "suggested_um": round(self.suggested_um(), 4),
        }


def reread_at_scales(
    bundle,
    section: Section,
    centres_um: np.ndarray,
    checked: np.ndarray,
    area: np.ndarray,
    ood: np.ndarray,
    limits: ScaleLimits = DEFAULT_SCALE_LIMITS,
    patches: np.ndarray | None = None,
) -> RoiScale:
    """Read the ``checked`` fields of a ROI (``(M, 2)`` µm centres, ``(M,)`` bool) again at
    each of ``limits.factors`` × the stated pixel size (the same tissue: a field of the
    model's size in true µm is ``1 / factor`` as many stated µm), classify them with
    ``bundle`` and compare with the stated size's ``area`` indices and open-set scores
    ``ood`` (``(M,)``, read with the bundle's default views). ``patches``: the ROI's
    fields as read at the stated size (``(M, ...)``), used when ``limits.views`` differs
    from those views (None: read again)."""
    import torch

    checked = np.asarray(checked, dtype=bool)
    idx = np.flatnonzero(checked)
    m, k = len(checked), len(limits.factors)
    centres = np.asarray(centres_um)[idx]
    views = limits.views
    a0, o0 = np.asarray(area)[idx], np.asarray(ood, dtype=float)[idx]
    if views is not None and views != bundle.views and len(idx):
        here = (
            read_fields(section, centres, bundle.pixel_size_um, bundle.read_px)
            if patches is None
            else np.asarray(patches)[idx]
        )
        with torch.inference_mode():
            pred = bundle.predict(bundle.embed(here, views=views), views)
        a0, o0 = pred.area_index, np.asarray(pred.ood_score, dtype=float)
    area_at = np.zeros((k, len(idx)), dtype=int)
    ood_at = np.zeros((k, len(idx)))
    for j, f in enumerate(limits.factors):
        fields = read_fields(section, centres, bundle.pixel_size_um / f, bundle.read_px)
        with torch.inference_mode():
            pred = bundle.predict(bundle.embed(fields, views=views), views)
        area_at[j], ood_at[j] = pred.area_index, pred.ood_score
    field_factor = np.full(m, -1, dtype=int)
    field_factor[idx] = inconsistent_fields(a0, o0, area_at, ood_at, limits.field_margin)
    med = (float(np.median(o0)), *(float(np.median(v)) for v in ood_at))
    return RoiScale(
        float(section.pixel_size_um[0]), tuple(limits.factors), med, field_factor, checked
    )


#: what the user can run to find the right pixel size
PIXEL_SIZE_HINT = "check the pixel size (`cytowords pixel-size IMAGE`)"


def head_estimate(head, emb, use: np.ndarray) -> tuple[float, int]:
    """``(median log s, fields)`` of a scale head (:class:`~cytowords.model.scale_head.ScaleHead`)
    over the embeddings ``emb`` ``(M, D)`` of a ROI's fields selected by ``use`` (``(M,)``
    bool): s is the stated / true pixel size; NaN without fields."""
    import torch

    use = np.asarray(use, dtype=bool)
    if not use.any():
        return float("nan"), 0
    sel = emb[torch.from_numpy(use)] if torch.is_tensor(emb) else np.asarray(emb)[use]
    return float(np.median(head.predict(sel))), int(use.sum())


def head_rejection(log_s: float, n_fields: int, stated_um: float, limits: ScaleLimits) -> str:
    """The rejection reason when a ROI's scale head median ``log s`` (over ``n_fields``
    fields, at least ``limits.head_min_fields``) lies outside ``limits.head_band``; else
    ``""``."""
    band = limits.head_band
    if band is None or n_fields < limits.head_min_fields or not np.isfinite(log_s):
        return ""
    if band[0] <= log_s <= band[1]:
        return ""
    f = float(np.exp(log_s))
    how = "larger" if f > 1 else "smaller"
    return (
        f"the tissue looks about {abs(f - 1):.0%} {how} than the stored {stated_um:.4g} µm/px "
        f"says (scale head: stated / true {f:.2f}, {n_fields} fields; true size ≈ "
        f"{stated_um / f:.3g} µm/px): no area is named; {PIXEL_SIZE_HINT}"
    )


def scale_rejection(res: RoiScale, accepted: np.ndarray, limits: ScaleLimits) -> str:
    """The rejection reason when more than ``limits.max_flagged_share`` of a ROI's
    ``accepted`` (``(M,)`` bool) checked fields abstain by the field rule, or its tissue
    reads clearly better at another pixel size (median open-set score lower by more than
    ``limits.roi_margin``); else ``""``."""
    acc = np.asarray(accepted, dtype=bool) & res.checked
    mostly = acc.any() and res.flagged[acc].mean() > limits.max_flagged_share
    if res.gain() <= limits.roi_margin and not mostly:
        return ""
    return (
        f"the tissue reads as cortex better at ≈ {res.suggested_um():.3g} µm/px than at the "
        f"stored {res.stated_um:.4g} µm/px: no area is named; {PIXEL_SIZE_HINT}"
    )


def scale_summary(res: RoiScale) -> str:
    """One sentence for the fields that abstained because they read as another area, and
    more familiar, at another pixel size; empty when none did."""
    n = int(res.flagged.sum())
    if not n:
        return ""
    return (
        f"{n} of {int(res.checked.sum())} fields read as another area, and more like known "
        "cortex, at another pixel size, and did not vote"
    )


def too_few_left_rejection(res: RoiScale, votes_left: int, min_votes: int) -> str:
    """The rejection reason when the fields that abstained by the field rule (see
    :func:`scale_summary`) leave fewer than ``min_votes`` voting fields (``votes_left``);
    else ``""``. It states what was read, not that the pixel size is wrong: a correctly
    scaled region loses fields this way too (docs/your_scans.md)."""
    if votes_left >= min_votes or not res.flagged.any():
        return ""
    return (
        f"{scale_summary(res)}; {votes_left} voting field{'s' if votes_left != 1 else ''} "
        f"left, fewer than the {min_votes} needed to name an area"
    )


def thickness_rejection(
    measurements: dict, stated_um: float, limits: ScaleLimits = DEFAULT_SCALE_LIMITS
) -> str:
    """The rejection reason when the readout's estimated true cortical thickness
    (``measurements`` as on a :class:`~cytowords.describe.RegionDescription`) is far
    outside the human range at the stated pixel size; ``""`` otherwise or when it was not
    measured."""
    tol = float(limits.thickness_tolerance)
    est = (measurements.get("thickness_mm") or {}).get("estimated_true")
    few = int(measurements.get("n_traverses") or 0) < MIN_THICKNESS_TRAVERSES
    if not tol or est is None or not np.isfinite(est) or few:
        return ""
    lo, hi = HUMAN_THICKNESS_MM
    if lo / tol <= est <= hi * tol:
        return ""
    return (
        f"the cortex measures {est:.1f} mm thick at the stored {stated_um:.4g} µm/px, far "
        f"outside the human range ({lo:g}–{hi:g} mm): no area is named; {PIXEL_SIZE_HINT}"
    )
