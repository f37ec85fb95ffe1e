"""The cortical ribbon in a window: stain normalisation, tissue, white matter, pia, depth.

This module segments the window (:func:`segment`: tissue, white matter, pia) and solves the
depth potential (:func:`_laplace`); the detectors of gaps in the tissue that are no white
matter or cortex (glassless gaps, pale holes, cracks, narrow sulci, tears) and the pia's
layer-I test live in :mod:`.gaps`, with their constants.

Assumptions (cell-body stain: Nissl, Merker): somata are dark on a bright background; the
glass is the brightest large structure of the slide; white matter is paler than the grey
matter (few neurons) but darker than the glass. No fixed intensity is used:

- **Optical density.** ``OD = log(glass / I)``, where ``glass`` is the bright level of the
  whole slide (a high percentile of the coarsest pyramid level, computed once per
  section: :func:`.slide.slide_reference`) or, when the slide shows no glass, of the window itself.
- **Tissue** is where the lightly smoothed OD exceeds a quarter of the slide's typical
  tissue OD (Otsu split of the coarsest level); pale holes smaller than
  :data:`.gaps.HOLE_UM` (vessels, tears) are filled. White matter that the stain leaves nearly
  uncoloured (Merker's) can fall under that level; the rest of the window joins the
  tissue where it is clearly above the glass (its noise level, :func:`_pale_tissue`) in
  bulky parts that touch no clear glass, so the pia stays where the quarter puts it; and
  so do the parts under that level with no core at the glass's level (no glass: gaps of a
  white matter whose pale texture dips under the threshold).
- **White matter** is the pale class of an Otsu split of the cell-density map (OD smoothed
  over :data:`DENSITY_SIGMA_UM`) within the tissue (split once more when its paler part
  differs from the rest by :data:`MIN_WM_CONTRAST` of the grey level: where little white
  matter is in view a pale cortical band joins the pale class; where the pale class as a
  whole is too near the grey level, its paler part stands for it when that part is
  :data:`MIN_WM_CONTRAST` below the grey level and nearer the slide's white than its grey
  matter: a corner of white matter beside a wide pale cortex, cut at most at the slide's
  white/grey mid-point and kept only where it lies at
  the window's edge, :data:`CORNER_OPEN_SHARE`; a pale band inside a thick cortex, grey
  matter on both sides, is no corner), grown from cores: pale parts farther
  than :data:`.gaps.LAYER_I_MAX_UM` from the glass (the pale layer I is not white matter) with an
  inscribed radius of at least :data:`.gaps.WM_MIN_RADIUS_UM`, to the pale tissue within
  :data:`.gaps.LAYER_I_MAX_UM` of them (white matter reaching the glass at a cut edge or a
  tear), kept where most of it lies beyond :data:`.gaps.LAYER_I_MAX_UM` from the glass; only when the two classes differ clearly (:data:`MIN_WM_CONTRAST`).
  Where none is found so, a very pale white matter may be cracked all through: narrow
  glass closed in the tissue and lined :data:`.gaps.CRACK_LINING_UM` away by tissue as pale as
  the slide's white matter (:func:`.gaps._wm_cracks`) does not count for layer I's reach when
  the white matter then found lines it; nor, where that finds none either, does a crack
  along the grey/white border (:func:`.gaps._border_cracks`: one bank as pale as white matter
  :data:`.gaps.CRACK_LINING_UM` and :data:`.gaps.CRACK_DEEP_UM` away, the other cortex) when the white
  matter then found lines its white bank.
  With the slide's typical white and grey matter (:func:`.slide.slide_matter`), a part
  whose median density lies nearer the slide's grey than its white matter is no white
  matter but a pale layer of a thick cortex (paler than the dense layers beside it in the
  window, far darker than the white matter elsewhere on the slide): set aside
  (``Ribbon.pale_band``), except its pieces as pale as the slide's white matter (below the
  mid-point, their median within :data:`WM_LIKE_SHARE` of the way; white matter joined to a pale deep
  layer). So is a part that comes nearer the glass than any cortex is thick while a
  deeper part is clearly paler (:func:`_pale_upper_cortex`: a pale upper cortex above a
  dense band, with the white matter beyond it).
  Glass in narrow gaps within :data:`.gaps.LAYER_I_MAX_UM` of the white matter (cracks and
  tears along the grey/white border) is taken as white matter, not as glass: the grey
  matter along such a crack is no pia.
- **Narrow sulci.** In the grey matter farther than :data:`.gaps.PRESSED_MIN_UM` from the
  white matter, a line of light narrower than :data:`.gaps.CLEFT_MAX_UM`, lined by a pale layer
  I, is glass (:func:`.gaps._clefts`: a sulcus whose pial surfaces almost touch); where no pia
  is in view, a pale band of two layer I's back to back far from glass and white matter
  is split at its midline (:func:`.gaps._pressed_banks`: banks pressed together).
- **Depth.** Laplace's equation is solved on the grey matter with the potential 0 at the
  pia and 1 at the white matter; the traverses are its streamlines (:mod:`.traverses`).
  The pia is the grey matter next to the glass where a pale layer I lines it
  (:func:`.gaps._layer_i_lined`); glass edges without one (a tear into the cortex, a large hole:
  they cut across the layers) are no pia and no boundary of the potential (no flux).
- **Tears and bubbles.** Glass at most :data:`.gaps.TEAR_MAX_UM` wide lined on both sides by
  tissue that is no pale layer I (:func:`.gaps._tears`: a tear cutting across the layers), and
  parts of the window enclosed by tissue and far paler than it (:func:`.gaps._pale_holes`: an
  air bubble, a large hole; before the white matter is looked for, which they would
  otherwise become) are neither pia nor white matter: they join the grey matter, the
  traverses cross them, and their pixels (with a rim of about 30 µm) are filled from the
  tissue around them (:func:`.gaps._filled`) so that the profiles do not read their glass
  (``Ribbon.gaps``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from scipy import sparse
from scipy.sparse.linalg import splu
from skimage.filters import threshold_multiotsu, threshold_otsu

from ..min_traverse import MIN_TRAVERSE_UM
from .gaps import (
    _LAST_GLASS,
    GLASS_OD_SPREAD,
    HOLE_UM,
    LAYER_I_MAX_UM,
    PRESSED_MIN_UM,
    WM_MIN_RADIUS_UM,
    _border_cracks,
    _clefts,
    _cracks,
    _filled,
    _glass_distance,
    _glassless_gaps,
    _layer_i_lined,
    _lined_by,
    _pale_holes,
    _pressed_banks,
    _reaching,
    _tears,
    _wm_cracks,
)

DENSITY_SIGMA_UM = 60.0
MIN_WM_CONTRAST = 0.25
WM_SMOOTH_UM = 80.0
#: tissue: smoothed OD above this share of the slide's typical tissue OD
TISSUE_SHARE = 0.25
#: ... plus this many times the pixel noise of the OD in the rest of the window
PALE_NOISE = 4.0
#: the glass clipped at the top of the range (:func:`.slide.clipped_glass`) reads exactly
#: there, without noise: pale tissue lies more than this OD (1 % of the light) under it
CLIPPED_OD = 0.01
#: glass narrower than this (µm) is a crack or a vessel's track, not the glass beside a pia
CRACK_MAX_UM = 100.0
#: tissue as pale as the slide's white matter lies at most this share of the way from the
#: slide's white to its grey matter: the lining of a hole in the white matter (a large
#: vessel, a tear; 90th percentile), white matter joined to a pale band (median)
WM_LIKE_SHARE = 0.25
#: a corner of white matter (the small palest part that the corner rule of
#: :func:`_white_matter` takes) lies at the window's edge, beyond the cortex: the window's
#: edge makes at least this share of its outline (edge and grey-matter border; a quarter
#: disc in a window's corner 0.56, a half disc on its edge 0.39); a pale band inside the
#: cortex has grey matter on both sides, enclosed but for a tip at the edge
CORNER_OPEN_SHARE = 0.25
#: a pale upper cortex (:func:`_pale_upper_cortex`): a part of the white matter found that
#: comes nearer the glass than the shortest cortical column (:data:`MIN_TRAVERSE_UM`) is a
#: pale layer of the cortex when another part, lying deeper, is paler than it by at least
#: this share (in median density and in their palest tenth beyond layer I's reach) and as
#: pale as the slide's white matter (:data:`WM_LIKE_SHARE`)
PALER_DEEPER_SHARE = 0.1
#: the depth potential is solved on a grid with at most this many grey pixels
LAPLACE_MAX_UNKNOWNS = 20000


def optical_density(img: np.ndarray, glass: float) -> np.ndarray:
    """``log(glass / I)`` clipped at 0 (0 = glass, larger = more stain), float32 (computed
    in ``img``'s precision, in one buffer)."""
    od = np.maximum(img, glass * 1e-3)
    np.divide(glass, od, out=od)
    np.log(od, out=od)
    np.clip(od, 0, None, out=od)
    return od.astype(np.float32, copy=False)


@dataclass
class Ribbon:
    """The segmented window (all masks on the window's pixel grid, ``pixel_um`` µm/px).

    ``potential`` is the Laplace depth (0 pia .. 1 white matter) on the grey matter and NaN
    elsewhere; ``reasons`` lists why a part could not be found.
    """

    od: np.ndarray
    density: np.ndarray
    pixel_um: float
    tissue: np.ndarray
    wm: np.ndarray
    grey: np.ndarray
    pia: np.ndarray
    potential: np.ndarray
    wm_level: float = float("nan")
    grey_level: float = float("nan")
    reasons: list[str] = field(default_factory=list)
    #: pale tissue shaped as white matter but darker than the slide's white matter (a pale
    #: layer of the cortex, see :func:`_white_matter`); None when none was set aside
    pale_band: np.ndarray | None = None
    #: tears and pale holes (:func:`.gaps._tears`, :func:`.gaps._pale_holes`) taken into the grey
    #: matter: the traverses cross them and ``od`` there is filled from the tissue around
    #: (:func:`.gaps._filled`); ``{"tear": mask, "bubble": mask}``, only those found
    gaps: dict[str, np.ndarray] = field(default_factory=dict)
    #: the part of ``pale_band`` set aside as a pale upper cortex (:func:`_pale_upper_cortex`):
    #: the pia along it is read only where it shows a region
    #: (:func:`.traverses.trace_traverses`); None when none was set aside
    pale_upper: np.ndarray | None = None


def segment(
    img: np.ndarray,
    pixel_um: float,
    reference: tuple[float, float] | None,
    outside: np.ndarray | None = None,
    matter: tuple[float, float] | None = None,
    clipped: bool = False,
) -> Ribbon:
    """Segment a window (raw intensities, bright background) into glass, grey and white
    matter, and solve the depth potential on the grey matter. ``outside`` marks pixels
    beyond the section (not glass, not tissue: no pia there); ``matter`` is the slide's
    typical white and grey matter OD (:func:`.slide.slide_matter`): a window all as pale as the
    slide's white matter is white matter (see :func:`_white_matter`); ``clipped``: the
    reference's glass is clipped at the top of the data's range
    (:func:`.slide.clipped_glass`), the pale tissue is read against that plateau
    (:func:`_pale_tissue`)."""
    outside = np.zeros(img.shape, bool) if outside is None else outside
    inside_px = img[~outside]
    if reference is not None:
        glass, tissue_od = reference
    else:
        glass = float(np.percentile(inside_px, 99.5)) if inside_px.size else 1.0
        tissue_od = float("nan")
    od = optical_density(img, glass)
    od[outside] = 0
    smooth = ndi.gaussian_filter(od, max(0.7, 15.0 / pixel_um))
    hole_px = (HOLE_UM / pixel_um) ** 2
    if np.isfinite(tissue_od):
        tissue = (smooth > TISSUE_SHARE * tissue_od) & ~outside
        tissue = _fill_small_holes(tissue, hole_px)
        tissue = _remove_small(tissue, hole_px)
        pale = _pale_tissue(
            img, glass, smooth, tissue, outside, pixel_um, TISSUE_SHARE * tissue_od, clipped
        )
        if pale.any():
            tissue = _fill_small_holes(tissue | pale, hole_px)
    else:
        tissue = ~outside
    gaps: dict[str, np.ndarray] = {}
    if matter is not None and np.isfinite(tissue_od):
        holes = _pale_holes(smooth, tissue, outside, pixel_um)
        if holes.any():
            gaps["bubble"] = holes
            tissue = tissue | holes
            od = _filled(od, holes, tissue & ~holes, pixel_um)
    density = ndi.gaussian_filter(od, DENSITY_SIGMA_UM / pixel_um)
    glass_mask = ~tissue & ~outside
    reasons: list[str] = []
    wm = np.zeros(img.shape, bool)
    wm_level = grey_level = float("nan")
    pale_band = pale_upper = None
    if tissue.sum() < 50:
        reasons.append("not cortex: no tissue in the ROI")
    else:
        wm, wm_level, grey_level, pale_band, pale_upper = _white_matter(
            density, tissue, glass_mask, pixel_um, matter
        )
    if wm.any() and glass_mask.any():
        crack = _cracks(tissue, glass_mask, wm, pixel_um)
        wm = wm | crack
        glass_mask = glass_mask & ~crack
    if wm.any():
        # narrow sulci lie a cortical thickness from the white matter (pale streaks in and
        # near it are vessels and cracks)
        far_wm = ndi.distance_transform_edt(~wm) * pixel_um > PRESSED_MIN_UM
        cleft = _clefts(
            od, tissue, glass_mask, tissue & ~wm & far_wm, grey_level, pixel_um, tissue_od
        )
        cleft = _widened(cleft, tissue & ~wm) & far_wm
        # two banks pressed together are looked for only where no pia is in view (a pale
        # deep layer of thick cortex or a vessel looks alike)
        pressed = np.zeros(img.shape, bool)
        if not (tissue & ~wm & ndi.binary_dilation(glass_mask | cleft)).any():
            pressed = _pressed_banks(
                density,
                tissue & ~wm & ~cleft,
                glass_mask | cleft,
                far_wm,
                wm_level,
                grey_level,
                pixel_um,
            )
            pressed = _widened(pressed, tissue & ~wm) & far_wm
        tissue &= ~(cleft | pressed)
        glass_mask |= cleft | pressed
    grey = tissue & ~wm
    if wm.any() and glass_mask.any() and np.isfinite(grey_level):
        tear = _tears(od, tissue, glass_mask, grey_level, pixel_um, outside)
        if tear.any():
            gaps["tear"] = tear
            od = _filled(od, tear, tissue, pixel_um)
            tissue = tissue | tear
            glass_mask = glass_mask & ~tear
            grey = tissue & ~wm
    cross = ndi.generate_binary_structure(2, 1)
    pia = grey & ndi.binary_dilation(glass_mask, structure=cross)
    # the edges of a tear cut across the layers (no pale layer I along them): no pia, and
    # no flux across them (the glass beside them is no boundary of the depth potential)
    torn = pia & ~_layer_i_lined(od, tissue, glass_mask, grey_level, pixel_um)
    if (pia & ~torn).any() and torn.any():
        pia &= ~torn
        near = max(3, int(np.ceil(2 * np.sqrt(grey.sum() / LAPLACE_MAX_UNKNOWNS))) + 1)
        d_torn = ndi.distance_transform_edt(~torn)
        d_pia = ndi.distance_transform_edt(~pia)
        glass_bc = glass_mask & ~((d_torn <= near) & (d_torn < d_pia))
    else:
        glass_bc = glass_mask
    potential = np.full(img.shape, np.nan, np.float32)
    if pia.any() and wm.any():
        potential = _laplace(grey, glass_bc, wm)
    _LAST_GLASS.pairs = []  # a pooled worker thread keeps no window's masks
    return Ribbon(
        od,
        density,
        pixel_um,
        tissue,
        wm,
        grey,
        pia,
        potential,
        wm_level,
        grey_level,
        reasons,
        pale_band,
        gaps,
        pale_upper,
    )


def _pale_tissue(
    img: np.ndarray,
    glass: float,
    smooth: np.ndarray,
    tissue: np.ndarray,
    outside: np.ndarray,
    pixel_um: float,
    tissue_level: float,
    clipped: bool = False,
) -> np.ndarray:
    """Pale tissue under the tissue threshold: white matter that the stain leaves nearly
    uncoloured (Merker's stain), or that an exposure too long lifts nearly to the clipped
    glass (``clipped``: the glass reads exactly at the top of the data's range, its true
    level unknown; the level that pale tissue lies above is then :data:`CLIPPED_OD`, the
    plateau having no noise, instead of the one below). It is the part of the rest of the window (``~tissue``,
    not ``outside``) whose smoothed OD ``smooth`` is clearly above the glass (more than
    :data:`.gaps.GLASS_OD_SPREAD` plus :data:`PALE_NOISE` times the pixel noise of the OD, a
    robust SD of its fine detail there), in components that are bulky (an inscribed
    radius of at least :data:`.gaps.WM_MIN_RADIUS_UM`, as a white-matter core) and touch no
    clear glass (pieces of at least :data:`.gaps.HOLE_UM` below that level). The band at the
    pial edge (the glass's blur and a pale layer I beside it) is thin and touches the
    glass, so the pia stays where the tissue threshold puts it.

    Also pale tissue: the parts of the rest of the window (connected components of
    ``~tissue & ~outside``) that hold no clear glass, no core of pixels at or under that
    level :data:`.gaps.CLEAR_CORE_UM` from anything paler than the glass, and touch nothing
    ``outside``: the gaps of a white matter whose texture (its pale ground between the
    rows of glial cells) dips under the tissue threshold. Glass (the slide around the
    section, a sulcus, a tear or a vessel's lumen) shows the glass's level at its middle;
    such a gap, of any size or shape, is above it throughout. A part that reaches the
    window's edge (its middle may lie beyond) is taken only when its median smoothed OD
    is nearer the tissue threshold ``tissue_level`` than the glass level or it is bulky
    (an inscribed radius of at least :data:`.gaps.WM_MIN_RADIUS_UM`)."""
    none = np.zeros(tissue.shape, bool)
    cand = ~tissue & ~outside
    if cand.sum() < 50:
        return none
    logi = np.log(np.maximum(img, glass * 1e-3).astype(np.float32))
    fine = logi - ndi.gaussian_filter(logi, max(0.7, 15.0 / pixel_um))
    dev = fine[cand]
    noise = 1.4826 * float(np.median(np.abs(dev - np.median(dev))))
    level = GLASS_OD_SPREAD + PALE_NOISE * noise
    # the glass's own level (its noise read where the smoothed OD is at most half the
    # tissue threshold, as for the slide): a pale white matter's texture is no glass noise
    on_glass = cand & (smooth <= 0.5 * tissue_level)
    if on_glass.sum() >= 50:
        g = fine[on_glass]
        glass_level = GLASS_OD_SPREAD + PALE_NOISE * 1.4826 * float(
            np.median(np.abs(g - np.median(g)))
        )
    else:
        glass_level = level
    if clipped:
        level = glass_level = CLIPPED_OD
    gaps = _glassless_gaps(
        cand,
        smooth,
        outside,
        min(level, glass_level),
        tissue_level,
        pixel_um,
        optical_density(img, glass),
    )
    low = cand & (smooth > level) & ~gaps
    if not low.any():
        return gaps
    lab, n = ndi.label(low)
    keep = _reaching(ndi.distance_transform_edt(low) * pixel_um, lab, n, WM_MIN_RADIUS_UM)
    if not keep.any():  # no bulky part: the glass beside it need not be looked at
        return gaps
    clear = _remove_small(cand & ~low & ~gaps, (HOLE_UM / pixel_um) ** 2)
    if clear.any():
        keep[np.unique(lab[ndi.binary_dilation(clear, structure=np.ones((3, 3), bool))])] = False
    keep[0] = False
    return keep[lab] | gaps


def _widened(lines: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """Thin glass ``lines`` widened to ``2 f - 1`` px, ``f`` the factor by which
    :func:`_laplace` will coarsen a window of about ``grey``'s grey matter, so that the
    coarse grid keeps them as glass (a block wholly inside them)."""
    f = int(np.ceil(np.sqrt(grey.sum() / LAPLACE_MAX_UNKNOWNS)))
    if f <= 1 or not lines.any():
        return lines
    return ndi.binary_dilation(lines, structure=np.ones((3, 3), bool), iterations=f - 1)


def _fill_small_holes(mask: np.ndarray, max_px: float) -> np.ndarray:
    lab, n = ndi.label(~mask)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())
    edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    small = sizes < max_px
    small[0] = False
    small[edge] = False
    return mask | small[lab]


def _remove_small(mask: np.ndarray, min_px: float) -> np.ndarray:
    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())
    keep = sizes >= min_px
    keep[0] = False
    return keep[lab]


def _pial_glass(
    glass: np.ndarray,
    density: np.ndarray,
    tissue: np.ndarray,
    matter: tuple[float, float],
    pixel_um: float,
) -> bool:
    """Whether the window shows glass a pia could line: glass wider than a crack
    (:data:`CRACK_MAX_UM`) that is not a hole in the white matter. A hole in the white
    matter (a large vessel with its perivascular space, a tear) is lined all round, within
    :data:`.gaps.LAYER_I_MAX_UM` of it, by tissue as pale as white matter: its 90th percentile
    of density at most :data:`WM_LIKE_SHARE` of the way from the slide's white to its
    grey matter (``matter``, OD). Beneath a pia, even a pale cortex's, lie the denser
    layers II-III within that reach."""
    wide = ndi.distance_transform_edt(glass) * pixel_um > CRACK_MAX_UM / 2
    if not wide.any():
        return False
    pale_max = matter[0] + WM_LIKE_SHARE * (matter[1] - matter[0])
    lab, _ = ndi.label(glass)
    for k in np.unique(lab[wide]):
        ring = tissue & (ndi.distance_transform_edt(lab != k) * pixel_um <= LAYER_I_MAX_UM)
        if not ring.any() or float(np.percentile(density[ring], 90)) > pale_max:
            return True
    return False


def _white_matter(
    density: np.ndarray,
    tissue: np.ndarray,
    glass: np.ndarray,
    pixel_um: float,
    matter: tuple[float, float] | None = None,
) -> tuple[np.ndarray, float, float, np.ndarray | None, np.ndarray | None]:
    """White matter (:func:`_white_matter_from`), and where none is found, white matter
    cracked all through: glass that is a crack in it (:func:`.gaps._wm_cracks`, a closed
    narrow glass inside the tissue) does not count for layer I's reach when the white
    matter found without it lines most of it (:func:`.gaps._lined_by`); where that finds none,
    a crack along the grey/white border (:func:`_white_matter_border`); otherwise none."""
    found = _white_matter_from(density, tissue, glass, glass, pixel_um, matter)
    if found[0].any() or matter is None or not glass.any():
        return found
    cracks = _wm_cracks(tissue, glass, density, matter, pixel_um)
    if not cracks.any():
        return _white_matter_border(density, tissue, glass, pixel_um, matter, found)
    # a crack lies inside the white matter: the white matter found without it lines it
    # (a closed sulcus or a hole in a pale cortex is lined by its layer I, which the share
    # of the slide's white matter and the cores' own test set aside)
    for _ in range(2):
        got = _white_matter_from(density, tissue, glass, glass & ~cracks, pixel_um, matter)
        if not got[0].any():
            break
        lined = _lined_by(cracks, got[0], tissue, pixel_um)
        if np.array_equal(lined, cracks):
            return got
        cracks = lined
        if not cracks.any():
            break
    return _white_matter_border(density, tissue, glass, pixel_um, matter, found)


def _white_matter_border(
    density: np.ndarray,
    tissue: np.ndarray,
    glass: np.ndarray,
    pixel_um: float,
    matter: tuple[float, float],
    found: tuple[np.ndarray, float, float, np.ndarray | None, np.ndarray | None],
) -> tuple[np.ndarray, float, float, np.ndarray | None, np.ndarray | None]:
    """Where neither main's rule nor the crack rule finds white matter: a crack along the
    grey/white border (:func:`.gaps._border_cracks`, white matter on one bank, cortex on the
    other) does not count for layer I's reach when the white matter then found lines at
    least half of its white bank within :data:`.gaps.LAYER_I_PROBE_UM`; otherwise ``found``."""
    cracks, white_bank = _border_cracks(tissue, glass, density, matter, pixel_um)
    if not cracks.any():
        return found
    got = _white_matter_from(density, tissue, glass, glass & ~cracks, pixel_um, matter)
    if not got[0].any():
        return found
    lined = _lined_by(cracks, got[0], tissue & white_bank, pixel_um)
    if not np.array_equal(lined, cracks):
        if not lined.any():
            return found
        got = _white_matter_from(density, tissue, glass, glass & ~lined, pixel_um, matter)
        if not got[0].any() or not np.array_equal(
            _lined_by(lined, got[0], tissue & white_bank, pixel_um), lined
        ):
            return found
    return got


def _white_matter_from(
    density: np.ndarray,
    tissue: np.ndarray,
    glass: np.ndarray,
    reach_glass: np.ndarray,
    pixel_um: float,
    matter: tuple[float, float] | None = None,
) -> tuple[np.ndarray, float, float, np.ndarray | None, np.ndarray | None]:
    """White-matter mask, the white/grey density levels (see module docstring), the
    pale parts set aside as a pale band of the cortex and, of them, those set aside as a
    pale upper cortex (:func:`_pale_upper_cortex`; each None when none).

    With the slide's typical white and grey matter OD (``matter``), a window without glass
    whose tissue is all nearer the slide's white than its grey matter (its denser class
    below their mid-point) is white matter throughout: a region drawn inside the white
    matter. Otherwise a pale part (shaped as white matter: core, beyond layer I's reach)
    whose median density lies above that mid-point, nearer the slide's grey than its white
    matter, is no white matter: a pale layer of a thick cortex (its deep or middle layers
    paler than the dense layers beside it in the window), returned as the band; of
    it, only the pieces at most as dense as that mid-point that have a core, lie mostly
    beyond layer I's reach and whose median lies within :data:`WM_LIKE_SHARE` of the way
    from the slide's white to its grey matter stay white matter (white matter joined to a
    pale deep layer).

    White matter found by the corner rule (the palest class too near the grey level, its
    paler Otsu part taken, cut at most at the slide's white/grey mid-point) must be a corner: a part whose outline lies less than
    :data:`CORNER_OPEN_SHARE` on the window's edge (:func:`_open_share`: enclosed by grey
    matter, a pale band inside a thick cortex with only its tip at the edge) is dropped
    (not returned as a pale band: it is as pale as the slide's white matter)."""
    if reach_glass.any():
        far = ndi.distance_transform_edt(~reach_glass) * pixel_um > LAYER_I_MAX_UM
    else:
        far = np.ones(tissue.shape, bool)
    cand_px = tissue & far
    if cand_px.sum() < 50:
        return np.zeros(tissue.shape, bool), float("nan"), float("nan"), None, None
    vals = density[cand_px]
    # three classes (white matter, pale and dense grey matter): pale deep layers (V, VI
    # of agranular cortex) must not join the white matter
    t = float(threshold_multiotsu(vals, classes=3)[0]) if np.ptp(vals) > 0 else float(vals[0])
    lo, hi = vals[vals <= t], vals[vals > t]
    if lo.size == 0 or hi.size == 0:
        return np.zeros(tissue.shape, bool), float("nan"), float("nan"), None, None
    wm_level, grey_level = float(np.median(lo)), float(np.median(hi))
    mid = 0.5 * (matter[0] + matter[1]) if matter is not None else float("nan")
    # and no glass in view that a pia could line (wider than a crack, not a hole in the
    # white matter: :func:`_pial_glass`): a region of cortex, however pale, shows its pia
    # (on a scan of Merker-like contrast a pale cortex can fall below the slide's mid-point)
    all_pale = (
        matter is not None
        and grey_level <= mid
        and not _pial_glass(glass, density, tissue, matter, pixel_um)
    )
    corner = False
    if all_pale:
        # the window's tissue is all pale by the slide's standard: white matter only
        t, wm_level = float(vals.max()), float(np.median(vals))
    elif (grey_level - wm_level) < MIN_WM_CONTRAST * grey_level:
        # a corner of white matter beside a wide pale cortex is a small part of the palest
        # class, whose median then lies in the pale cortex: its paler Otsu part stands for
        # it when that part differs from the grey level as white matter must
        # (MIN_WM_CONTRAST) and is as pale as the slide's white matter (its median nearer
        # the slide's white than its grey matter: the palest patch of a pale cortex is not)
        t2 = float(threshold_otsu(lo)) if np.ptp(lo) > 0 else float(lo[0])
        lo2 = lo[lo <= t2]
        wm2 = float(np.median(lo2)) if lo2.size else float("nan")
        if not (
            matter is not None
            and lo2.size < lo.size
            and grey_level - wm2 >= MIN_WM_CONTRAST * grey_level
            and wm2 <= mid
        ):
            return np.zeros(tissue.shape, bool), wm_level, grey_level, None, None
        # its pixels are those at most as dense as the slide's white/grey mid-point: the
        # class is mostly pale cortex, and its split can lie in that cortex's lower tail
        # (a pale deep layer next to the white matter would join it)
        t, wm_level, corner = min(t2, mid), wm2, True
    # where little white matter is in view, the palest class can hold a pale band of the
    # cortex (a pale layer III or V) as well: split it again and keep its paler part when
    # the two parts differ as clearly as white and grey matter must (MIN_WM_CONTRAST of
    # the grey level)
    if not all_pale and not corner and np.ptp(lo) > 0:
        t2 = float(threshold_otsu(lo))
        lo2, mid2 = lo[lo <= t2], lo[lo > t2]
        if (
            lo2.size
            and mid2.size
            and (float(np.median(mid2)) - float(np.median(lo2)) >= MIN_WM_CONTRAST * grey_level)
        ):
            t, wm_level = t2, float(np.median(lo2))
    pale = tissue & (density <= t)
    # a smooth border: no spikes or pits of single pale or dense patches
    pale = ndi.gaussian_filter(pale.astype(np.float32), WM_SMOOTH_UM / pixel_um) > 0.5
    pale = _fill_pits(pale, glass, pixel_um) & tissue
    # white matter lies under the cortex, beyond the reach of layer I: its cores are the
    # parts of pale components farther than LAYER_I_MAX_UM from the glass with an inscribed
    # radius of WM_MIN_RADIUS_UM (layer I, however wide, has none); white matter is the pale
    # tissue within LAYER_I_MAX_UM of a core, so that white matter reaching the glass at a
    # cut edge or a tear is kept but a pale band along the pia joined to it is not
    core = pale & far
    lab, n = ndi.label(core)
    if n == 0:
        return np.zeros(tissue.shape, bool), wm_level, grey_level, None, None
    dist = ndi.distance_transform_edt(core) * pixel_um
    cores = _reaching(dist, lab, n, WM_MIN_RADIUS_UM)[lab]
    if not cores.any():
        return cores, wm_level, grey_level, None, None
    near_core = ndi.distance_transform_edt(~cores) * pixel_um <= LAYER_I_MAX_UM
    wm = pale & near_core
    lab, n = ndi.label(wm)
    hit = np.zeros(n + 1, bool)
    hit[np.unique(lab[cores])] = True
    # and most of it lies beyond layer I's reach: a pale patch of deep cortex next to a
    # fundus has a core but lies mostly within LAYER_I_MAX_UM of the glass
    if n:
        beyond = ndi.mean(far, lab, index=np.arange(1, n + 1))
        hit[1:] &= np.asarray(beyond) > 0.5
    hit[0] = False
    # and it is as pale as the slide's white matter: a part whose median density lies
    # nearer the slide's grey matter than its white matter is a pale band of the cortex
    # (a pale deep or middle layer of a thick cortex, paler than the dense layers beside it
    # in the window but far darker than the white matter elsewhere on the slide)
    if corner and hit.any():
        # the corner rule's white matter must be a corner: a pale band inside a thick
        # cortex (grey matter on both sides) is no corner of white matter
        hit &= _open_share(lab, n, tissue) >= CORNER_OPEN_SHARE
    wm = hit[lab]
    band = None
    if matter is not None and not all_pale and hit.any():
        idx = np.flatnonzero(hit)
        med = np.asarray(ndi.median(density, lab, index=idx))
        if (med > mid).any():
            drop = np.zeros(n + 1, bool)
            drop[idx[med > mid]] = True
            band = drop[lab]
            wm &= ~band
            # white matter joined to such a band (a pale deep layer next to it) is kept:
            # the band's parts below the mid-point with a core, mostly beyond layer I's
            # reach, and as pale as the slide's white matter (their median nearer its white
            # matter than the mid-point: the band's own palest patch lies near that point)
            own = _fill_small_holes(band & (density <= mid), (HOLE_UM / pixel_um) ** 2) & band
            lab2, n2 = ndi.label(own)
            if n2:
                ok = _reaching(
                    ndi.distance_transform_edt(own) * pixel_um, lab2, n2, WM_MIN_RADIUS_UM
                )
                index = np.arange(1, n2 + 1)
                ok[1:] &= np.asarray(ndi.mean(far, lab2, index=index)) > 0.5
                wm_like = matter[0] + WM_LIKE_SHARE * (matter[1] - matter[0])
                ok[1:] &= np.asarray(ndi.median(density, lab2, index=index)) <= wm_like
                own = ok[lab2]
                wm |= own
                band &= ~own
            if not band.any():
                band = None
    upper = None
    if matter is not None and not all_pale and glass.any():
        upper = _pale_upper_cortex(density, wm, glass, far, pixel_um, matter)
        if upper.any():
            wm &= ~upper
            band = upper if band is None else band | upper
        else:
            upper = None
    return wm, wm_level, grey_level, band, upper


def _pale_upper_cortex(
    density: np.ndarray,
    wm: np.ndarray,
    glass: np.ndarray,
    far: np.ndarray,
    pixel_um: float,
    matter: tuple[float, float],
) -> np.ndarray:
    """The parts of the white matter ``wm`` that are a pale upper cortex: a part that comes
    nearer the ``glass`` than :data:`MIN_TRAVERSE_UM` (µm; no cortex is that thin) while
    another part lies deeper (its median distance from the glass larger), is paler by at
    least :data:`PALER_DEEPER_SHARE` both in its median density and in its palest tenth
    (10th percentile beyond layer I's reach, ``far``; the whole part where none of it is),
    and is as pale as the slide's white matter there (within :data:`WM_LIKE_SHARE` of the
    way from the slide's white to its grey matter, ``matter`` the slide's typical white
    and grey matter OD). White matter lies a cortex's thickness (1.5-4.5 mm) under the pia;
    a pale upper cortex (layers II-III about the slide's white/grey mid-point) above a
    dense band of deep layers joins the pale class with the white matter beyond that band.
    A deeper part whose median is as dense as the upper part is mostly a pale deep layer
    (VI) as pale as the upper cortex, with little white matter: neither is set aside (the
    grey/white border is not known there)."""
    lab, n = ndi.label(wm)
    if n < 2:
        return np.zeros(wm.shape, bool)
    index = np.arange(1, n + 1)
    dist = _glass_distance(glass) * pixel_um
    depth = np.asarray(ndi.median(dist, lab, index))
    near = np.asarray(ndi.minimum(dist, lab, index)) < MIN_TRAVERSE_UM
    palest = np.array([np.percentile(density[_far_or_all(lab == i, far)], 10) for i in index])
    median = np.asarray(ndi.median(density, lab, index))
    wm_like = matter[0] + WM_LIKE_SHARE * (matter[1] - matter[0])
    drop = np.zeros(n + 1, bool)
    for a in range(n):
        if near[a]:
            paler = (palest <= (1 - PALER_DEEPER_SHARE) * palest[a]) & (
                median <= (1 - PALER_DEEPER_SHARE) * median[a]
            )
            deeper = (depth > depth[a]) & paler
            drop[a + 1] = bool((deeper & (palest <= wm_like)).any())
    return drop[lab]


def _far_or_all(part: np.ndarray, far: np.ndarray) -> np.ndarray:
    """``part``'s pixels in ``far``, or all of ``part`` where none is."""
    return part & far if (part & far).any() else part


def _open_share(lab: np.ndarray, n: int, tissue: np.ndarray) -> np.ndarray:
    """Per labelled part ``1..n`` of ``lab`` (index 0 unused, 0.0), the share of its outline
    on the window's edge: its pixels on the window's border rows and columns over those
    plus the other ``tissue`` pixels beside it (4-neighbours; glass beside it counts as
    neither: a cut edge or a tear)."""
    share = np.zeros(n + 1)
    if n == 0:
        return share
    border = np.zeros(lab.shape, bool)
    border[0], border[-1], border[:, 0], border[:, -1] = True, True, True, True
    on_edge = np.bincount(lab[border & (lab > 0)], minlength=n + 1)[: n + 1]
    cross = ndi.generate_binary_structure(2, 1)
    grey_beside = np.zeros(n + 1)
    for i, sl in enumerate(ndi.find_objects(lab), start=1):
        if sl is None:
            continue
        sl = tuple(slice(max(0, s.start - 1), s.stop + 1) for s in sl)
        part = lab[sl] == i
        grey_beside[i] = (ndi.binary_dilation(part, cross) & ~part & tissue[sl]).sum()
    total = on_edge + grey_beside
    share[1:] = np.where(total[1:] > 0, on_edge[1:] / np.maximum(total[1:], 1), 0.0)
    return share


def _fill_pits(pale: np.ndarray, glass: np.ndarray, pixel_um: float) -> np.ndarray:
    """``pale`` with its holes filled (dense specks and pits inside the white matter),
    except a sulcus closed in the section: tissue at least 2 :data:`.gaps.WM_MIN_RADIUS_UM` thick
    ringed by white matter and itself ringing glass is the cortex of a sulcus whose banks
    meet below and above the cut, not a pit."""
    holes = ndi.binary_fill_holes(pale) & ~pale
    lab, n = ndi.label(holes)
    if n == 0:
        return pale
    thick = ndi.distance_transform_edt(holes) * pixel_um >= WM_MIN_RADIUS_UM
    keep = np.zeros(n + 1, bool)
    boxes = ndi.find_objects(lab)
    for i in np.unique(lab[thick]):
        box = boxes[i - 1]
        inside = ndi.binary_fill_holes(lab[box] == i)
        keep[i] = bool((inside & glass[box]).any())
    return pale | (holes & ~keep[lab])


def _laplace(grey: np.ndarray, glass: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """The depth potential (see :func:`_laplace_grid`), solved on a grid coarsened so that
    at most :data:`LAPLACE_MAX_UNKNOWNS` grey pixels remain, interpolated back."""
    f = int(np.ceil(np.sqrt(grey.sum() / LAPLACE_MAX_UNKNOWNS)))
    if f <= 1:
        return _laplace_grid(grey, glass, wm)
    h, w = grey.shape
    ph, pw = -h % f, -w % f

    def coarse(m: np.ndarray) -> np.ndarray:
        m = np.pad(m.astype(np.float32), ((0, ph), (0, pw)), mode="edge")
        return m.reshape(m.shape[0] // f, f, m.shape[1] // f, f).mean(axis=(1, 3))

    g, gl, wmc = coarse(grey), coarse(glass), coarse(wm)
    grey_c = (g >= gl) & (g >= wmc) & (g > 0)
    wm_c = ~grey_c & (wmc >= gl) & (wmc > 0)
    glass_c = ~grey_c & ~wm_c & (gl > 0)
    pot = _laplace_grid(grey_c, glass_c, wm_c)
    full = np.where(grey_c, pot, np.where(wm_c, 1.0, 0.0))
    yy, xx = np.nonzero(grey)
    coords = np.stack([(yy + 0.5) / f - 0.5, (xx + 0.5) / f - 0.5])
    out = np.full(grey.shape, np.nan, np.float32)
    out[grey] = ndi.map_coordinates(full, coords, order=1, mode="nearest")
    return out


def _laplace_grid(grey: np.ndarray, glass: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """Solve Laplace's equation on ``grey`` (4-neighbours; 0 at glass, 1 at white matter,
    no flux across other edges). Returns the potential, NaN outside the grey matter."""
    h, w = grey.shape
    idx = -np.ones(grey.shape, np.int64)
    n = int(grey.sum())
    idx[grey] = np.arange(n)
    diag = np.full(n, 1e-6)  # a weak pull to 0.5 keeps isolated pieces solvable
    rhs = np.full(n, 0.5e-6)
    rows, cols = [], []
    yy, xx = np.nonzero(grey)
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        ny, nx = yy + dy, xx + dx
        ok = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        me = idx[yy[ok], xx[ok]]
        nyo, nxo = ny[ok], nx[ok]
        other = idx[nyo, nxo]
        g = other >= 0
        rows.append(me[g])
        cols.append(other[g])
        diag += np.bincount(me[g], minlength=n)
        dirichlet0 = glass[nyo, nxo] & ~g
        dirichlet1 = wm[nyo, nxo] & ~g
        diag += np.bincount(me[dirichlet0 | dirichlet1], minlength=n)
        rhs += np.bincount(me[dirichlet1], minlength=n)
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    a = sparse.csr_matrix((-np.ones(len(r)), (r, c)), shape=(n, n)) + sparse.diags(diag)
    # the matrix is symmetric and diagonally dominant: a symmetric fill-reducing ordering
    # and no pivoting factor it faster than the general LU defaults (the same potential to
    # float32 precision)
    lu = splu(
        a.tocsc(),
        permc_spec="MMD_AT_PLUS_A",
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )
    sol = lu.solve(rhs)
    out = np.full(grey.shape, np.nan, np.float32)
    out[grey] = sol
    return out
