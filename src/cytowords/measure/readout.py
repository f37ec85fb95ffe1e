"""The readout of one region: :func:`measure_roi` -> :class:`Readout`.

Steps (each at the resolution it needs, reading only the region's window):

0. a stitched mosaic's tile shading (vignetted camera tiles repeating across the slide),
   where the slide shows one, divided out of every level (:func:`.illumination.tile_corrected`);
1. the region's bounding window plus a margin, at a profile resolution from the region's
   size (:func:`profile_pixel_um`: 5-20 µm/px, snapped to a pyramid level when one is
   close, at most :data:`MAX_WINDOW_PX` px); on a slide whose glass is unevenly lit,
   divided by the glass's own level across the slide (:mod:`.illumination`); on a slide
   whose glass is clipped and whose tissue clips with it (:data:`CLIPPED_TISSUE_MAX`),
   nothing more: the readout says it is overexposed;
2. the ribbon (:mod:`.ribbon`): tissue, white matter, pia, Laplace depth, traverses;
   each traverse's deep end is refined to the middle of the grey/white transition; where
   none ends inside the region (a ribbon crossing it aslant), those from its pia that
   leave it only near their deep end (:func:`aslant_traverses`);
3. profiles: optical density along each traverse at :data:`N_DEPTH` relative depths;
4. thickness from the traverse lengths; oblique or tangential cuts flagged;
5. layers and vocabulary from the mean profile (:mod:`.layers`); on scans with a level at
   :data:`~.granularity.GRAIN_UM` µm/px or finer, the grain of the stain along the
   traverses as well (:mod:`.granularity`, :func:`~.layers.with_grain_iv`);
6. cells (:mod:`.cells`) along a few traverses when the scan has <= 2 µm/px; layer IV is
   shown only when the profile and the somata both show it, else undecided
   (:func:`~.layers.with_cell_iv`);
7. columnar organisation (:mod:`.columns`) in three windows at mid-depth of the ribbon,
   when the scan has <= :data:`~.columns.COLUMN_MAX_PX_UM` µm/px (with the cells, unless
   ``columns`` says otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ..jobs import Cancelled, is_cancelled
from ..min_traverse import MIN_TRAVERSE_UM
from ..regions.roi import ring_area
from .caption_claims import SPECIAL_CELLS
from .cells import CELL_MAX_PX_UM, DEEP_DEPTH, FOCUS_MAX_UM, CellStats, cells_along
from .columns import COLUMN_MAX_PX_UM, ColumnStats, columns_along
from .errors import MeasureError
from .granularity import GRAIN_UM, grain_profiles
from .illumination import flatten_window, slide_field, tile_corrected
from .layers import (
    L1_DEEP_MAX,
    L1_MAX_DEPTH,
    L1_MIN_TRAVERSES,
    PIA_EDGE_UM,
    LayerEstimate,
    analyse_profile,
    iv_from_cells,
    with_cell_iv,
    with_grain_iv,
)
from .polygon import as_vertices, polygon_mask
from .ribbon import segment
from .slide import clipped_glass, clipped_tissue, slide_matter, slide_reference
from .traverses import CURVED_RATIO, profiles_along, trace_traverses

N_DEPTH = 100
MAX_WINDOW_PX = 4_000_000
MIN_TRAVERSES = 10
# MIN_TRAVERSE_UM (the shortest column) lives in the light cytowords.min_traverse with the
# rule for ROIs too small to hold one (too_small), which napari checks on its GUI thread
#: thickness spread (SD / median) beyond which pia and white matter are not parallel
NONPARALLEL_CV = 0.2
#: where the traverses disagree, the deepest group of straight traverses is kept when its
#: lengths are separated from the next shorter straight traverse by more than this
#: (relative; the same 15 % as :data:`~.traverses.CURVED_RATIO`) ...
DEEP_GROUP_GAP = 0.15
#: ... and it holds at least this many traverses (as few straight ones are shown anyway)
MIN_DEEP_GROUP = 4
#: human cortex is 1.5-4.5 mm thick (docs/measure.md; thinner in other species): a ribbon
#: wider than this (mm) in the section plane is cut oblique to its surface, whatever the
#: traverses' shape
MAX_CORTEX_MM = 4.5
#: a grey/white transition narrower than this share of its traverse's length (the ribbon's
#: width there) is called sharp: 0.1 mm on a 2.5 mm cortex, half the narrowest transition
#: real sections call gradual (0.2-0.5 mm). Relative, so that an oblique cut, which
#: stretches the transition and the ribbon alike, leaves the term as it is
SHARP_BORDER_REL = 0.04
#: the border is called sharp (gradual) when at least this share of the traverses' widths
#: is sharp (gradual); between, it varies along the region and is said to
WM_TERM_SHARE = 2.0 / 3.0
CELL_TRAVERSES = 3
#: where no traverse from the ROI's pia ends inside it (a ribbon crossing it aslant), the
#: traverses that reach the white matter just beyond its edge give the thickness when at
#: most this share of each one's length lies outside the ROI (the same 15 % as
#: :data:`~.traverses.CURVED_RATIO`), they reach the white matter the ROI shows (one
#: connected piece with the white matter inside it) and are at least
#: :data:`MIN_DEEP_GROUP`; else the region is not measured
ASLANT_OUT_SHARE = 0.15
#: of those, only the straight columns (length / chord at most this) are used, and at
#: least :data:`MIN_DEEP_GROUP` of them are needed: with pia and white matter only at the
#: region's corners the window's edges bend the depth field, and bent columns run longer
#: than the cortex is thick
ASLANT_STRAIGHT = 1.05
#: on a slide whose glass is clipped (:func:`.slide.clipped_glass`), thickness and layers
#: are not measured when at least this share of the tissue reads at the clipped plateau
#: (:func:`.slide.clipped_tissue`: pale tissue enclosed by denser tissue, the white matter
#: inside the ribbon, as white as the glass): the white matter cannot be told from the
#: glass, and the palest layers of the cortex are taken for it (white matter lying just
#: under the plateau, clipped only where its noise reaches it, reads well at about 0.13)
CLIPPED_TISSUE_MAX = 0.2


def profile_pixel_um(h_um: float, w_um: float, level_sizes: list[float]) -> float:
    """Profile resolution (µm/px) for a window: side / 300, within 5-20 µm/px, coarser when
    the window would exceed :data:`MAX_WINDOW_PX`; snapped to a pyramid level's pixel size
    within 25 % (an exact, fast read)."""
    p = min(20.0, max(5.0, max(h_um, w_um) / 300.0))
    p = max(p, math.sqrt(h_um * w_um / MAX_WINDOW_PX))
    near = [s for s in level_sizes if abs(s - p) <= 0.25 * p]
    return float(min(near, key=lambda s: abs(s - p))) if near else p


@dataclass
class Readout:
    """What was measured in a region (physical units; NaN / None where not measured).

    ``reasons`` says what could not be measured and why. Profiles are optical density
    (log(glass / intensity)) at ``depth`` (relative, 0 pia .. 1 white matter).
    """

    area_mm2: float
    profile_pixel_um: float
    n_traverses: int = 0
    thickness_mm: float = float("nan")
    thickness_sd_mm: float = float("nan")
    thickness_p10_mm: float = float("nan")
    thickness_p90_mm: float = float("nan")
    oblique: bool = False
    true_thickness_mm: float = float("nan")
    curvature_ratio: float = float("nan")
    depth: np.ndarray = field(default_factory=lambda: np.zeros(0))
    profile_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    profile_sd: np.ndarray = field(default_factory=lambda: np.zeros(0))
    profile_p10: np.ndarray = field(default_factory=lambda: np.zeros(0))
    profile_p90: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: mean fine-grain share at ``depth`` (:mod:`.granularity`); empty when the scan has
    #: no level at :data:`~.granularity.GRAIN_UM` µm/px or finer
    grain_mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    layers: LayerEstimate | None = None
    wm_border_width_um: float = float("nan")
    #: "sharp", "gradual", "varies" (neither on :data:`WM_TERM_SHARE` of the traverses) or
    #: None (no transition read)
    wm_border: str | None = None
    #: traverses whose transition was read, and of them the sharp ones
    wm_border_n: int = 0
    wm_border_n_sharp: int = 0
    cells: CellStats | None = None
    #: columnar organisation (:mod:`.columns`); None when the scan is coarser than
    #: :data:`~.columns.COLUMN_MAX_PX_UM` µm/px or columns were not asked for
    columns: ColumnStats | None = None
    traverses_um: list[np.ndarray] = field(default_factory=list)
    #: traverses set aside where all of them disagreed (:func:`deepest_straight_group`):
    #: how many, and why, in words; 0 and "" when every traverse was used
    n_set_aside: int = 0
    set_aside_why: str = ""
    #: where the traverses end just beyond the ROI's edge (:func:`aslant_traverses`): how
    #: far beyond it the farthest deep end lies (mm); NaN when they all end inside it
    beyond_edge_mm: float = float("nan")
    reasons: list[str] = field(default_factory=list)

    def layer_densities(self) -> dict[str, float] | None:
        """Somata per mm² in each layer whose borders the readout estimated (None without
        cell statistics)."""
        if self.cells is None or self.layers is None:
            return None
        return {
            k: round(self.cells.density_between(a, b), 1)
            for k, (a, b) in self.layers.layer_spans().items()
        }

    def pial_line_um(self) -> np.ndarray:
        """The pial surface as a polyline ``(K, 2)`` ``(y, x)`` µm through the traverses'
        pial ends (ordered along the surface); empty when nothing was measured."""
        return along_surface(np.array([t[0] for t in self.traverses_um]).reshape(-1, 2))

    def white_line_um(self) -> np.ndarray:
        """The grey/white-matter border as a polyline ``(K, 2)`` ``(y, x)`` µm through the
        traverses' deep ends (ordered along the border); empty when nothing was measured."""
        return along_surface(np.array([t[-1] for t in self.traverses_um]).reshape(-1, 2))

    def special_support(self) -> frozenset[str]:
        """The special-cell kinds (:data:`~cytowords.measure.caption_claims.SPECIAL_CELLS`) a
        caption may state about this region: all of them (Betz cells of layer V, Meynert
        cells at the V/VI border: the readout cannot tell the two apart, the area names
        them) when the cell statistics found at least one giant pyramid in the deep layers
        (:attr:`~cytowords.measure.cells.CellStats.n_giant_deep`), else none (no cell
        statistics: pixels coarser than 2 µm or cells not asked for)."""
        if self.cells is None or self.cells.n_giant_deep < 1:
            return frozenset()
        return frozenset(SPECIAL_CELLS)

    @property
    def measured(self) -> bool:
        """True when at least one traverse crossed the cortex (thickness and profile)."""
        return self.n_traverses > 0

    def to_dict(self, *, traverses: bool = True) -> dict[str, Any]:
        """JSON-safe dictionary (NaN -> None, arrays -> rounded lists); ``traverses``:
        include the traverses' coordinates (``traverses_um``, long lists of µm points)."""

        def num(v, nd=4):
            return None if v is None or not np.isfinite(v) else round(float(v), nd)

        def arr(a, nd=4):
            return [round(float(v), nd) for v in np.asarray(a)]

        return {
            "area_mm2": num(self.area_mm2),
            "profile_pixel_size_um": num(self.profile_pixel_um),
            "n_traverses": self.n_traverses,
            "thickness_mm": {
                "median": num(self.thickness_mm, 3),
                "sd": num(self.thickness_sd_mm, 3),
                "p10": num(self.thickness_p10_mm, 3),
                "p90": num(self.thickness_p90_mm, 3),
                "oblique": self.oblique,
                "estimated_true": num(self.true_thickness_mm, 3),
                "curvature_ratio": num(self.curvature_ratio, 3),
                "n_set_aside": self.n_set_aside,
                "set_aside": self.set_aside_why or None,
                "beyond_edge_mm": num(self.beyond_edge_mm, 3),
            },
            "profile": {
                "depth": arr(self.depth, 3),
                "mean": arr(self.profile_mean),
                "sd": arr(self.profile_sd),
                "p10": arr(self.profile_p10),
                "p90": arr(self.profile_p90),
                "grain": arr(self.grain_mean),
            },
            "layers": self.layers.to_dict() if self.layers else None,
            "wm_border": {
                "width_um": num(self.wm_border_width_um, 1),
                "term": self.wm_border,
                "n_traverses": self.wm_border_n,
                "n_sharp": self.wm_border_n_sharp,
            },
            "columnar_organisation": self.columns.to_dict() if self.columns else None,
            "cells": self.cells.to_dict() if self.cells else None,
            "layer_density_per_mm2": self.layer_densities(),
            **(
                {"traverses_um": [np.round(t, 1).tolist() for t in self.traverses_um]}
                if traverses
                else {}
            ),
            "not_measured": list(self.reasons),
            "statements": self.statements(),
        }

    def statements(self) -> list[str]:
        """Short, hedged sentences from the measurements only."""
        out: list[str] = []
        if self.measured:
            t = f"{self.thickness_mm:.1f} mm"
            spread = f"{self.thickness_p10_mm:.1f}–{self.thickness_p90_mm:.1f} mm"
            if self.n_set_aside:
                used = (
                    f"over {self.n_traverses} of {self.n_traverses + self.n_set_aside} "
                    f"traverses; {self.set_aside_why}"
                )
            else:
                used = f"over {self.n_traverses} traverse{'s' if self.n_traverses != 1 else ''}"
            if np.isfinite(self.beyond_edge_mm):
                used += (
                    ", which run from the pia in the region to the white matter up to "
                    f"{self.beyond_edge_mm:.1f} mm beyond its edge: the ribbon crosses the "
                    "region aslant"
                )
            if self.oblique:  # the width in the section plane, not the cortex's thickness
                out.append(f"In the section the ribbon is about {t} wide here ({spread} {used}).")
            else:
                out.append(f"The cortex is about {t} thick here ({spread} {used}).")
            if self.oblique and np.isfinite(self.true_thickness_mm):
                out.append(
                    "The cut looks oblique here, so the ribbon looks wider than it is; "
                    f"perpendicular to the surface it is probably nearer {self.true_thickness_mm:.1f} mm."
                )
            elif self.oblique:
                out.append(
                    "The cut looks oblique here: the ribbon is wider than cortex is thick "
                    f"anywhere (at most about {MAX_CORTEX_MM:g} mm), and its true thickness "
                    "cannot be read from this section."
                )
        lay = self.layers
        if lay is not None:
            if np.isfinite(lay.layer_i_width_um):
                out.append(
                    f"Layer I, the cell-sparse band under the pia, is about {lay.layer_i_width_um / 1000:.2f} mm wide."
                )
            if lay.cortex_type is None:
                out.append(f"Layer IV is undecided: {lay.iv_undecided}.")
            elif lay.iv_evidence == "profile and cells":
                out.append(_cell_iv_sentence(lay.cortex_type))
            elif lay.iv_evidence.startswith("profile and grain"):
                out.append(_grain_iv_sentence(lay))
            elif lay.cortex_type == "koniocortex":
                out.append(
                    "The profile shows a broad, dense band where layer IV lies (koniocortex-like)."
                )
            else:
                out.append(
                    "The profile shows a dense band between layers III and V, as an inner granular layer IV does."
                )
            out.append(
                f"Laminar contrast (the profile's SD/mean) is {lay.laminar_contrast:.2f}: how "
                "much the layers differ in density, not how sharp their borders are, so no "
                "atlas term (sharp, moderate, blurred) is given."
            )
            out.append(_borders_sentence(lay))
        if self.wm_border == "varies":
            n, k = self.wm_border_n, self.wm_border_n_sharp
            out.append(
                "The border to the white matter varies along the region: sharp (transition "
                f"≤ {SHARP_BORDER_REL:.0%} of the cortex's width) on {k} and gradual on "
                f"{n - k} of {n} traverses."
            )
        elif self.wm_border is not None:
            out.append(
                f"The border to the white matter is {self.wm_border} "
                f"(transition about {self.wm_border_width_um:.0f} µm)."
            )
        c = self.cells
        if c is not None and len(c.diam_um):
            med = float(np.median(c.diam_um))
            out.append(f"Somata measure about {med:.0f} µm across (median of {len(c.diam_um)}).")
            if len(c.large_diam_um):
                deep = c.large_depth >= DEEP_DEPTH
                where = "in layer V" if deep.mean() >= 0.5 else "in lower layer III"
                out.append(
                    f"Large pyramidal cells (≥ {c.large_min_um:.0f} µm) {where}: about "
                    f"{c.large_per_mm:.0f} per mm of ribbon, up to {c.large_diam_um.max():.0f} µm long."
                )
                if c.large_diam_um.max() >= c.giant_min_um:
                    # the Betz/Meynert name follows the one rule of special_support
                    kind = (
                        "Betz- or Meynert-like"
                        if self.special_support()
                        else "in the upper half of the cortex"
                    )
                    out.append(f"Some are giant (≥ {c.giant_min_um:.0f} µm), {kind}.")
            else:
                out.append(f"No large pyramidal cells (≥ {c.large_min_um:.0f} µm) were found.")
        col = self.columns
        if col is not None and col.term is not None:
            out.append(_columns_sentence(col))
        for r in self.reasons:
            # a measured region's reasons are what it could not measure or how sure it is
            # (cells, uneven light, few traverses): each stands as a note of its own
            out.append(f"{r[:1].upper()}{r[1:]}." if self.measured else f"Not measured: {r}.")
        return out


def window_um(v: np.ndarray, p: float) -> tuple[float, float, float, float]:
    """The window :func:`measure_roi` reads around ROI ``v`` (``(K, 2)`` µm, ``(y, x)``) at
    ``p`` µm/px: ``(y0, x0, height, width)`` in µm, on the ``p`` grid, with a margin of
    300 µm or a tenth of the ROI's larger side, whichever is more."""
    v = np.asarray(v, dtype=np.float64)
    (ya, xa), (yb, xb) = v.min(0), v.max(0)
    margin = max(300.0, 0.1 * max(yb - ya, xb - xa))
    y0 = math.floor((ya - margin) / p) * p
    x0 = math.floor((xa - margin) / p) * p
    return y0, x0, math.ceil((yb + margin - y0) / p) * p, math.ceil((xb + margin - x0) / p) * p


def thickness_disagreement(lengths_mm: np.ndarray, curvature_ratio: float) -> str | None:
    """Why no thickness is shown from traverses of these lengths (mm) and this median
    length / chord ratio, or None when one is.

    The traverses disagree when their lengths spread by more than
    :data:`NONPARALLEL_CV` (SD / median), or when they are curved (ratio above
    :data:`CURVED_RATIO`) and fewer than :data:`MIN_TRAVERSES`. From one section the
    readout cannot tell why: a cut oblique to the surface, a fold, or a pale band inside
    the cortex (a pale layer, a scratch, the pale stripes between cell columns) taken for
    the white matter, where some traverses stop and others run on to the real border.
    Either way no median of the lengths is the region's thickness, and their 10th
    percentile (the true thickness of an oblique cut) is then the most wrongly short of
    them; so nothing is shown."""
    lengths_mm = np.asarray(lengths_mm, dtype=np.float64)
    if lengths_mm.size == 0:
        return None
    med = float(np.median(lengths_mm))
    spread = float(np.std(lengths_mm)) / med if med > 0 else 0.0
    lo, hi = np.percentile(lengths_mm, [10, 90])
    if spread > NONPARALLEL_CV:
        what = (
            f"the traverses disagree: their lengths run from {lo:.1f} to {hi:.1f} mm (SD "
            f"{spread:.0%} of the median; pia and white matter not parallel)"
        )
    elif curvature_ratio > CURVED_RATIO and lengths_mm.size < MIN_TRAVERSES:
        what = (
            f"only {lengths_mm.size} traverse{'s' if lengths_mm.size != 1 else ''} "
            f"(>= {MIN_TRAVERSES} wanted), and curved (length / chord "
            f"{curvature_ratio:.2f})"
        )
    else:
        return None
    return (
        f"no thickness: {what}: an oblique cut, a fold, or a pale band of the cortex "
        "taken for white matter; one section cannot tell them apart (draw the region "
        "where pia and white matter run parallel)"
    )


def deepest_straight_group(
    lengths_mm: np.ndarray, ratios: np.ndarray, end_depth_mm: np.ndarray | None = None
) -> tuple[np.ndarray, str] | None:
    """Where the traverses disagree (:func:`thickness_disagreement`), the ones that still
    give a thickness: a boolean mask over the traverses and, in words, why the others were
    set aside; None when there is no such group (nothing is shown then).

    ``lengths_mm``: each traverse's length (mm); ``ratios``: its length / chord. A pale
    band inside the cortex taken for white matter stops the traverses above it part-way
    down, while the others run on to the real border: a traverse cannot run past real
    white matter (it ends at the first it meets), so the straight traverses that reach
    deepest show the border. Kept: the straight traverses (length / chord at most
    :data:`~.traverses.CURVED_RATIO`; curved ones run along a bank or around a fundus)
    from the longest down to the first gap of more than :data:`DEEP_GROUP_GAP` between
    consecutive lengths, when they are at least :data:`MIN_DEEP_GROUP` and agree among
    themselves (:func:`thickness_disagreement` finds nothing). A spread without such a
    gap (an oblique cut, pia and white matter not parallel) keeps refusing.
    ``end_depth_mm``: each traverse's deep end's straight distance to the nearest pia
    (mm); when given, no traverse set aside may end more than :data:`DEEP_GROUP_GAP`
    deeper than the kept ones' median (a curved traverse that reaches a deeper border
    than the kept group: then the group may be the one stopped on a pale band)."""
    lengths_mm = np.asarray(lengths_mm, dtype=np.float64)
    ratios = np.asarray(ratios, dtype=np.float64)
    straight = ratios <= CURVED_RATIO
    if straight.sum() < MIN_DEEP_GROUP:
        return None
    ls = np.sort(lengths_mm[straight])
    gaps = np.nonzero(ls[1:] > ls[:-1] * (1.0 + DEEP_GROUP_GAP))[0]
    floor = ls[gaps[-1] + 1] if gaps.size else ls[0]
    keep = straight & (lengths_mm >= floor)
    n = int(keep.sum())
    if n < MIN_DEEP_GROUP:
        return None
    group = lengths_mm[keep]
    if thickness_disagreement(group, float(np.median(ratios[keep]))) is not None:
        return None
    if end_depth_mm is not None:
        end_depth_mm = np.asarray(end_depth_mm, dtype=np.float64)
        deep = float(np.median(end_depth_mm[keep]))
        if (end_depth_mm[~keep] > deep * (1.0 + DEEP_GROUP_GAP)).any():
            return None
    short = straight & ~keep
    parts = []
    if short.any():
        lo, hi = lengths_mm[short].min(), lengths_mm[short].max()
        span = f"{lo:.1f} mm" if f"{lo:.1f}" == f"{hi:.1f}" else f"{lo:.1f}–{hi:.1f} mm"
        parts.append(
            f"{int(short.sum())} stop {span} under the pia, short of the others' white "
            "matter, as on a pale band of the cortex taken for white matter"
        )
    if (~straight).any():
        parts.append(f"{int((~straight).sum())} curved, along a bank or around a fold")
    return keep, f"the other {int((~keep).sum())} set aside: " + "; ".join(parts)


def aslant_traverses(rib, roi: np.ndarray, near: list) -> tuple | None:
    """Where no traverse from the ROI's pia ends inside it, the traverses ``near`` (traced
    from its pia to the white matter anywhere in the window) that give its thickness:
    after :func:`~.traverses.profiles_along`, those at least :data:`MIN_TRAVERSE_UM` long
    with at most :data:`ASLANT_OUT_SHARE` of their length outside the ROI, whose white
    matter (where the streamline met it) is one connected piece with white matter inside
    the ROI (not a pale patch beyond it), and straight (length / chord at most
    :data:`ASLANT_STRAIGHT`: not bent by the window's edges), when they are at least
    :data:`MIN_DEEP_GROUP`. Returns ``(traverses, widths, profiles, beyond_mm)``
    (``beyond_mm``: the farthest refined deep end's distance beyond the ROI's edge) or
    None."""
    p = rib.pixel_um
    lab, _ = ndi.label(rib.wm, structure=np.ones((3, 3), bool))
    own = np.unique(lab[rib.wm & roi])
    shape = np.array(roi.shape) - 1
    hit = [
        int(lab[tuple(np.clip(np.round(t.points[-1]).astype(int), 0, shape))]) for t in near
    ]
    near = [t for t, k in zip(near, hit) if k > 0 and k in own]
    if len(near) < MIN_DEEP_GROUP:
        return None
    trs, widths, profiles = profiles_along(rib, near, N_DEPTH)
    beyond = ndi.distance_transform_edt(~roi) * p
    keep = np.zeros(len(trs), bool)
    far = np.zeros(len(trs))
    for i, t in enumerate(trs):
        ij = np.clip(np.round(t.points).astype(int), 0, shape)
        inside = roi[ij[:, 0], ij[:, 1]]
        seg = np.hypot(*np.diff(t.points, axis=0).T) * p
        out_um = float(seg[~inside[1:]].sum())
        far[i] = beyond[ij[-1, 0], ij[-1, 1]]
        keep[i] = (
            t.length_um >= MIN_TRAVERSE_UM
            and out_um <= ASLANT_OUT_SHARE * t.length_um
            and t.length_um <= ASLANT_STRAIGHT * t.chord_um
        )
    if keep.sum() < MIN_DEEP_GROUP:
        return None
    trs = [t for t, k in zip(trs, keep) if k]
    return trs, widths[keep], profiles[keep], float(far[keep].max()) / 1000.0


def along_surface(points: np.ndarray) -> np.ndarray:
    """``points`` (``(K, 2)``, spread along a curve) reordered into a polyline: from the
    point farthest from their centroid, always on to the nearest point not yet taken."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(p) < 3:
        return p
    left = list(range(len(p)))
    cur = int(np.argmax(np.hypot(*(p - p.mean(0)).T)))
    order = [cur]
    left.remove(cur)
    while left:
        d = np.hypot(*(p[left] - p[cur]).T)
        cur = left.pop(int(np.argmin(d)))
        order.append(cur)
    return p[order]


def confidence_term(c: float) -> str:
    """``clear`` (>= 0.7), ``moderate`` (>= 0.4) or ``faint``."""
    return "clear" if c >= 0.7 else "moderate" if c >= 0.4 else "faint"


def _borders_sentence(lay: LayerEstimate) -> str:
    """Which layer borders the profile (or the somata) show, and which it does not."""
    from .layers import LAYER_ORDER

    shown = [f"{k} at {d:.2f} ({confidence_term(c)})" for k, (d, c) in lay.borders.items()]
    missing = [k for k in LAYER_ORDER if k not in lay.borders]
    text = "Layer borders shown (relative depth from the pia): " + (
        "; ".join(shown) if shown else "none"
    )
    if missing:
        text += f"; not shown: {', '.join(missing)}"
    return text + "."


def _focus_reason(c: CellStats) -> str:
    """The line for ``not_measured`` about cell windows out of focus (their edge blur
    above :data:`~.cells.FOCUS_MAX_UM` µm), "" when none: most of them out of focus, the
    region's cell statistics are not shown; else those windows were left out."""
    if not c.blurred:
        return ""
    blur = min(b for b, _, _ in c.blurred)
    at = "; ".join(f"{y / 1000:.2f}, {x / 1000:.2f}" for _, y, x in c.blurred[:3])
    more = f" and {len(c.blurred) - 3} more" if len(c.blurred) > 3 else ""
    head = (
        f"cell statistics: out of focus (edge blur about {blur:.1f} µm or more at the "
        f"sharpest somata, over the {FOCUS_MAX_UM:g} µm of a focal plane) in "
        f"{len(c.blurred)} of {c.n_windows} windows (centres y, x mm: {at}{more})"
    )
    if 2 * len(c.blurred) > c.n_windows:
        return head + "; not shown (no density, sizes or large pyramids)"
    return head + "; those windows left out"


def _cell_iv_sentence(cortex_type: str) -> str:
    """What the somata and the profile between layers III and V show when both show a
    layer IV (``koniocortex`` or ``granular``)."""
    if cortex_type == "koniocortex":
        return (
            "The somata show a broad band of small, densely packed cells between layers III "
            "and V, and the profile a broad dense band there (koniocortex-like)."
        )
    return (
        "The somata show a band of small, densely packed cells between the pyramids of "
        "layers III and V, and the profile a dense band there, as an inner granular layer "
        "IV does."
    )


def _grain_iv_sentence(lay: LayerEstimate) -> str:
    """What the grain of the stain (and the profile) show when layer IV is shown from the
    grain (:func:`~.layers.with_grain_iv`)."""
    text = (
        "The grain of the stain shows a band of large somata with finer, smaller ones "
        "below it between layers III and V, as above an inner granular layer IV"
    )
    if lay.cortex_type == "koniocortex":
        text += ", and the profile a broad dense band there (koniocortex-like)"
    elif lay.profile_cortex_type in ("granular", "koniocortex"):
        text += ", and the profile a dense band there"
    if lay.iv_evidence.endswith("cells"):
        text += "; the somata show a band of small, densely packed cells there too"
    return text + "."


def _columns_sentence(col: ColumnStats) -> str:
    """What the somata show of radial cell columns (a decided term only). "none" says
    what the measure can say: no columns were detected (weak ones often are not)."""
    where = f"{col.n_windows} window{'s' if col.n_windows != 1 else ''} at {col.pixel_um:g} µm/px"
    if col.term == "none":
        return (
            f"No radial cell columns were detected at mid-depth ({where}; weak columns "
            "often go undetected)."
        )
    what = "lie clearly in" if col.term == "strong" else "lie in weak"
    return (
        f"At mid-depth the somata {what} radial columns (columnar share {col.index:.2f}: "
        f"density across the ribbon varying in step at different depths by about "
        f"{col.cv:.0%}; {where})."
    )


def _cancel_check(cancel) -> Callable[[], None]:
    def check() -> None:
        if is_cancelled(cancel):
            raise Cancelled("measuring cancelled")

    return check


#: what :func:`gap_notes` says of each kind of gap the ribbon took into the cortex
GAP_WORDS = {
    "tear": "a tear (a gap of glass whose edges cut across the layers: no pia, no white "
    "matter)",
    "bubble": "a bubble or hole (far paler than the tissue enclosing it: no white matter)",
}


def gap_notes(rib, trs) -> list[str]:
    """One note per kind of gap (``rib.gaps``: tears, bubbles taken into the grey matter,
    :func:`.ribbon.segment`) that some of the traverses ``trs`` cross: how many, and that
    its pixels were filled from the tissue around it in their profiles."""
    out = []
    for kind, mask in getattr(rib, "gaps", {}).items():
        big = ndi.binary_dilation(mask, iterations=1)
        n = 0
        for t in trs:
            iy, ix = np.round(t.points).astype(int).T
            iy = np.clip(iy, 0, mask.shape[0] - 1)
            ix = np.clip(ix, 0, mask.shape[1] - 1)
            n += bool(big[iy, ix].any())
        if n:
            out.append(
                f"{n} of {len(trs)} traverses cross {GAP_WORDS[kind]}; read across it, its "
                "pixels filled from the tissue around it in their profiles"
            )
    return out


def layer_i_unread(too_deep: float) -> str:
    """The note for a layer I not read although enough traverses cross the ROI: where its
    border was found deeper than a layer I is read (``too_deep``, relative depth: ``layer_i_too_deep``),
    how deep; else that no traverse shows the rise from a pale band to a dense one."""
    if np.isfinite(too_deep):
        return (
            "layer I: not read: its pale band rises half-way to the first dense band beneath "
            f"it only at {too_deep:.0%} of the cortex's depth (median of the traverses), "
            f"deeper than a layer I is read here ({L1_MAX_DEPTH:.0%}, or up to "
            f"{L1_DEEP_MAX:.0%} where that band is as narrow as a layer II and the band "
            "above it pale all the way down, on most traverses): that band is likely one of "
            "layer III or V, layer II's too faint to count"
        )
    return (
        "layer I: not read: no traverse shows a rise from a pale band under the pia to a "
        "dense band beneath it"
    )


def measure_roi(
    section,
    vertices_um,
    *,
    cells: bool | str = "auto",
    cancel=None,
    on_progress: Callable[[int, int], None] | None = None,
    profile_um: float | None = None,
    columns: bool | str | None = None,
) -> Readout:
    """Measure the cytoarchitecture inside a polygon (``(N, 2)`` ``(y, x)`` µm vertices) of
    a :class:`cytowords.sections.Section`.

    ``cells``: ``"auto"`` (cell statistics when the scan has <= 2 µm/px), ``True`` (say
    why when it cannot) or ``False``. ``cancel``: an object with ``is_set()`` or a callable
    returning True to stop (raises :class:`~cytowords.jobs.Cancelled`); ``on_progress(done, total)``
    after each step. ``profile_um`` overrides the profile resolution (µm/px). ``columns``:
    the columnar organisation (:mod:`.columns`), as ``cells`` (the default None: what
    ``cells`` says): ``"auto"`` (when the scan has <= :data:`~.columns.COLUMN_MAX_PX_UM`
    µm/px), ``True`` (say why when it cannot) or ``False``.
    Raises :class:`MeasureError` for an empty region or one outside the section; all other
    problems are listed in ``Readout.reasons``.
    """
    check = _cancel_check(cancel)
    total = 5 + CELL_TRAVERSES

    def progress(done: int) -> None:
        check()
        if on_progress is not None:
            on_progress(done, total)

    v = as_vertices(vertices_um)
    (ya, xa), (yb, xb) = v.min(0), v.max(0)
    sh, sw = section.shape_um
    if yb <= 0 or xb <= 0 or ya >= sh or xa >= sw:
        raise MeasureError(
            f"ROI ({xa:.0f},{ya:.0f})–({xb:.0f},{yb:.0f}) µm is outside the section "
            f"({sw:.0f} × {sh:.0f} µm)"
        )
    reasons: list[str] = []
    # a stitched mosaic's tile shading: divided out of every level before anything is read
    section, tiles = tile_corrected(section)
    if tiles is not None:
        reasons.append(
            f"tile shading: the light repeats every {tiles[1]:.0f} × {tiles[0]:.0f} µm "
            f"(camera tiles stitched without flat-field correction), down to "
            f"{float(tiles[2].min()):.0%} of a tile's centre; divided out"
        )
    if ya < 0 or xa < 0 or yb > sh or xb > sw:
        reasons.append("the ROI crosses the section edge; the part outside is not measured")
    sizes = [float(s) for s in section.pixel_size_um]
    p = float(profile_um) if profile_um else profile_pixel_um(yb - ya, xb - xa, sizes)
    y0, x0, hh, ww = window_um(v, p)
    progress(0)
    img = section.read_window(y0, x0, hh, ww, p, fill=np.nan)
    outside = ~np.isfinite(img)
    img = np.where(outside, 0, img)
    progress(1)
    # uneven light: the window divided by the glass's own level across the slide
    light = slide_field(section.levels, sizes)
    if light is not None:
        img = flatten_window(img, y0, x0, p, light)
        ref = light[2]
        dim = float(np.percentile(light[0], 1)) / light[2][0]
        reasons.append(
            f"uneven light: the glass reads down to {dim:.0%} of its brightest across the "
            "slide; divided out, but pia and white matter are less certain here"
        )
        matter = slide_matter(section.levels, sizes, ref, light)
    else:
        ref = slide_reference(section.levels)
        matter = slide_matter(section.levels, section.pixel_size_um, ref) if ref is not None else None
    clipped = ref is not None and clipped_glass(section.levels, ref[0])
    over = clipped_tissue(section.levels, sizes) if clipped else 0.0
    if over >= CLIPPED_TISSUE_MAX:
        reasons.append(
            f"overexposed: {over:.0%} of the slide's tissue reads at the scan's white, as "
            "the glass does (clipped): the white matter cannot be told from the glass, so "
            "thickness and layers are not measured (rescan with a shorter exposure)"
        )
        return Readout(area_mm2=ring_area(v) * 1e-6, profile_pixel_um=p, reasons=reasons)
    rib = segment(img, p, ref, outside, matter, clipped)
    roi = polygon_mask(v, (y0, x0), img.shape, p) & ~outside
    out = Readout(area_mm2=ring_area(v) * 1e-6, profile_pixel_um=p, reasons=reasons)
    if roi.sum() < 4:
        reasons.append("the ROI is too small for the profile resolution")
        return out
    tissue_in = (rib.tissue & roi).sum() / roi.sum()
    grey_in = (rib.grey & roi).sum() / roi.sum()
    if tissue_in < 0.05:
        reasons.append("not cortex: no tissue in the ROI")
        return out
    if grey_in < 0.05 and (rib.wm & roi).any():
        # white matter by the slide's standard only when it is as pale as the slide's
        # white matter; else (no slide white matter to compare, a crop of cortex) it may be
        # a pale layer of the cortex
        pale = matter is not None and float(np.median(rib.density[rib.wm & roi])) <= 0.5 * (
            matter[0] + matter[1]
        )
        reasons.append(
            "not cortex: the ROI is white matter (no pia, no grey matter)" if pale else
            "no pia and no grey/white border in the ROI: its tissue is evenly pale (white "
            "matter, or a pale layer of the cortex)"
        )
        return out
    has_pia, has_wm = bool((rib.pia & roi).any()), bool((rib.wm & roi).any())
    if not has_pia:
        reasons.append("no pia in the ROI (the pial surface must be inside the region)")
    if not has_wm:
        why = "no white matter in the ROI (the grey/white border must be inside it)"
        if rib.pale_band is not None and (rib.pale_band & roi).any():
            why += (
                ": its pale tissue is darker than the slide's white matter (nearer the "
                "slide's grey matter), a pale layer of the cortex"
            )
        reasons.append(why)
    reasons.extend(rib.reasons)
    progress(2)
    trs = trace_traverses(rib, roi) if has_pia and has_wm else []
    aslant = None
    if has_pia and has_wm and not trs:
        why = "no traverse runs from the pia to the white matter inside the ROI"
        near = trace_traverses(rib, roi, end_anywhere=True)
        if near:
            # pia and white matter only at the region's corners or edges (a ribbon about
            # as thick as the region is wide, crossing it aslant): the columns from its
            # pia that leave it only near their deep end, on the white matter it shows,
            # are the cortex here; others depend on the white matter beyond the region
            aslant = aslant_traverses(rib, roi, near)
            if aslant is None:
                why += (
                    ": the columns from its pia reach the white matter only beyond its edge "
                    "(the ribbon crosses it aslant, pia and white matter only at its corners "
                    "or edges; draw the region across the ribbon, from the pia to the white "
                    "matter)"
                )
        if aslant is None:
            reasons.append(why)
    if aslant is not None:
        trs, widths, profiles, out.beyond_edge_mm = aslant
    elif not trs:
        return out
    else:
        trs, widths, profiles = profiles_along(rib, trs, N_DEPTH)
    full = np.array([t.length_um >= MIN_TRAVERSE_UM for t in trs], bool)
    if not full.all():
        trs = [t for t, ok in zip(trs, full) if ok]
        widths, profiles = widths[full], profiles[full]
        if not trs:
            reasons.append(
                f"no traverse longer than {MIN_TRAVERSE_UM / 1000:g} mm: what was taken for "
                f"white matter lies less than {MIN_TRAVERSE_UM / 1000:g} mm under the pia (a "
                "pale band of the cortex read as white matter, or pia and white matter "
                "touching at a cut edge or a tear), not a cortical column"
            )
            return out
    progress(3)
    lengths = np.array([t.length_um for t in trs]) / 1000.0
    ratio = np.array([t.length_um / max(t.chord_um, 1e-9) for t in trs])
    med = float(np.median(lengths))
    curvature = float(np.median(ratio))
    curved = curvature > CURVED_RATIO
    why_not = thickness_disagreement(lengths, curvature)
    if why_not is not None:
        # each deep end's straight distance to the nearest pia (mm)
        pia_mm = ndi.distance_transform_edt(~rib.pia) * (p / 1000.0)
        ends = np.array([t.points[-1] for t in trs]).round().astype(int)
        ends = np.clip(ends, 0, np.array(pia_mm.shape) - 1)
        group = deepest_straight_group(lengths, ratio, pia_mm[ends[:, 0], ends[:, 1]])
        if group is None:
            reasons.append(why_not)
            return out
        keep, out.set_aside_why = group
        out.n_set_aside = int((~keep).sum())
        trs = [t for t, k in zip(trs, keep) if k]
        widths, profiles = widths[keep], profiles[keep]
        lengths, ratio = lengths[keep], ratio[keep]
        med = float(np.median(lengths))
        curvature = float(np.median(ratio))
        curved = curvature > CURVED_RATIO
    out.n_traverses = len(trs)
    reasons.extend(gap_notes(rib, trs))
    out.thickness_mm = med
    out.thickness_sd_mm = float(np.std(lengths))
    out.thickness_p10_mm = float(np.percentile(lengths, 10))
    out.thickness_p90_mm = float(np.percentile(lengths, 90))
    out.curvature_ratio = curvature
    if curved:
        # (traverses that disagree in length showed no thickness: thickness_disagreement)
        out.oblique = True
        out.true_thickness_mm = out.thickness_p10_mm
        reasons.append(
            "oblique or tangential cut or a fold (traverses curved): the thickness is "
            "apparent; the estimated true thickness is the 10th percentile of the traverse "
            "lengths"
        )
    elif med > MAX_CORTEX_MM:
        out.oblique = True
        p10 = out.thickness_p10_mm
        out.true_thickness_mm = p10 if p10 <= MAX_CORTEX_MM else float("nan")
        reasons.append(
            f"oblique cut: the ribbon is {med:.1f} mm wide in the section, wider than "
            f"cortex is thick anywhere (at most about {MAX_CORTEX_MM:g} mm): the thickness "
            "is apparent; "
            + (
                "the estimated true thickness is the 10th percentile of the traverse lengths"
                if p10 <= MAX_CORTEX_MM
                else "even its narrowest traverses are too wide to estimate the true thickness"
            )
        )
    else:
        out.true_thickness_mm = med
    if len(trs) < MIN_TRAVERSES:
        reasons.append(f"ROI too small: only {len(trs)} traverses (>= {MIN_TRAVERSES} wanted)")
    out.depth = (np.arange(N_DEPTH) + 0.5) / N_DEPTH
    out.profile_mean = profiles.mean(0)
    out.profile_sd = profiles.std(0)
    out.profile_p10 = np.percentile(profiles, 10, axis=0)
    out.profile_p90 = np.percentile(profiles, 90, axis=0)
    out.layers = analyse_profile(
        out.profile_mean, med * 1000.0, profiles, pia_edge_um=max(PIA_EDGE_UM, 2 * p)
    )
    if len(trs) < L1_MIN_TRAVERSES:
        reasons.append(
            f"layer I: not read on {len(trs)} traverse{'s' if len(trs) != 1 else ''} "
            f"(>= {L1_MIN_TRAVERSES} wanted: its width varies along the ribbon)"
        )
    elif not np.isfinite(out.layers.layer_i_width_um):
        reasons.append(layer_i_unread(out.layers.layer_i_too_deep))
    ok_w = widths[np.isfinite(widths)]
    if ok_w.size:
        out.wm_border_width_um = float(np.median(ok_w))
        out.wm_border_n = int(ok_w.size)
        rel = widths / (lengths * 1000.0)  # the traverses' lengths, µm
        out.wm_border_n_sharp = int((rel[np.isfinite(rel)] <= SHARP_BORDER_REL).sum())
        share = out.wm_border_n_sharp / out.wm_border_n
        if share >= WM_TERM_SHARE:
            out.wm_border = "sharp"
        elif 1.0 - share >= WM_TERM_SHARE:
            out.wm_border = "gradual"
        else:
            out.wm_border = "varies"
    origin = np.array([y0, x0])
    out.traverses_um = [(t.points + 0.5) * p + origin for t in trs]
    glass = ref[0] if ref is not None else float(np.percentile(img[~outside], 99.5))
    if sizes[0] <= GRAIN_UM * 1.0001:
        grain = grain_profiles(
            lambda *a: section.read_window(*a, fill=np.nan), out.traverses_um, glass, N_DEPTH
        )
        out.grain_mean = grain.mean(0)
        out.layers = with_grain_iv(out.layers, out.grain_mean)
    progress(4)
    want = cells is True or (cells == "auto" and sizes[0] <= CELL_MAX_PX_UM)
    if cells is True and sizes[0] > CELL_MAX_PX_UM:
        reasons.append(
            f"cells: the scan's finest resolution ({sizes[0]:g} µm/px) is too coarse "
            f"(<= {CELL_MAX_PX_UM:g} µm/px needed)"
        )
    elif cells == "auto" and not want:
        reasons.append(f"cells: not measured at {sizes[0]:g} µm/px (<= {CELL_MAX_PX_UM:g} needed)")
    blurred = False  # most cell windows out of focus: the columns' somata would be too
    if want:
        pick = np.unique(np.linspace(0, len(trs) - 1, min(CELL_TRAVERSES, len(trs))).round())
        paths = [out.traverses_um[int(i)] for i in pick]
        cell_px = sizes[section.level_for(CELL_MAX_PX_UM)]
        out.cells = cells_along(section.read_window, paths, glass, cell_px, cancel=check)
        why = _focus_reason(out.cells)
        if why:
            reasons.append(why)
        if out.cells.blurred and 2 * len(out.cells.blurred) > out.cells.n_windows:
            out.cells = None  # most of the region out of focus: no density, no large pyramids
            blurred = True
        else:
            civ = iv_from_cells(out.cells.depth_of_cell, out.cells.diam_um)
            out.layers = with_cell_iv(out.layers, civ)
    columns = cells if columns is None else columns
    if columns and blurred:
        reasons.append(
            "columnar organisation: not read, the region's cell windows are out of focus"
        )
    elif columns and sizes[0] <= COLUMN_MAX_PX_UM * 1.0001:
        pick = np.unique(np.linspace(0, len(trs) - 1, min(3, len(trs))).round())
        col_px = sizes[section.level_for(COLUMN_MAX_PX_UM)]
        out.columns = columns_along(
            lambda *a: section.read_window(*a, fill=np.nan),
            [out.traverses_um[int(i)] for i in pick], glass, col_px, cancel=check,
        )
        if out.columns.term is None:
            reasons.append(
                f"columnar organisation: too few somata ({out.columns.n_somata}) in "
                f"{out.columns.n_windows} window(s) at mid-depth"
            )
    elif columns is True or columns == "auto":
        reasons.append(
            f"columnar organisation: the scan's finest resolution ({sizes[0]:g} µm/px) is "
            f"too coarse (<= {COLUMN_MAX_PX_UM:g} µm/px needed)"
        )
    progress(total)
    return out
