"""The gaps in a window's tissue that are neither the glass beside a pia nor white matter
or cortex: narrow sulci, cracks, tears, pale holes, and the gaps of a pale white matter's
texture that hold no glass. :func:`.ribbon.segment` calls these detectors; lengths are in
µm (``pixel_um`` µm per pixel), densities are optical densities (OD, 0 = glass).

- **Glassless gaps** (:func:`_glassless_gaps`): parts of the window under the tissue
  threshold with no core at the glass's level (:data:`CLEAR_CORE_UM`) and no line of glass
  (:data:`LINE_GLASS_SHARE`): the gaps of a white matter whose texture dips under the
  threshold, taken back as tissue.
- **Pale holes** (:func:`_pale_holes`): parts of the window enclosed by tissue, larger than
  :data:`HOLE_UM` across and at most :data:`PALE_HOLE_SHARE` as dense as the tissue around
  (an air bubble, a large hole): neither pia nor white matter.
- **Cracks** near the white matter (:func:`_cracks`: gaps narrower than 2
  :data:`WM_MIN_RADIUS_UM` within :data:`LAYER_I_MAX_UM` of it) are white matter; where no
  white matter is found, narrow glass closed in the tissue lined :data:`CRACK_LINING_UM`
  away by tissue as pale as the slide's white matter (:func:`_wm_cracks`), or a crack
  along the grey/white border (:func:`_border_cracks`, :data:`CRACK_DEEP_UM`), does not
  count for layer I's reach when the white matter then found lines it (:func:`_lined_by`).
- **Narrow sulci** (:func:`_clefts`): lines of light narrower than :data:`CLEFT_MAX_UM`,
  holding glass (:data:`CLEFT_GLASS_SHARE`) and lined by a pale layer I, farther than
  :data:`PRESSED_MIN_UM` from the white matter, are glass; where no pia is in view, two
  banks pressed together (:func:`_pressed_banks`) are split at their midline.
- **Tears** (:func:`_tears`): glass at most :data:`TEAR_MAX_UM` wide lined on both sides by
  tissue that is no pale layer I (:func:`_layer_i_lined`, :data:`LAYER_I_RATIO` within
  :data:`LAYER_I_PROBE_UM`): a gap cutting across the layers. Tears and pale holes join the
  grey matter and their pixels are filled from the tissue around them (:func:`_filled`).
"""

from __future__ import annotations

import threading

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import skeletonize

#: pale holes smaller than this (µm across: vessels, tears) are filled in the tissue
#: (:func:`.ribbon.segment`); gaps, clefts and tears are at least this long
HOLE_UM = 300.0
#: layer I's reach (µm): white matter lies farther than this from the glass beside a pia
#: (:func:`.ribbon._white_matter`)
LAYER_I_MAX_UM = 350.0
#: a white-matter core's inscribed radius (µm); a crack is at most twice this wide
WM_MIN_RADIUS_UM = 150.0
#: the glass's spread (OD): the glass reads within about 3 % of its level across a slide
#: once uneven light is divided out; pale tissue (:func:`.ribbon._pale_tissue`) lies above
#: this plus :data:`.ribbon.PALE_NOISE` times the OD's pixel noise, a pale hole's core at
#: most this is glass (:func:`_pale_holes`)
GLASS_OD_SPREAD = 0.03
#: clear glass (:func:`_glassless_gaps`): a core of pixels at the glass's level (smoothed
#: OD at most the pale-tissue level) at least this far (µm; at least 1.5 px) from any pixel
#: above it, so glass at least 100 µm across; a part of the window under the tissue
#: threshold without such a core is no glass (narrower lines of glass in the tissue are
#: looked for as clefts, :data:`CLEFT_MAX_UM`)
CLEAR_CORE_UM = 50.0
#: ... or a midline (at least :data:`HOLE_UM` long) of which at least this share of the
#: pixels, unsmoothed, lie at half the glass's level or under it (a cleft 2-3 px wide holds
#: glass along its middle; a pale white matter's texture dips there in scattered pixels)
LINE_GLASS_SHARE = 0.8
#: glass boundaries are pia where the tissue along them (its mean within about
#: :data:`LAYER_I_PROBE_UM`) is paler than this share of the grey matter's typical density:
#: the cell-sparse layer I lines the pia, while the edges of a tear cut across the layers
LAYER_I_RATIO = 0.8
LAYER_I_PROBE_UM = 40.0
#: pale lines narrower than this (µm) within the tissue are looked at as narrow clefts
CLEFT_MAX_UM = 100.0
#: ... and lined by tissue paler than the tissue this far (µm) from the glass around it
CLEFT_SIDE_UM = (250.0, 500.0)
#: ... and holding glass: the line's median OD at most this share of the slide's typical
#: tissue OD (a cleft 20 µm wide read at 16 µm/px, each pixel on it partly glass, reads
#: about a quarter of it; on a silver stain's contrast the pale neuropil between dark
#: somata in a pale layer reads about half of it and is no glass)
CLEFT_GLASS_SHARE = 0.4
#: two banks pressed together: a pale band at least this far (µm) from the white matter
#: and this long (its midline) is looked at as two layer I's back to back
PRESSED_MIN_UM = 1000.0
#: a crack in pale white matter (:func:`_wm_cracks`): its lining this far (µm) from it is as
#: pale as white matter; beneath a pia, even at a narrow sulcus whose banks almost touch,
#: the denser layers II-III lie there (beyond a pale layer I)
CRACK_LINING_UM = (150.0, 300.0)
#: a crack along the grey/white border (:func:`_border_cracks`): its white-matter bank is still
#: as pale as white matter this far (µm) from it, beyond layer I's reach
#: (:data:`LAYER_I_MAX_UM`); a bank of pale layer I has the dense cortex under it there
CRACK_DEEP_UM = (400.0, 600.0)
#: a pale hole (:func:`_pale_holes`: an air bubble under the coverslip, a large hole): a part
#: of the window enclosed by tissue, larger than :data:`HOLE_UM` across, whose smoothed OD
#: is at most this share of the tissue's mean around it (over :data:`PALE_HOLE_AROUND_UM`)
#: and of the tissue lining it (:data:`PALE_HOLE_RING_UM` away): far paler than the tissue
#: it lies in
PALE_HOLE_SHARE = 0.5
#: ... and is no hole when the pale region it lies in (smoothed OD at most this share of the
#: tissue's mean around) reaches the window's edge or the section's: a pale band of the
#: tissue entering the window
PALE_HOLE_LOOSE = 0.8
PALE_HOLE_RING_UM = (30.0, 80.0)
PALE_HOLE_AROUND_UM = 600.0
#: a tear (:func:`_tears`): glass at most this wide (µm) running through the tissue, its
#: edges not lined by a pale layer I (they cut across the layers)
TEAR_MAX_UM = 250.0
#: ... lined by tissue on both sides: its pixels on the window's edge (or beside the
#: section's outside) at most this share of its tissue lining (the pial glass in a corner of
#: the window is lined by tissue on one side only)
TEAR_EDGE_SHARE = 0.25


def _filled(od: np.ndarray, gap: np.ndarray, valid: np.ndarray, pixel_um: float) -> np.ndarray:
    """``od`` with the pixels of ``gap`` (and a rim of about 30 µm round it: the partial
    pixels, a bubble's dark rim) filled from the ``valid`` tissue around them: a mean
    weighted by a Gaussian as wide as the gap's half-width (its inscribed radius), so that
    profiles crossing the gap read the tissue beside it, not glass."""
    rim = max(1, int(round(30.0 / pixel_um)))
    wide = ndi.binary_dilation(gap, iterations=rim)
    ok = valid & ~wide
    sigma = max(1.0, float(ndi.distance_transform_edt(wide).max()))
    num = ndi.gaussian_filter(np.where(ok, od, 0).astype(np.float64), sigma)
    den = ndi.gaussian_filter(ok.astype(np.float64), sigma)
    out = od.copy()
    fill = wide & (den > 1e-6)
    out[fill] = (num[fill] / den[fill]).astype(out.dtype)
    return out


def _pale_holes(
    smooth: np.ndarray, tissue: np.ndarray, outside: np.ndarray, pixel_um: float
) -> np.ndarray:
    """Pale holes in the tissue (an air bubble, a hole larger than :data:`HOLE_UM`): parts
    of the window enclosed by tissue (touching neither the window's edge nor the section's)
    at most :data:`PALE_HOLE_SHARE` as dense (``smooth``) as the tissue around them (its
    mean over :data:`PALE_HOLE_AROUND_UM`) and, in the median, as the tissue lining them
    (:data:`PALE_HOLE_RING_UM` away), within a pale region (at most :data:`PALE_HOLE_LOOSE`
    as dense as the tissue around) that is enclosed as well. Where its core is glass (smoothed OD at most
    :data:`GLASS_OD_SPREAD`), not lined by a pale layer I (a lining paler than
    :data:`LAYER_I_RATIO` of the tissue :data:`CLEFT_SIDE_UM` away, as a sulcus closed in
    the window is); a bubble's inside is the tissue seen through air, paler but above the
    glass. No glass a pia lines, no white matter."""
    s = PALE_HOLE_AROUND_UM / pixel_um
    t = tissue.astype(np.float64)
    around = ndi.gaussian_filter(np.where(tissue, smooth, 0), s) / np.maximum(
        ndi.gaussian_filter(t, s), 1e-6
    )
    cand = (smooth <= PALE_HOLE_SHARE * around) & ~outside
    lab, n = ndi.label(cand)
    out = np.zeros(cand.shape, bool)
    if n == 0:
        return out
    loose, _ = ndi.label((smooth <= PALE_HOLE_LOOSE * around) & ~outside)
    open_loose = _on_edge(loose, outside)
    edge = np.unique(np.concatenate([_on_edge(lab, outside), lab[np.isin(loose, open_loose)]]))
    sizes = np.bincount(lab.ravel())
    min_px = (HOLE_UM / pixel_um) ** 2
    lo, hi = PALE_HOLE_RING_UM
    reach = int(CLEFT_SIDE_UM[1] / pixel_um) + 2
    for k, box in enumerate(ndi.find_objects(lab), start=1):
        if k in edge or sizes[k] < min_px:
            continue
        bb = tuple(slice(max(0, b.start - reach), b.stop + reach) for b in box)
        comp = lab[bb] == k
        d = ndi.distance_transform_edt(~comp) * pixel_um
        ring = (d > lo) & (d <= hi)
        far = (d >= CLEFT_SIDE_UM[0]) & (d <= CLEFT_SIDE_UM[1])
        tb = tissue[bb]
        if not (ring.any() and tb[ring].all()):
            continue  # not enclosed by tissue
        inside = float(np.median(smooth[bb][comp]))
        lining = float(np.median(smooth[bb][ring]))
        beyond = smooth[bb][far & tb]
        if inside > PALE_HOLE_SHARE * lining:
            continue
        core = ndi.distance_transform_edt(comp) > 1.5
        glassy = float(np.median(smooth[bb][core if core.any() else comp])) <= GLASS_OD_SPREAD
        if glassy and beyond.size and lining < LAYER_I_RATIO * float(np.median(beyond)):
            continue  # glass lined by a paler band: a sulcus closed in the window, layer I
        out[bb] |= comp
    return out


def _on_edge(lab: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """The labels of ``lab`` (0 included) on the window's edge or beside ``outside``."""
    on = [lab[0], lab[-1], lab[:, 0], lab[:, -1]]
    if outside.any():
        on.append(lab[ndi.binary_dilation(outside)])
    return np.unique(np.concatenate(on))


def _tears(
    od: np.ndarray,
    tissue: np.ndarray,
    glass: np.ndarray,
    grey_level: float,
    pixel_um: float,
    outside: np.ndarray | None = None,
) -> np.ndarray:
    """Tears: glass at most :data:`TEAR_MAX_UM` wide (what an opening by a disc that wide
    leaves of the glass), at least :data:`HOLE_UM` long, lined on both sides by tissue not
    paler than a layer I (:func:`_layer_i_lined` on at most half of its lining; on the
    window's edge or beside ``outside``, the pixels beyond the section, at most
    :data:`TEAR_EDGE_SHARE` of its tissue lining): a gap cutting across the layers, no pia
    and no white matter (a narrow sulcus is lined by layer I on both banks)."""
    r = max(1, int(np.ceil(TEAR_MAX_UM / 2 / pixel_um)))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disc = (yy**2 + xx**2) <= r * r
    pad = np.pad(glass, r + 1, mode="edge")
    wide = ndi.binary_opening(pad, structure=disc)[r + 1 : -r - 1, r + 1 : -r - 1]
    narrow = glass & ~wide
    lab, n = ndi.label(narrow, structure=np.ones((3, 3), bool))
    out = np.zeros(glass.shape, bool)
    if n == 0:
        return out
    lined = _layer_i_lined(od, tissue, glass, grey_level, pixel_um)
    cross = ndi.generate_binary_structure(2, 1)
    rim = np.zeros(glass.shape, bool)
    rim[[0, -1], :] = rim[:, [0, -1]] = True
    if outside is not None and outside.any():
        rim |= ndi.binary_dilation(outside, structure=cross)
    for k, box in enumerate(ndi.find_objects(lab), start=1):
        ext = np.hypot(box[0].stop - box[0].start, box[1].stop - box[1].start) * pixel_um
        if ext < HOLE_UM:
            continue
        bb = tuple(slice(max(0, b.start - 2), b.stop + 2) for b in box)
        comp = lab[bb] == k
        side = ndi.binary_dilation(comp, structure=cross) & ~comp
        t_side = side & tissue[bb]
        # lined by tissue along most of it (not a sliver of the glass beside a pia)
        if t_side.sum() < 0.5 * side.sum() or t_side.sum() < 4:
            continue
        if (comp & rim[bb]).sum() > TEAR_EDGE_SHARE * t_side.sum():
            continue  # open onto the window's edge: lined by tissue on one side only
        if float(lined[bb][t_side].mean()) > 0.5:
            continue
        out[bb] |= comp
    return out


def _glassless_gaps(
    cand: np.ndarray,
    smooth: np.ndarray,
    outside: np.ndarray,
    level: float,
    tissue_level: float,
    pixel_um: float,
    od: np.ndarray | None = None,
) -> np.ndarray:
    """The connected components of ``cand`` (the window under the tissue threshold, not
    ``outside``) with no clear-glass core (pixels with ``smooth`` at most ``level``, the
    OD the glass stays under, farther than :data:`CLEAR_CORE_UM` µm, and at least 1.5 px,
    from any pixel above it) and no line of glass (a midline at least :data:`HOLE_UM` long
    whose pixels of the unsmoothed ``od`` are at most half of ``level``, nearly all of them,
    :data:`LINE_GLASS_SHARE`: a cleft 2-3 px wide, whose middle the smoothing lifts above
    ``level``; a pale tissue's texture reaches that depth in scattered pixels) that touch
    nothing ``outside``; of those reaching the
    window's edge, only the ones whose median ``smooth`` is above the mid-point of
    ``level`` and ``tissue_level`` (the tissue threshold) or that are bulky (an inscribed
    radius of at least :data:`WM_MIN_RADIUS_UM`: a glass's sliver at the edge is neither)."""
    none = np.zeros(cand.shape, bool)
    lab, n = ndi.label(cand)
    if n == 0:
        return none
    core = ndi.distance_transform_edt(cand & (smooth <= level)) >= max(
        1.5, CLEAR_CORE_UM / pixel_um
    )
    take = np.ones(n + 1, bool)
    take[np.unique(lab[core])] = False
    if od is not None:
        # a line of glass: the component's midline at the glass's level nearly throughout
        mid = skeletonize(cand & take[lab])
        idx = np.arange(1, n + 1)
        n_mid = np.asarray(ndi.sum(mid, lab, index=idx))
        n_glass = np.asarray(ndi.sum(mid & (od <= 0.5 * level), lab, index=idx))
        line = (n_glass * pixel_um >= HOLE_UM) & (n_glass >= LINE_GLASS_SHARE * n_mid)
        take[1:] &= ~line
    if outside.any():
        take[np.unique(lab[ndi.binary_dilation(outside)])] = False
    take[0] = False
    if not take.any():
        return none
    edge = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    edge = edge[take[edge]]
    if edge.size:
        med = np.asarray(ndi.median(smooth, lab, index=edge))
        bulky = _reaching(
            ndi.distance_transform_edt(np.isin(lab, edge)) * pixel_um, lab, n, WM_MIN_RADIUS_UM
        )[edge]
        take[edge[(med <= 0.5 * (level + tissue_level)) & ~bulky]] = False
    return take[lab]


def _reaching(dist: np.ndarray, lab: np.ndarray, n: int, min_dist: float) -> np.ndarray:
    """``keep`` (``n + 1`` booleans, ``keep[0]`` False): the labels 1..``n`` of ``lab``
    whose largest ``dist`` (an inscribed radius) is at least ``min_dist``: what
    ``ndi.maximum(dist, lab, index=1..n) >= min_dist`` gives, without sorting the pixels."""
    keep = np.zeros(n + 1, bool)
    keep[np.unique(lab[dist >= min_dist])] = True
    keep[0] = False
    return keep


def _cracks(tissue: np.ndarray, glass: np.ndarray, wm: np.ndarray, pixel_um: float) -> np.ndarray:
    """Glass in cracks and tears along or in the white matter: gaps in the tissue narrower
    than 2 :data:`WM_MIN_RADIUS_UM` (closed by a disc of that radius) within
    :data:`LAYER_I_MAX_UM` of the white matter. No pial surface lies there (the pia is a
    cortical thickness from the white matter, the glass of a sulcus is no nearer); taken
    as glass, the grey matter along a crack at the grey/white border would be a second pia
    and the depth potential would turn its traverses aside to distant white matter."""
    near_wm = ndi.distance_transform_edt(~wm) * pixel_um <= LAYER_I_MAX_UM
    if not (glass & near_wm).any():  # no glass near the white matter: no crack
        return np.zeros(glass.shape, bool)
    r = WM_MIN_RADIUS_UM / pixel_um
    dilated = ndi.distance_transform_edt(~tissue) <= r
    closed = ndi.distance_transform_edt(dilated) > r
    return glass & closed & near_wm


_LAST_GLASS = threading.local()


def _glass_distance(glass: np.ndarray) -> np.ndarray:
    """``ndi.distance_transform_edt(~glass)`` (px, read-only), remembered for the last two
    ``glass`` masks of this thread within one :func:`.ribbon.segment` (which forgets them when it
    returns): :func:`_clefts` and :func:`_layer_i_lined` measure the distance to the same
    glass when no cleft was found."""
    memo = getattr(_LAST_GLASS, "pairs", [])
    for mask, dist in memo:
        if mask.shape == glass.shape and np.array_equal(mask, glass):
            return dist
    dist = ndi.distance_transform_edt(~glass)
    dist.flags.writeable = False
    _LAST_GLASS.pairs = [(glass.copy(), dist), *memo[:1]]
    return dist


def _tissue_mean(od: np.ndarray, tissue: np.ndarray, sigma_px: float) -> np.ndarray:
    """``od`` averaged over the tissue only (Gaussian weights of ``sigma_px``): the glass
    beside a pixel does not lower its level."""
    w = ndi.gaussian_filter(tissue.astype(np.float32), sigma_px)
    m = ndi.gaussian_filter(np.where(tissue, od, 0).astype(np.float32), sigma_px)
    return m / np.maximum(w, 1e-6)


def _beside_glass(
    od: np.ndarray, tissue: np.ndarray, glass: np.ndarray, pixel_um: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(distance to the glass in px, the tissue's level beside the glass)``: ``od``
    averaged over :data:`LAYER_I_PROBE_UM` of the tissue more than two pixels from the glass
    (the pixels on the glass hold some glass)."""
    dg = _glass_distance(glass)
    near = _tissue_mean(od, tissue & (dg > 2.5), max(0.7, LAYER_I_PROBE_UM / pixel_um))
    return dg, near


def _layer_i_lined(
    od: np.ndarray, tissue: np.ndarray, glass: np.ndarray, grey_level: float, pixel_um: float
) -> np.ndarray:
    """Where the tissue beside the glass (:func:`_beside_glass`) is paler than
    :data:`LAYER_I_RATIO` of ``grey_level`` (the grey matter's typical density in the
    window): a pale layer I, as lines the pia (on both banks of a narrow cleft). The tissue
    along a tear's edges, which cut across the layers, is as dense as the layers it cuts."""
    if not glass.any() or not np.isfinite(grey_level):
        return np.ones(tissue.shape, bool)
    return _beside_glass(od, tissue, glass, pixel_um)[1] < LAYER_I_RATIO * grey_level


def _paler_than_around(
    near: np.ndarray, dg: np.ndarray, tissue: np.ndarray, pixel_um: float
) -> np.ndarray:
    """Where the tissue beside the glass (``near``, ``dg``: :func:`_beside_glass`) is paler
    than :data:`LAYER_I_RATIO` of the tissue :data:`CLEFT_SIDE_UM` from the glass around it
    (averaged over the tissue only): a band along the glass, as layer I along a cleft;
    the tissue beside a vessel or a tear running across the layers is as dense as the
    tissue beyond it at the same depth."""
    lo, hi = CLEFT_SIDE_UM
    band = tissue & (dg * pixel_um >= lo) & (dg * pixel_um <= hi)
    sb = lo / pixel_um
    w = ndi.gaussian_filter(band.astype(np.float32), sb)
    deep = ndi.gaussian_filter(np.where(band, near, 0).astype(np.float32), sb)
    return (w > 1e-3) & (near * np.maximum(w, 1e-6) < LAYER_I_RATIO * deep)


def _paler_than_around_at(
    near: np.ndarray, dg: np.ndarray, tissue: np.ndarray, pixel_um: float, at: np.ndarray
) -> np.ndarray:
    """:func:`_paler_than_around` where ``at`` is set (the same values there; False
    elsewhere), computed on the bounding box of ``at`` widened by its Gaussian's reach
    (each value depends only on the pixels within that reach)."""
    out = np.zeros(at.shape, bool)
    if not at.any():
        return out
    ((ys, xs),) = ndi.find_objects(at.astype(np.uint8))
    reach = int(4.0 * CLEFT_SIDE_UM[0] / pixel_um + 0.5) + 1  # gaussian_filter's radius
    y0, y1 = max(0, ys.start - reach), min(at.shape[0], ys.stop + reach)
    x0, x1 = max(0, xs.start - reach), min(at.shape[1], xs.stop + reach)
    box = np.s_[y0:y1, x0:x1]
    out[box] = _paler_than_around(near[box], dg[box], tissue[box], pixel_um) & at[box]
    return out


def _clefts(
    od: np.ndarray,
    tissue: np.ndarray,
    glass: np.ndarray,
    where: np.ndarray,
    grey_level: float,
    pixel_um: float,
    tissue_od: float = float("nan"),
) -> np.ndarray:
    """Narrow clefts of glass within ``where`` (of ``tissue``, beside ``glass``; a sulcus
    whose pial surfaces almost touch): lines of light narrower than :data:`CLEFT_MAX_UM` (pixels less than half as dense as the
    tissue's closing over that width, farther than a pixel from the glass), at least
    :data:`HOLE_UM` long, holding glass (their median OD at most :data:`CLEFT_GLASS_SHARE`
    of ``tissue_od``, the slide's typical tissue OD; not tested when it is NaN: a line
    of a pale layer's neuropil between dark somata is less than half as dense as its
    closing on a silver stain's contrast, yet no glass), and lined by a pale layer I on their sides
    (:func:`_layer_i_lined` and :func:`_paler_than_around` on most of the tissue along
    them, the line taken as glass): a vessel or a tear is not."""
    r = max(1, int(round(CLEFT_MAX_UM / 2 / pixel_um)))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    closed = ndi.grey_closing(od, footprint=(yy**2 + xx**2) <= r * r)
    away = _glass_distance(glass) > 1.5 if glass.any() else tissue
    cand = where & away & (od < 0.5 * closed)
    lab, n = ndi.label(cand, structure=np.ones((3, 3), bool))
    if n == 0:
        return cand
    keep = np.zeros(n + 1, bool)
    for i, box in enumerate(ndi.find_objects(lab), start=1):
        ext = np.hypot(box[0].stop - box[0].start, box[1].stop - box[1].start) * pixel_um
        keep[i] = ext >= HOLE_UM
    if not keep.any():
        return np.zeros(tissue.shape, bool)
    lines = keep[lab]
    grown_mask = ndi.binary_dilation(lines, structure=np.ones((3, 3), bool))
    grown = ndi.label(grown_mask)[0]
    side = grown_mask & tissue & ~lines
    lab2 = np.where(side, grown, 0)
    m = int(lab2.max())
    if m == 0:
        return np.zeros(tissue.shape, bool)
    dg, near = _beside_glass(od, tissue & ~lines, glass | lines, pixel_um)
    good = np.zeros(m + 1, bool)
    good[1:] = True
    if np.isfinite(grey_level):
        paler = near < LAYER_I_RATIO * grey_level
        # the layer-I test below holds only where this one does: a line whose sides are
        # not mostly this pale is no cleft, and only the sides of the others are tested
        good[1:] = np.asarray(ndi.mean(paler, lab2, index=np.arange(1, m + 1))) > 0.5
        if not good.any():
            return np.zeros(tissue.shape, bool)
    lined = _paler_than_around_at(near, dg, tissue & ~lines, pixel_um, side & good[lab2])
    if np.isfinite(grey_level):
        lined &= paler
    share = np.asarray(ndi.mean(lined, lab2, index=np.arange(1, m + 1)))
    good[1:] &= share > 0.5
    found = lines & good[grown]
    if np.isfinite(tissue_od) and found.any():
        lab3, n3 = ndi.label(found, structure=np.ones((3, 3), bool))
        med = np.asarray(ndi.median(od, lab3, index=np.arange(1, n3 + 1)))
        ok = np.zeros(n3 + 1, bool)
        ok[1:] = med <= CLEFT_GLASS_SHARE * tissue_od
        found = ok[lab3]
    return found


def _pressed_banks(
    density: np.ndarray,
    grey: np.ndarray,
    glass: np.ndarray,
    far_wm: np.ndarray,
    wm_level: float,
    grey_level: float,
    pixel_um: float,
) -> np.ndarray:
    """The midline of two sulcal banks pressed together with no glass between them: a
    pale band in the grey matter (``density`` below :data:`LAYER_I_RATIO` of its closing
    over 2 :data:`LAYER_I_MAX_UM`, so no wider than that and denser cortex on both sides,
    and paler than half-way from the grey to the white-matter level, as the cell-sparse
    layer I is), farther than :data:`LAYER_I_MAX_UM` from the glass and within ``far_wm``
    (farther than :data:`PRESSED_MIN_UM` from the white matter: no pale deep layer), whose
    midline is at least :data:`PRESSED_MIN_UM` long. The midline (3 px wide) is where the two pial
    surfaces meet."""
    if not (np.isfinite(wm_level) and np.isfinite(grey_level)):
        return np.zeros(grey.shape, bool)
    far = far_wm.copy()
    if glass.any():
        far &= ndi.distance_transform_edt(~glass) * pixel_um > LAYER_I_MAX_UM
    cand = grey & far & (density < 0.5 * (wm_level + grey_level))
    if cand.sum() * pixel_um < PRESSED_MIN_UM:
        return np.zeros(grey.shape, bool)
    side = 2 * int(round(LAYER_I_MAX_UM / pixel_um)) + 1
    closed = ndi.grey_closing(density, size=(side, side))
    band = cand & (density < LAYER_I_RATIO * closed)
    mid = skeletonize(band)
    lab, n = ndi.label(mid, structure=np.ones((3, 3), bool))
    if n == 0:
        return mid
    length = np.bincount(lab.ravel())[1:] * pixel_um
    keep = np.zeros(n + 1, bool)
    keep[1:] = length >= PRESSED_MIN_UM
    return ndi.binary_dilation(keep[lab]) & grey


def _wm_cracks(
    tissue: np.ndarray,
    glass: np.ndarray,
    density: np.ndarray,
    matter: tuple[float, float],
    pixel_um: float,
) -> np.ndarray:
    """Glass that may be a crack in the white matter (a subset of ``glass``): its parts
    (8-connected) that are

    - narrow: at most 2 :data:`WM_MIN_RADIUS_UM` wide (twice their inscribed radius);
    - closed in the tissue: touching no pixel beyond the section (neither tissue nor
      glass); the glass beside a pia, a sulcus's included, opens onto the glass around the
      section, wider than a crack (a part reaching the window's edge may still be a crack);
    - lined by tissue nearer the slide's white than its grey matter (``matter``, OD): the
      median density :data:`CRACK_LINING_UM` from the part at most their mid-point. Beneath
      a pia, even at a narrow sulcus, the dense layers II-III lie there; a crack inside the
      white matter, or along its border with the cortex (white matter on one side), is
      lined by white matter."""
    out = np.zeros(glass.shape, bool)
    lab, ok = _narrow_closed(tissue, glass, pixel_um)
    if not ok.any():
        return out
    mid = 0.5 * (matter[0] + matter[1])
    lo, hi = CRACK_LINING_UM
    for k, sl in _part_boxes(lab, ok, int(np.ceil(hi / pixel_um)) + 1):
        d = ndi.distance_transform_edt(lab[sl] != k) * pixel_um
        ring = tissue[sl] & (d > lo) & (d <= hi)
        if ring.any() and float(np.median(density[sl][ring])) <= mid:
            out[sl] |= lab[sl] == k
    return out


def _narrow_closed(
    tissue: np.ndarray, glass: np.ndarray, pixel_um: float
) -> tuple[np.ndarray, np.ndarray]:
    """The parts of ``glass`` (8-connected labels) and, per label (index 0 False), whether
    it is narrow (at most 2 :data:`WM_MIN_RADIUS_UM` wide) and closed in the tissue
    (touching no pixel beyond the section)."""
    lab, n = ndi.label(glass, structure=np.ones((3, 3), bool))
    ok = np.ones(n + 1, bool)
    if n:
        ok[np.unique(lab[ndi.distance_transform_edt(glass) * pixel_um > WM_MIN_RADIUS_UM])] = False
        beyond = ~tissue & ~glass
        if beyond.any():
            ok[np.unique(lab[ndi.binary_dilation(beyond, structure=np.ones((3, 3), bool))])] = False
    ok[0] = False
    return lab, ok


def _part_boxes(lab: np.ndarray, ok: np.ndarray, reach_px: int):
    """``(label, slices)`` of each part of ``lab`` that ``ok`` marks (per label), its
    bounding box grown by ``reach_px`` pixels (clipped to the image)."""
    for k, box in enumerate(ndi.find_objects(lab), start=1):
        if box is None or not ok[k]:
            continue
        yield (
            k,
            tuple(
                slice(max(0, s.start - reach_px), min(size, s.stop + reach_px))
                for s, size in zip(box, lab.shape)
            ),
        )


def _border_cracks(
    tissue: np.ndarray,
    glass: np.ndarray,
    density: np.ndarray,
    matter: tuple[float, float],
    pixel_um: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Glass that may be a crack along the grey/white border (a subset of ``glass``) and
    the side of its white-matter bank (tissue within :data:`CRACK_DEEP_UM`'s far end on
    that side): the parts that are narrow and closed as in :func:`_wm_cracks`, whose two
    banks (the sides of the part's long axis) differ:

    - one as pale as white matter: its median density both :data:`CRACK_LINING_UM` and
      :data:`CRACK_DEEP_UM` from the part at most the slide's white/grey mid-point (white
      matter is thick; a pale layer I, at most :data:`LAYER_I_MAX_UM`, has the dense
      cortex under it);
    - the other nearer the slide's grey matter :data:`CRACK_LINING_UM` from it (the
      cortex)."""
    out = np.zeros(glass.shape, bool)
    bank = np.zeros(glass.shape, bool)
    lab, ok = _narrow_closed(tissue, glass, pixel_um)
    if not ok.any():
        return out, bank
    mid = 0.5 * (matter[0] + matter[1])
    lo, hi = CRACK_LINING_UM
    deep_lo, deep_hi = CRACK_DEEP_UM
    for k, sl in _part_boxes(lab, ok, int(np.ceil(deep_hi / pixel_um)) + 1):
        part = lab[sl] == k
        ys, xs = np.nonzero(part)
        if ys.size < 3:
            continue
        # the part's long axis; each pixel's side: that of its offset from the part's
        # nearest pixel
        _, vec = np.linalg.eigh(np.cov(np.stack([ys, xs]).astype(float)))
        ax = vec[:, -1]
        d, (iy, ix) = ndi.distance_transform_edt(~part, return_indices=True)
        d = d * pixel_um
        yy, xx = np.indices(part.shape)
        side = np.sign((yy - iy) * ax[1] - (xx - ix) * ax[0])
        t = tissue[sl]
        dens = density[sl]
        near = t & (d > lo) & (d <= hi)
        deep = t & (d > deep_lo) & (d <= deep_hi)
        for s in (-1.0, 1.0):
            a, b = near & (side == s), deep & (side == s)
            other = near & (side == -s)
            if not (a.any() and b.any() and other.any()):
                continue
            if (
                float(np.median(dens[a])) <= mid
                and float(np.median(dens[b])) <= mid
                and float(np.median(dens[other])) > mid
            ):
                out[sl] |= part
                bank[sl] |= (side == s) & (d <= deep_hi)
                break
    return out, bank


def _lined_by(
    cracks: np.ndarray, wm: np.ndarray, tissue: np.ndarray, pixel_um: float
) -> np.ndarray:
    """The parts of ``cracks`` (8-connected) whose lining, the tissue within
    :data:`LAYER_I_PROBE_UM` of them, is at least half ``wm``."""
    lab, n = ndi.label(cracks, structure=np.ones((3, 3), bool))
    if n == 0:
        return cracks
    d = ndi.distance_transform_edt(~cracks) * pixel_um
    ring = tissue & (d <= max(LAYER_I_PROBE_UM, 1.5 * pixel_um))
    # each ring pixel belongs to its nearest crack
    _, (iy, ix) = ndi.distance_transform_edt(~cracks, return_indices=True)
    owner = np.where(ring, lab[iy, ix], 0)
    share = np.zeros(n + 1)
    share[1:] = np.asarray(ndi.mean(wm, owner, index=np.arange(1, n + 1)))
    ok = share >= 0.5
    ok[0] = False
    return ok[lab]
