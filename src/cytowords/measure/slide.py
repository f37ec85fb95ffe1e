"""A whole slide's own levels, read once from its coarse pyramid level: the glass and the
typical tissue optical density (:func:`slide_reference`, the reference of every window's
optical density), and the typical white and grey matter (:func:`slide_matter`, kept only
where the paler tissue lies beside the cortical ribbon as white matter does). Each is
cached per slide (dask array name), so one slide pays it once."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_multiotsu, threshold_otsu
from skimage.morphology import disk

from ..sections.intensity import bit_depth_white
from .gaps import GLASS_OD_SPREAD, LAYER_I_MAX_UM, WM_MIN_RADIUS_UM
from .ribbon import (
    CLIPPED_OD,
    DENSITY_SIGMA_UM,
    MIN_WM_CONTRAST,
    PALE_NOISE,
    TISSUE_SHARE,
)

#: the slide's layout (:func:`_lies_as_white_matter`) is judged on a level at most this
#: fine (µm per pixel) and this large (pixels per side)
LAYOUT_MAX_UM = 64.0
LAYOUT_MAX_PX = 4096
#: share of a white-matter part's edge with the denser tissue that is the cortical ribbon
#: (denser tissue that reaches the glass: :func:`_lies_as_white_matter`)
WM_RIBBON_SHARE = 2 / 3
#: a four-class split's palest class is the glass only when 90 % of it lies under this
#: share of the split (a narrow mode near the glass level, not a cut through pale tissue)
GLASS_MODE_SHARE = 0.5

#: the tissue's outline on a slide whose glass is clipped (:func:`clipped_tissue`): its
#: unclipped pixels closed over gaps up to twice this (µm) ...
CLIP_OUTLINE_UM = 100.0
#: ... leaving out unclipped specks smaller than this (µm², dust on the glass)
CLIP_SPECK_UM2 = 300.0**2

_REF_CACHE: dict[str, tuple[float, float] | None] = {}
_CLIPPED_CACHE: dict[tuple[str, float], bool] = {}
_CLIPPED_TISSUE_CACHE: dict[str, float] = {}
_MATTER_CACHE: dict[tuple[str, tuple[float, float], bool], tuple[float, float] | None] = {}


def slide_reference(levels: list, dtype_max: float | None = None) -> tuple[float, float] | None:
    """``(glass level, typical tissue OD)`` of a whole slide from its coarsest level.

    ``None`` when the coarsest level shows no clear bright background (a crop entirely
    inside the tissue). Cached per dask array name, so one slide pays it once.
    """
    lev = levels[-1]
    key = getattr(lev, "name", None)
    if key is not None and key in _REF_CACHE:
        return _REF_CACHE[key]
    img = np.asarray(lev[:4096, :4096], dtype=np.float64)
    out = _reference_from(img)
    if key is not None:
        _REF_CACHE[key] = out
    return out


def clipped_glass(levels: list, glass: float) -> bool:
    """Whether the slide's glass level ``glass`` (raw, :func:`slide_reference`) is the top
    of the data's range (:func:`~cytowords.sections.intensity.bit_depth_white` of the
    coarsest level): an exposure too long clips the glass, and the palest tissue beside
    it, at that value. The glass then reads as a plateau without noise; its true level,
    and so the optical density of the tissue against it, is unknown (the tissue reads
    paler than it is). Cached per dask array name and glass level."""
    lev = levels[-1]
    key = (getattr(lev, "name", None), float(glass))
    if key[0] is not None and key in _CLIPPED_CACHE:
        return _CLIPPED_CACHE[key]
    top = bit_depth_white(np.asarray(lev[:4096, :4096], dtype=np.float64))[1]
    out = bool(glass >= top)
    if key[0] is not None:
        _CLIPPED_CACHE[key] = out
    return out


def clipped_tissue(levels: list, pixel_size_um: list[float]) -> float:
    """The share of a slide's tissue (0-1) that reads at the top of the data's range
    (:func:`~cytowords.sections.intensity.bit_depth_white`, within
    :data:`~.ribbon.CLIPPED_OD`) as clipped glass does (:func:`clipped_glass`), judged on
    the layout level (:func:`_layout_level`; ``pixel_size_um`` µm/px of each level): the
    tissue is the outline of the pixels under that plateau, without specks smaller than
    :data:`CLIP_SPECK_UM2`, closed over gaps up to twice :data:`CLIP_OUTLINE_UM` and its
    holes filled. An exposure too long clips the palest tissue enclosed by denser tissue
    (white matter inside the cortical ribbon) as the glass: the readout cannot tell it
    from the glass. Clipped tissue that reaches the glass (layer I, white matter at a cut
    edge) is not enclosed and not counted. Cached per dask array name."""
    i = _layout_level(levels, pixel_size_um)
    key = getattr(levels[i], "name", None)
    if key is not None and key in _CLIPPED_TISSUE_CACHE:
        return _CLIPPED_TISSUE_CACHE[key]
    px = float(pixel_size_um[i])
    img = np.asarray(levels[i], dtype=np.float64)
    top = bit_depth_white(np.asarray(levels[-1][:4096, :4096], dtype=np.float64))[1]
    valid = np.isfinite(img) & (img > 0)
    at = valid & (img >= top * np.exp(-CLIPPED_OD))
    lab, n = ndi.label(valid & ~at)
    if n:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        kept = sizes[lab] * px * px >= CLIP_SPECK_UM2
    else:
        kept = np.zeros(img.shape, bool)
    r = max(1, int(round(CLIP_OUTLINE_UM / px)))
    closed = ndi.binary_closing(np.pad(kept, r, mode="edge"), disk(r))[r:-r, r:-r]
    outline = ndi.binary_fill_holes(closed) & valid
    out = float((outline & at).sum() / outline.sum()) if outline.any() else 0.0
    if key is not None:
        _CLIPPED_TISSUE_CACHE[key] = out
    return out


def _reference_from(img: np.ndarray) -> tuple[float, float] | None:
    v = img[np.isfinite(img) & (img > 0)]
    if v.size < 100:
        return None
    glass = float(np.percentile(v, 99.0))
    od = np.log(glass / np.maximum(v, 1e-6))
    # glass present: a bright class near zero OD and a tissue class clearly darker; where
    # white matter covers much of the slide the two-class split can fall between white and
    # grey matter, so a three-class split (glass, white, grey) is tried as well
    splits = [float(threshold_otsu(od))]
    if np.ptp(od) > 0:
        splits.append(float(threshold_multiotsu(od, classes=3)[0]))
    for t in splits:
        tissue_od = _glass_split(od, t)
        if tissue_od is not None:
            return glass, tissue_od
    # a crop with little glass beside much pale white matter and a banded cortex: the
    # three-class split puts the white matter with the glass. Four classes can split the
    # glass off; taken only when that class is a mode of its own (most of it well under
    # the split), not the pale tail of white matter in a crop without glass
    if np.ptp(od) > 0 and np.unique(od).size >= 4:
        t = float(threshold_multiotsu(od, classes=4)[0])
        tissue_od = _glass_split(od, t)
        if tissue_od is not None and np.percentile(od[od <= t], 90) <= GLASS_MODE_SHARE * t:
            return glass, tissue_od
    return None


def _glass_split(od: np.ndarray, t: float) -> float | None:
    """The tissue's typical optical density (the dark side's median) when the split ``t`` of
    optical densities ``od`` has glass on its bright side: both sides at least 5 % of the
    pixels, the bright side's median at most 0.3 of the dark side's, and the dark side
    clearly stained (median OD >= 0.05); else None."""
    dark, bright = od[od > t], od[od <= t]
    if dark.size < 0.05 * od.size or bright.size < 0.05 * od.size:
        return None
    tissue_od = float(np.median(dark))
    if np.median(bright) > 0.3 * tissue_od or tissue_od < 0.05:
        return None
    return tissue_od


def slide_matter(
    levels: list,
    pixel_size_um: list[float],
    reference: tuple[float, float],
    light: tuple | None = None,
) -> tuple[float, float] | None:
    """``(white matter, grey matter)`` typical optical densities of a whole slide, from its
    coarsest level: the medians of the two classes of an Otsu split of the tissue's OD
    (``reference`` the slide's glass level and typical tissue OD, :func:`slide_reference`;
    ``pixel_size_um`` µm per pixel of each level; ``light`` the slide's uneven light,
    :func:`.illumination.slide_field`, divided out of the levels first, its reference then
    being ``light[2]``).

    ``None`` when the slide shows no two clearly different kinds of tissue
    (:data:`MIN_WM_CONTRAST`), or when its paler kind does not lie beside the cortical
    ribbon as white matter does (:func:`_lies_as_white_matter`: on a crop of cortex alone
    the two kinds are pale and dense layers). Cached per dask array name and reference."""
    from .illumination import flatten_window

    lev = levels[-1]
    key = getattr(lev, "name", None)
    ckey = (key, reference, light is not None)
    if key is not None and ckey in _MATTER_CACHE:
        return _MATTER_CACHE[ckey]

    def read(i: int, cap: int | None = None) -> np.ndarray:
        a = levels[i] if cap is None else levels[i][:cap, :cap]
        img = np.asarray(a, dtype=np.float64)
        if light is not None:
            img = flatten_window(img, 0.0, 0.0, float(pixel_size_um[i]), light)
        return img

    img = read(len(levels) - 1, 4096)
    out = _matter_from(img, reference)
    if out is not None:
        i = _layout_level(levels, pixel_size_um)
        lay = img if i == len(levels) - 1 else read(i)
        if not _lies_as_white_matter(lay, float(pixel_size_um[i]), reference, out):
            out = None
    if key is not None:
        _MATTER_CACHE[ckey] = out
    return out


def _slide_tissue(od: np.ndarray, tissue_od: float, valid: np.ndarray | None = None) -> np.ndarray:
    """The tissue of a slide's OD image: above a quarter of its typical tissue OD
    (:data:`TISSUE_SHARE`), and the paler tissue clearly above the glass
    (:data:`GLASS_OD_SPREAD` plus :data:`PALE_NOISE` times the glass's own OD noise) away
    from the tissue's edge: white matter that a silver (Merker) stain leaves nearly
    uncoloured falls under the quarter, and without it the slide's two kinds of tissue
    would be a pale and a dense layer of the cortex. ``valid`` marks the pixels read."""
    valid = np.isfinite(od) if valid is None else valid
    tissue = valid & (od > TISSUE_SHARE * tissue_od)
    glass = valid & (od <= 0.5 * TISSUE_SHARE * tissue_od)
    if glass.sum() < 50:
        return tissue
    g = od[glass]
    noise = 1.4826 * float(np.median(np.abs(g - np.median(g))))
    above = valid & (od > GLASS_OD_SPREAD + PALE_NOISE * noise)
    # one pixel in from the tissue's edge: the edge's pixels mix tissue and glass
    return tissue | ndi.binary_erosion(above)


def _matter_from(img: np.ndarray, reference: tuple[float, float]) -> tuple[float, float] | None:
    glass, tissue_od = reference
    valid = np.isfinite(img) & (img > 0)
    od_img = np.log(glass / np.maximum(np.where(valid, img, glass), 1e-6))
    od = od_img[_slide_tissue(od_img, tissue_od, valid)]
    if od.size < 100 or np.ptp(od) <= 0:
        return None
    t = float(threshold_otsu(od))
    lo, hi = od[od <= t], od[od > t]
    if lo.size < 0.05 * od.size or hi.size < 0.05 * od.size:
        return None
    w, g = float(np.median(lo)), float(np.median(hi))
    if g - w < MIN_WM_CONTRAST * g:
        return None
    return w, g


def _layout_level(levels: list, pixel_size_um: list[float]) -> int:
    """The level on which the slide's layout is judged: the coarsest one at most
    :data:`LAYOUT_MAX_UM` per pixel and :data:`LAYOUT_MAX_PX` pixels wide and high (the
    coarsest level when none is)."""
    for i in range(len(levels) - 1, -1, -1):
        if pixel_size_um[i] <= LAYOUT_MAX_UM:
            if max(levels[i].shape[-2:]) <= LAYOUT_MAX_PX:
                return i
            return min(i + 1, len(levels) - 1)
    return len(levels) - 1


def _lies_as_white_matter(
    img: np.ndarray,
    pixel_um: float,
    reference: tuple[float, float],
    matter: tuple[float, float],
) -> bool:
    """Whether the slide's paler kind of tissue lies as white matter does: beside the
    cortical ribbon. True when a part of it at least :data:`WM_MIN_RADIUS_UM` thick is
    lined along most (:data:`WM_RIBBON_SHARE`) of its edge by denser tissue that reaches
    the glass, or by the glass itself (a cut edge or a tear; the tissue within
    :data:`LAYER_I_MAX_UM` of the glass, as pale as layer I is, counts as glass). The edge
    along the image's border is not counted. A
    pale band of a cortex cut out without its white matter is lined by the ribbon on its
    outer side only: on its inner side lie deeper layers that reach no glass. ``img`` raw
    intensities at ``pixel_um`` µm/px; ``matter`` the slide's (white, grey) OD
    (:func:`_matter_from`)."""
    glass_level, tissue_od = reference
    od = np.log(glass_level / np.maximum(img, 1e-6))
    od[~np.isfinite(img) | (img <= 0)] = 0
    smooth = ndi.gaussian_filter(od, max(0.7, DENSITY_SIGMA_UM / pixel_um))
    tissue = _slide_tissue(smooth, tissue_od, np.isfinite(img) & (img > 0))
    depth = ndi.distance_transform_edt(tissue)
    outer = depth * pixel_um <= LAYER_I_MAX_UM
    pale = tissue & ~outer & (smooth <= 0.5 * (matter[0] + matter[1]))
    dense = tissue & ~outer & ~pale
    lab_d, n_d = ndi.label(dense)
    reaches = np.zeros(n_d + 1, bool)
    reaches[np.unique(lab_d[ndi.binary_dilation(outer) & dense])] = True
    reaches[0] = False
    ribbon = reaches[lab_d]
    lab, n = ndi.label(pale)
    if n == 0:
        return False
    radius = ndi.maximum(ndi.distance_transform_edt(pale), lab, index=np.arange(1, n + 1))
    # beside each pixel of the pale parts' edges: the label of the pale part
    ring_lab = ndi.grey_dilation(lab, size=(3, 3)) * (dense | outer)
    for k in np.flatnonzero(np.asarray(radius) * pixel_um >= WM_MIN_RADIUS_UM) + 1:
        ring = ring_lab == k
        good, bad = (ring & (ribbon | outer)).sum(), (ring & dense & ~ribbon).sum()
        if good + bad and good >= WM_RIBBON_SHARE * (good + bad):
            return True
    return False
