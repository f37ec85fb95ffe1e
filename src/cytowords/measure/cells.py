"""Somata along a few traverses at cell resolution (<= 2 µm/px): density, sizes, large pyramids.

Detection is classical: optical density smoothed over 1 µm minus its local background
(smoothed over 25 µm); pixels above 3 robust noise SDs (MAD) of that difference are
somata, with pale holes up to :data:`HOLE_UM` µm across (the nucleus of a large neuron)
filled. The mask is not opened: an opening erases the smallest somata (glia and granule
cells are 2-5 px across at 2 µm/px). Touching somata are split by a watershed on the
distance transform with one marker per maximum of the distance, each maximum suppressing
the weaker ones closer than its own distance to the background (a soma of inscribed
radius r holds no other soma's centre within r; at least :data:`SPLIT_UM` µm): the minimum
distance between markers follows each soma's size. That fine split would cut a large
pyramid's corners, base and dendrite into somata of their own, so somata of a coarse split
(smoothed distance, markers :data:`SPLIT_UM` µm apart) with an equivalent diameter of at
least :data:`WHOLE_UM` µm that are compact are kept whole. Where dark somata crowd, they
raise that threshold and a pale pyramid among them falls below it: a second pass
(:func:`_pale_somata`) takes the contrast against the neuropil itself and keeps the large
compact segments the first mask mostly missed, whole. A soma is measured on its
half-maximum region: the pixels at least halfway from the local neuropil (the optical
density around it, somata left out) to its own body level (:data:`PEAK_QUANTILE` of its
optical density), grown from its label by a watershed on the optical density, pale holes
(the nucleus) included, so stain strength and the detection mask do not set the size.
Optics blur light, not optical density: a blurred edge crosses half the *light* contrast
at the edge itself and half the optical-density contrast inside it, the further the
darker the soma and the wider the blur. The region's diameter and length are therefore
lengthened by that shortfall (:func:`_edge_shift`: 2 z s, z from the soma's own contrast,
s the window's edge blur, estimated from its somata). Its size is the equivalent diameter
``2 * sqrt(area / pi)`` (µm) of that region so corrected; somata whose own label holds
less than :data:`MIN_SOMA_UM` µm of it are dropped. Which somata are kept whole, and the
second pass, decide on the uncorrected region.

A soma's length is the greatest extent of that region: the larger of its Feret diameter
(over :data:`N_DIRECTIONS` directions) and the major axis of its moment ellipse (a
triangle's moment axis is ~6 % short of its height, a small blurred disc's Feret diameter
a pixel short). Pyramids are measured by their length in the literature ("Betz cells up to
60-100 µm long"), and a triangular soma's equivalent diameter is only ~0.8 of it
(:data:`PYRAMID_EQ`). Large pyramids are compact somata with at least the area of a
pyramid as long as :data:`LARGE_FACTOR` times the region's
median soma length on the half-maximum regions plus the median edge correction
(:func:`large_threshold_um`:
about :data:`LARGE_PYRAMID_UM` µm on typical cortex, the lower bound of "large pyramids
(25-50 µm)" in the reference notes on real sections, granule cells 8-20 µm, Betz cells
60-100 µm long), so the cut-off follows the scan's own size scale (:func:`is_large`: the
area decides, as two overlapping small somata read as long as a large pyramid long before
they have its area); giant ones (large and :data:`GIANT_UM` long on that scale, the
Betz/Meynert class) are reported as well. Only a band of :data:`BAND_UM` µm around each traverse is read, in windows of at
most :data:`WINDOW_UM` µm, never the whole region.

A window out of focus (a missed focus point, a fold) loses and merges somata and grows
them past what the edge correction absorbs. Per soma, the edge blur is the Gaussian SD
whose step has the soma's steepest light gradient for its contrast (:func:`_edge_blur`). A
section is thicker (~20 µm) than a 20x objective's depth of field (~1-3 µm): in a scan in
focus the somata cut by the focal plane are sharp and those above or below it soft, so the
question is whether the focal plane is in the window at all, not whether its median soma
is sharp. The window's edge blur is therefore that of its sharpest somata (the
:data:`FOCUS_QUANTILE` quantile); above :data:`FOCUS_MAX_UM` µm, fewer than that share of
its somata are in the focal plane and it is left out (:attr:`CellStats.blurred`; the
readout says so and shows no cell statistics when most windows are out of focus).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from scipy.special import ndtri
from skimage.segmentation import watershed

CELL_MAX_PX_UM = 2.0
LARGE_PYRAMID_UM = 25.0
GIANT_UM = 40.0
#: relative depth (0 pia .. 1 white matter) from which a large pyramid counts as one of the
#: deep layers (V-VI) rather than of lower layer III
DEEP_DEPTH = 0.5
BAND_UM = 100.0
WINDOW_UM = 600.0
#: the least equivalent diameter (µm) of a soma (glia ~5 µm; below it: noise)
MIN_SOMA_UM = 3.0
#: pale holes in a soma's mask up to this diameter (µm) are filled (the nucleus of a
#: large pyramid is ~1/3 of its length)
HOLE_UM = 20.0
#: the least distance (µm) between two watershed markers
SPLIT_UM = 3.0
#: somata of the coarse split at least this equivalent diameter (µm) and compact are not
#: split further (large pyramids ~25 µm long have an equivalent diameter of ~20 µm)
WHOLE_UM = 15.0
#: the local neuropil level is averaged over this SD (µm), somata left out
BACKGROUND_UM = 25.0
#: a soma's body level: this quantile of its optical density (a dark nucleolus, a few
#: pixels, above it; a pale nucleus and the blurred rim below)
PEAK_QUANTILE = 0.8
#: to estimate a window's edge blur (:func:`_edge_shift`), a soma's half-light region is
#: sought at most this far (µm) outside its half-optical-density region: a blurred edge of
#: SD s crosses the two z s apart (z <= 0.7 for most somata: s up to ~3 µm, optics plus
#: the 1 µm smoothing); further out lie touching neighbours and neuropil
EDGE_UM = 2.0
#: a soma whose edge blur (:func:`_edge_blur`, µm: the Gaussian SD of the light at its
#: edge, optics and the detection's 1 µm smoothing together) exceeds this lies outside the
#: focal plane. From optics, not from the generator: at 1-2 µm/px a soma in the plane reads
#: the detection's smoothing (SD 1 µm), the pixel's footprint (a box of 1-2 µm: SD
#: 0.3-0.6 µm) and a 20x objective's PSF (NA 0.5-0.75: SD ~0.2 µm), ~1.1-1.2 µm together;
#: one up to ~2 µm from the plane (the depth of field) adds a defocus disc of radius
#: dz tan(asin NA) ~1.2-2.3 µm (SD 0.6-1.1 µm), ~1.3-1.6 µm in all. The estimate saturates
#: at h / 6.1 (0.33 µm at 2 µm/px: a gradient as steep as a step's) and reads less than
#: the blur beyond ~1.5 µm (a finite soma's gradient falls faster than a step's), so a
#: soma read above it is blurred at least that much
FOCUS_MAX_UM = 1.5
#: a window is in focus when at least this share of its judged somata read within
#: :data:`FOCUS_MAX_UM` (their edge blur's quantile, :attr:`Somata.blur_um`): the focal
#: plane is in the window. In a 20 µm section a soma 8-15 µm across is cut by a plane
#: 1-3 µm deep about half the time or more (its diameter plus the depth of field over
#: the section's thickness: 0.45-0.9), more in a thinner one; a missed focus point blurs them all. On
#: the development windows (224/226 x30, 227-230 x18; 109 windows, scanner blur 0.8-1.5
#: µm) the quantile reads 0.33-1.31 sharp; with 30 / 50 / 70 % of the somata out of the
#: plane (each blurred by SD 2-5 µm) up to 1.29 / 1.40 / 1.64 (0 / 0 / 4 windows over);
#: a whole window blurred by SD 2 µm 0.33-1.74 (26 over), SD 3 µm 1.45-2.10 (106 over)
FOCUS_QUANTILE = 0.3
#: somata at least this equivalent diameter (µm) ...
FOCUS_SOMA_UM = 8.0
#: ... and this light contrast to the neuropil (share of the glass) judge the edge blur
FOCUS_CONTRAST = 0.1
#: fewest such somata to judge a window's focus
FOCUS_MIN_SOMATA = 5
#: directions over which a soma's greatest extent (its length) is sought
N_DIRECTIONS = 16
#: a compact soma's equivalent diameter is at least this share of its length
COMPACT = 0.7
#: a pyramidal soma's equivalent diameter per its length (a triangle with a rounded base:
#: a large pyramid 25 µm long has an equivalent diameter of ~20 µm; lone pyramids measured
#: here: median 0.80, IQR 0.77-0.82, on the development brains' drawn pyramids >= 20 µm)
PYRAMID_EQ = 0.8
#: a segment of the second pass (against the neuropil) is a pale soma of its own when less
#: than this share of it lies in the first mask (the dark somata are the first pass's)
PALE_NEW = 0.5
#: large pyramids are at least this many times the median soma length of their region, on
#: the half-maximum regions (granule and small pyramidal cells and glia: median ~10 µm ->
#: ~25 µm, the lower bound of "large pyramids (25-50 µm)"; see :func:`large_threshold_um`)
LARGE_FACTOR = 2.5
#: fewest somata for a region's own size scale (else :data:`LARGE_PYRAMID_UM`)
LARGE_MIN_SOMATA = 30


@dataclass
class Somata:
    """Detected somata: positions ``(y, x)`` µm, equivalent diameters and lengths (greatest
    extent of the half-maximum region, lengthened to the half-light edge; a disc's length
    is its diameter) in µm, and ``edge_um``: by how much (µm) each one's diameter and
    length were lengthened (:func:`_edge_shift`, 2 z s)."""

    yx_um: np.ndarray
    diam_um: np.ndarray
    length_um: np.ndarray
    edge_um: np.ndarray
    #: the window's edge blur (µm, Gaussian SD of the light at its sharpest somata's edges,
    #: optics and the 1 µm smoothing together: the :data:`FOCUS_QUANTILE` quantile over its
    #: somata; :func:`_edge_blur`); NaN when too few somata
    blur_um: float = float("nan")

    @property
    def in_focus(self) -> bool:
        """False when the window's edge blur exceeds :data:`FOCUS_MAX_UM`: fewer than
        :data:`FOCUS_QUANTILE` of its somata are in the focal plane, a missed focus point
        (its sizes and counts are then wrong; NaN, too few somata to judge, counts as in
        focus). Somata soft because they lie above or below the plane of a thick section
        do not make a window out of focus while enough others are sharp."""
        return not (self.blur_um > FOCUS_MAX_UM)


def detect_somata(img: np.ndarray, pixel_um: float, glass: float) -> Somata:
    """Somata in a window (raw intensities, top-left at (0, 0) µm; see module docstring)."""
    od = np.clip(np.log(glass / np.maximum(img, glass * 1e-3)), 0, None)
    fine = ndi.gaussian_filter(od, max(0.5, 1.0 / pixel_um))
    diff = fine - ndi.gaussian_filter(od, 25.0 / pixel_um)
    mad = float(np.median(np.abs(diff - np.median(diff)))) * 1.4826
    fg = _fill_small_holes(diff > 3 * max(mad, 1e-6), HOLE_UM, pixel_um)
    # where a soma's region may grow beyond the mask: half the detection contrast
    near = diff > 1.5 * max(mad, 1e-6)
    lab0, n0 = ndi.label(fg)
    if n0 == 0:
        return Somata(np.zeros((0, 2)), np.zeros(0), np.zeros(0), np.zeros(0))
    dist = ndi.distance_transform_edt(fg) * pixel_um
    # fine split: every maximum of the distance transform, each suppressing the weaker ones
    # closer than its own inscribed radius (a soma holds no other soma's centre)
    lab = watershed(-dist, _size_markers(dist, lab0, pixel_um), mask=fg)
    # coarse split (smoothed distance): its large compact somata are kept whole, so that the
    # corners, base and dendrite of a large pyramid do not become somata of their own
    coarse = _coarse_split(dist, lab0, fg, pixel_um)
    bg = _neuropil(fine, fg, pixel_um)
    lab = _keep_whole(lab, coarse, fine, bg, near, pixel_um)
    # second pass against the neuropil: pale somata in crowded layers, below the first
    # threshold (raised there by the dark somata around them), kept whole as well
    pale_lab = _pale_somata(fine, fg, near, bg, pixel_um)
    if pale_lab.any():
        lab = _keep_whole(lab, pale_lab, fine, bg, near, pixel_um, whole=True)
    diam, length, com, shift, blur = _sizes(fine, bg, near, lab, pixel_um, light=img / glass)
    keep = diam >= MIN_SOMA_UM
    return Somata((com[keep] + 0.5) * pixel_um, diam[keep], length[keep], shift[keep], blur)


def _coarse_split(
    dist_um: np.ndarray, lab: np.ndarray, mask: np.ndarray, pixel_um: float
) -> np.ndarray:
    """The coarse split of a soma ``mask`` (connected components ``lab``, distance to its
    edge ``dist_um`` in µm): a watershed of the distance smoothed over one pixel, from its
    maxima at least :data:`SPLIT_UM` µm apart, so that a large pyramid stays one segment."""
    smooth = ndi.gaussian_filter(dist_um, 1.0)
    peaks = label_peaks(smooth, lab, max(1, int(round(SPLIT_UM / pixel_um))), exclude_border=True)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-smooth, markers, mask=mask)


def _keep_whole(
    lab: np.ndarray,
    coarse: np.ndarray,
    fine: np.ndarray,
    bg: np.ndarray,
    near: np.ndarray,
    pixel_um: float,
    whole: bool = False,
) -> np.ndarray:
    """``lab`` with the segments of ``coarse`` that are large and compact (equivalent
    diameter of their half-maximum region >= :data:`WHOLE_UM` µm and >= :data:`COMPACT` of
    its length) put in place of the labels they cover, renumbered 1..n; with ``whole``
    every segment of ``coarse`` (already chosen) is put in place."""
    if whole:
        keep = np.ones(int(coarse.max()) + 1, bool)
    else:
        c_diam, c_len, _, _, _ = _sizes(fine, bg, near, coarse, pixel_um, edge=False)
        keep = np.concatenate([[True], (c_diam >= WHOLE_UM) & (c_diam >= COMPACT * c_len)])
    keep[0] = False
    if not keep[coarse].any():
        return lab
    lab = np.where(keep[coarse], coarse + lab.max(), lab)
    return np.unique(lab, return_inverse=True)[1].reshape(lab.shape)


def _pale_somata(
    fine: np.ndarray, fg: np.ndarray, near: np.ndarray, bg: np.ndarray, pixel_um: float
) -> np.ndarray:
    """Large compact somata that the first mask ``fg`` mostly missed, as labels (0 none).

    The first threshold is 3 robust SDs of the optical density minus its 25 µm mean, and
    both rise where dark somata crowd (layer IIIc, V): a pale pyramid among them falls
    below it. Here the contrast is taken against the neuropil itself (``fine`` averaged
    over the pixels that are neither soma nor pale: glass, vessels and tears, paler than
    half the neuropil's median, would lower it at the tissue's edges), and the threshold is
    3 robust SDs of the neuropil (from its lower half: undetected pale somata only add to
    its upper tail), pale holes up to :data:`HOLE_UM` µm filled. The mask is split as the
    coarse split of :func:`detect_somata` (smoothed distance, markers :data:`SPLIT_UM` µm
    apart); a segment is kept when less than :data:`PALE_NEW` of it lies in ``fg`` (dark
    somata are the first pass's) and its half-maximum region (measured against ``bg``, as
    every soma) is at least :data:`WHOLE_UM` µm across and compact."""
    out = np.zeros(fg.shape, np.int32)
    if fg.all():
        return out
    level = float(np.median(fine[~fg]))
    for _ in range(2):
        pale = fine < 0.5 * level
        if not (~fg & ~pale).any():
            return out
        level = float(np.median(fine[~fg & ~pale]))
    contrast = fine - _neuropil(fine, fg | pale, pixel_um)
    v = contrast[~fg & ~pale]
    mid = float(np.median(v))
    sd = (mid - float(np.percentile(v, 25))) / 0.6745
    fg2 = _fill_small_holes(contrast - mid > 3 * max(sd, 1e-6), HOLE_UM, pixel_um)
    lab2, n2 = ndi.label(fg2)
    if n2 == 0:
        return out
    seg = _coarse_split(ndi.distance_transform_edt(fg2) * pixel_um, lab2, fg2, pixel_um)
    n = int(seg.max())
    area = np.bincount(seg.ravel(), minlength=n + 1)
    seen = np.bincount(seg[fg].ravel(), minlength=n + 1)
    # only segments mostly new and, by their own area, at least half WHOLE_UM across (a
    # loose bound, to skip the measurement where nothing can pass it)
    cand = (seen < PALE_NEW * area) & (area * pixel_um**2 >= np.pi * (WHOLE_UM / 4) ** 2)
    cand[0] = False
    if not cand.any():
        return out
    # all segments compete for the pixels their regions grow into
    d, length, _, _, _ = _sizes(fine, bg, near | fg2, seg, pixel_um, edge=False)
    ok = cand & np.concatenate([[False], (d >= WHOLE_UM) & (d >= COMPACT * length)])
    out = np.where(ok[seg], seg, 0)
    return np.unique(out, return_inverse=True)[1].reshape(out.shape).astype(np.int32)


def _size_markers(dist_um: np.ndarray, lab0: np.ndarray, pixel_um: float) -> np.ndarray:
    """Watershed markers: local maxima of the distance transform (µm), strongest first,
    each removing the weaker maxima within max(:data:`SPLIT_UM`, its own distance)."""
    peaks = label_peaks(dist_um, lab0, 1, exclude_border=False)
    height = dist_um[tuple(peaks.T)]
    order = np.argsort(-height, kind="stable")
    peaks, height = peaks[order], height[order]
    alive = np.ones(len(peaks), bool)
    if len(peaks):
        radius = np.maximum(SPLIT_UM, height) / pixel_um
        near = cKDTree(peaks).query_ball_point(peaks, radius)
        for i in range(len(peaks)):
            if alive[i]:
                j = np.asarray(near[i], dtype=np.intp)
                alive[j[j > i]] = False
    markers = np.zeros(dist_um.shape, np.int32)
    kept = peaks[alive]
    markers[tuple(kept.T)] = np.arange(1, len(kept) + 1)
    return markers


def label_peaks(
    image: np.ndarray, labels: np.ndarray, min_distance: int, exclude_border: bool
) -> np.ndarray:
    """Local maxima of ``image`` within each label, as ``(K, 2)`` pixel indices: the same
    peaks in the same order as ``skimage.feature.peak_local_max(image, min_distance,
    labels=labels, exclude_border=exclude_border)``, computed for all labels at once
    (skimage loops over the labels in Python: most of the detector's time). ``labels``
    must come from :func:`scipy.ndimage.label` with its default 4-connectivity (no two
    4-adjacent pixels of different labels).

    A pixel is a peak when no pixel of its own label within ``min_distance`` (Chebyshev)
    is higher and it is above the image's minimum; a label whose every pixel is such a
    maximum (a plateau) keeps only its pixels that a 3 × 3 cross opening removes; peaks
    of one label are then taken highest first (ties in raster order), each removing the
    later ones of its label closer than ``min_distance``; labels in ascending order."""
    md = int(min_distance)
    lab = np.array(labels, dtype=np.int64)
    if exclude_border and md > 0:
        lab[:md] = 0
        lab[-md:] = 0
        lab[:, :md] = 0
        lab[:, -md:] = 0
    img = np.asarray(image)
    threshold = img.min()
    h, w = img.shape
    pad_img = np.pad(img.astype(np.float64), md, constant_values=-np.inf)
    pad_lab = np.pad(lab, md, constant_values=0)
    top = np.full((h, w), -np.inf)
    for dy in range(2 * md + 1):
        for dx in range(2 * md + 1):
            same = pad_lab[dy : dy + h, dx : dx + w] == lab
            np.maximum(top, np.where(same, pad_img[dy : dy + h, dx : dx + w], -np.inf), out=top)
    inside = lab > 0
    peak = inside & (img >= top)
    n_lab = np.bincount(lab[inside], minlength=1)
    n_peak = np.bincount(lab[peak], minlength=len(n_lab))
    plateau = (n_lab > 0) & (n_peak == n_lab)
    plateau[0] = False
    if plateau.any():
        flat = plateau[lab]
        isolated = inside & ~ndi.binary_opening(inside)
        peak = np.where(flat, isolated, peak)
    peak &= img > threshold
    yy, xx = np.nonzero(peak)
    if not len(yy):
        return np.zeros((0, 2), np.intp)
    lv, hv = lab[yy, xx], img[yy, xx]
    order = np.lexsort((np.arange(len(yy)), -hv, lv))
    yy, xx, lv = yy[order], xx[order], lv[order]
    coords = np.stack([yy, xx], 1)
    if md > 1 and len(coords) > 1:
        # greedy spacing within each label, highest first (Chebyshev distance < md)
        pairs = cKDTree(coords).query_pairs(md - 0.5, p=np.inf, output_type="ndarray")
        pairs = pairs[lv[pairs[:, 0]] == lv[pairs[:, 1]]]
        first, second = pairs.min(1), pairs.max(1)
        srt = np.argsort(first, kind="stable")
        first, second = first[srt], second[srt]
        start = np.searchsorted(first, np.arange(len(coords) + 1))
        keep = np.ones(len(coords), bool)
        for i in np.unique(first):
            if keep[i]:
                keep[second[start[i] : start[i + 1]]] = False
        coords = coords[keep]
    return coords


def _neuropil(fine: np.ndarray, fg: np.ndarray, pixel_um: float) -> np.ndarray:
    """The local neuropil level of the optical density: ``fine`` averaged over the pixels
    outside the somata mask ``fg`` within :data:`BACKGROUND_UM` µm (Gaussian SD), so that
    dense somata do not raise it."""
    s = BACKGROUND_UM / pixel_um
    out = (~fg).astype(np.float64)
    num = ndi.gaussian_filter(np.where(fg, 0.0, fine), s)
    den = ndi.gaussian_filter(out, s)
    glob = float(np.median(fine[~fg])) if (~fg).any() else float(np.median(fine))
    return np.where(den > 1e-3, num / np.maximum(den, 1e-3), glob)


def _sizes(
    fine: np.ndarray,
    bg: np.ndarray,
    near: np.ndarray,
    lab: np.ndarray,
    pixel_um: float,
    edge: bool = True,
    light: np.ndarray | None = None,
):
    """Per label: equivalent diameter and length (µm) of its half-maximum region, centre of
    mass (px), and by how much (µm) the diameter and length were lengthened to the
    half-light edge (0 without ``edge``).

    A soma's level is its :data:`PEAK_QUANTILE` quantile of the optical density ``fine``
    (the stained body; a dark nucleolus is a few pixels) above the local neuropil ``bg`` at
    its centre; its region is the pixels at least halfway between the two, grown from the
    label by a watershed on the optical density (so a soma the detection mask cut short is
    measured to its own half-maximum, and touching somata part at the saddle between
    them), with pale holes (the nucleus) filled. With ``edge`` the diameter and length are
    lengthened to the half-light edge (:func:`_edge_shift`); without, they are the
    region's own (the split decisions use these)."""
    n = int(lab.max())
    flat = lab.ravel()
    on = np.flatnonzero(flat)
    lab_on = flat[on]
    count = np.bincount(lab_on, minlength=n + 1)
    w = lab.shape[1]
    com = (
        np.stack(
            [
                np.bincount(lab_on, weights=on // w, minlength=n + 1)[1:],
                np.bincount(lab_on, weights=on % w, minlength=n + 1)[1:],
            ],
            1,
        )
        / np.maximum(count[1:], 1)[:, None]
    )
    # each label's body level: a high quantile of its optical density
    vals = fine.ravel()[on]
    order = np.lexsort((vals, lab_on))
    start = np.concatenate([[0], np.cumsum(count[1:])])
    k = start[:-1] + np.floor(PEAK_QUANTILE * np.maximum(count[1:] - 1, 0)).astype(np.int64)
    peak = np.zeros(n + 1)
    peak[1:] = vals[order][np.minimum(k, len(vals) - 1)] if len(vals) else 0.0
    cy = np.clip(np.round(com[:, 0]).astype(np.int64), 0, lab.shape[0] - 1)
    cx = np.clip(np.round(com[:, 1]).astype(np.int64), 0, lab.shape[1] - 1)
    base = np.zeros(n + 1)
    base[1:] = bg[cy, cx]
    half = base + 0.5 * np.maximum(peak - base, 0.0)
    half[0] = np.inf
    # grow each label over the pixels above the neuropil, parting at intensity saddles
    grow = watershed(-fine, lab, mask=(near & (fine > bg)) | (lab > 0))
    core = (fine >= half[grow]) & (grow > 0)
    core = ndi.binary_fill_holes(core) & (grow > 0)
    npx = np.bincount(grow[core], minlength=n + 1)[1:].astype(np.float64)
    diam = 2 * np.sqrt(npx * pixel_um**2 / np.pi)
    length = np.maximum(_length_px(core, grow, n), _major_axis(core, grow, n, npx)) * pixel_um
    shift = np.zeros(n)
    if edge:
        shift = _edge_shift(fine, base, peak, half, core, grow, diam, pixel_um)
        diam = diam + shift
        length = length + shift
    length = np.maximum(length, diam)
    # what the label itself holds of its region (noise specks grow into the neuropil)
    own = np.bincount(lab[core & (lab == grow)], minlength=n + 1)[1:]
    diam[2 * np.sqrt(own * pixel_um**2 / np.pi) < MIN_SOMA_UM] = 0.0
    blur = float("nan")
    if light is not None:
        blur = _edge_blur(light, base, peak, grow, diam, pixel_um)
    return diam, length, com, shift, blur


def _edge_shift(
    fine: np.ndarray,
    base: np.ndarray,
    peak: np.ndarray,
    half: np.ndarray,
    core: np.ndarray,
    grow: np.ndarray,
    diam_um: np.ndarray,
    pixel_um: float,
) -> np.ndarray:
    """Per label 1..n: how much (µm) its half-maximum region's diameter and length fall
    short of its edge, where half the light contrast to the neuropil is crossed.

    ``half`` is each label's half optical density between the neuropil ``base`` and its
    body ``peak``; ``core`` the regions (labels ``grow``), ``diam_um`` their equivalent
    diameters. A Gaussian-blurred edge of SD s crosses that level z * s inside the edge, z
    the normal quantile of the light fraction there (:func:`half_contrast_od`): the
    diameter and length are 2 * z * s short. s is the window's (one optics): over its
    somata at least :data:`WHOLE_UM` / 2 µm across, the median of the radius their
    half-light region adds, over z, that region sought within :data:`EDGE_UM` µm of the
    core (a neighbour touching a soma moves one estimate of s, not that soma's size)."""
    n = len(diam_um)
    light = half_contrast_od(base, np.maximum(peak, base))
    light[0] = np.inf
    ring = ndi.binary_dilation(core, _disc(max(1.0, EDGE_UM / pixel_um)))
    out = ndi.binary_fill_holes((fine >= light[grow]) & ring & (grow > 0)) & (grow > 0)
    npx = np.bincount(grow[out], minlength=n + 1)[1:].astype(np.float64)
    gain = (2 * np.sqrt(npx * pixel_um**2 / np.pi) - diam_um) / 2
    t_bg, t_body = np.exp(-base[1:]), np.exp(-np.maximum(peak[1:], base[1:]))
    frac = (t_bg - np.exp(-half[1:])) / np.maximum(t_bg - t_body, 1e-12)
    z = ndtri(np.clip(frac, 0.5, 1 - 1e-9))
    ok = (z > 0.05) & (diam_um >= WHOLE_UM / 2) & (gain > 0)
    s_um = float(np.median(gain[ok] / z[ok])) if ok.any() else 0.0
    return 2 * s_um * z


def _edge_blur(
    light: np.ndarray,
    base: np.ndarray,
    peak: np.ndarray,
    grow: np.ndarray,
    diam_um: np.ndarray,
    pixel_um: float,
) -> float:
    """The window's edge blur (µm): per soma at least :data:`FOCUS_SOMA_UM` µm across with a
    light contrast of at least :data:`FOCUS_CONTRAST`, the Gaussian SD of a blurred step
    that has its steepest light gradient; the :data:`FOCUS_QUANTILE` quantile over them
    (its sharpest somata: those in the focal plane); NaN with fewer than
    :data:`FOCUS_MIN_SOMATA` of them.

    ``light`` is the transmitted light (over the glass), smoothed here over the 1 µm of the
    detection; ``base`` and ``peak`` each label's neuropil and body optical density, so its
    light contrast is C = exp(-base) - exp(-peak); ``grow`` the labels' grown regions. A
    step of contrast C blurred with SD s has its steepest gradient C / (sqrt(2 pi) s) at the
    edge; a central difference over one pixel h on each side reads (2 Phi(h / s) - 1) C /
    (2 h) there, inverted here. The steepest gradient is sought on each region and one
    pixel around it (the edge lies at the half-light level, at or just outside the region).
    Optics blur light, so the estimate is taken on the light, not the optical density."""
    n = len(diam_um)
    sm = max(0.5, 1.0 / pixel_um)
    lf = ndi.gaussian_filter(np.asarray(light, dtype=np.float64), sm)
    gy, gx = np.gradient(lf, pixel_um)
    grad = np.hypot(gy, gx)
    ext = np.where(grow > 0, grow, ndi.grey_dilation(grow, size=3))
    g = np.asarray(ndi.maximum(grad, ext, np.arange(1, n + 1)), dtype=np.float64)
    c = np.exp(-base[1:]) - np.exp(-np.maximum(peak[1:], base[1:]))
    ok = (diam_um >= FOCUS_SOMA_UM) & (c >= FOCUS_CONTRAST) & (g > 0)
    if ok.sum() < FOCUS_MIN_SOMATA:
        return float("nan")
    h = pixel_um
    r = np.clip(2 * h * g[ok] / c[ok], 1e-6, 1 - 1e-9)
    s = h / ndtri((1 + r) / 2)
    return float(np.quantile(s, FOCUS_QUANTILE))


def half_contrast_od(background_od: np.ndarray, body_od: np.ndarray) -> np.ndarray:
    """The optical density of the half-contrast edge between a body of optical density
    ``body_od`` and its background ``background_od``: where the transmitted light is
    halfway between the two. Optics blur light, not optical density (and a pixel on the
    edge averages the light of what it covers), so a blurred or partly covered edge
    crosses half the light contrast at the edge itself; half the optical-density contrast
    lies inside it, the further the darker the body (a body of optical density 2 on a
    neuropil of 0.3: half the optical density lies 0.5 blur SDs inside the edge)."""
    return -np.log(0.5 * (np.exp(-background_od) + np.exp(-body_od)))


def _disc(radius_px: float) -> np.ndarray:
    """A disc structuring element of ``radius_px`` pixels."""
    r = int(np.floor(radius_px))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return yy**2 + xx**2 <= radius_px**2


def _fill_small_holes(mask: np.ndarray, diam_um: float, pixel_um: float) -> np.ndarray:
    """``mask`` with its holes of up to the area of a ``diam_um`` µm disc filled."""
    holes, n = ndi.label(ndi.binary_fill_holes(mask) & ~mask)
    if n == 0:
        return mask
    size = np.bincount(holes.ravel()) * pixel_um**2
    small = size <= np.pi * (diam_um / 2) ** 2
    small[0] = False
    return mask | small[holes]


def large_threshold_um(lengths_um: np.ndarray, edge_um: np.ndarray) -> float:
    """The least length (µm, to the half-light edge) of a large pyramid in a region.

    ``lengths_um`` are its somata's lengths (all depths), ``edge_um`` by how much each was
    lengthened to its half-light edge (:attr:`Somata.edge_um`). The threshold is
    :data:`LARGE_FACTOR` times the median length of the half-maximum regions (the lengths
    less their edge correction, the sizes the factor was set for), so that shrinkage,
    section thickness or a wrong calibration, which scale every soma alike, do not change
    what is large; plus the median edge correction, the additive 2 z s each soma's length
    gained (scaling the corrected lengths instead would raise the cut-off by 2.5 times the
    correction of small somata, relatively the largest). :data:`LARGE_PYRAMID_UM` when
    fewer than :data:`LARGE_MIN_SOMATA` somata were found."""
    v = np.asarray(lengths_um, dtype=np.float64)
    e = np.asarray(edge_um, dtype=np.float64)
    ok = np.isfinite(v) & np.isfinite(e)
    if ok.sum() < LARGE_MIN_SOMATA:
        return LARGE_PYRAMID_UM
    return float(LARGE_FACTOR * np.median(v[ok] - e[ok]) + np.median(e[ok]))


def is_large(
    s_diam: np.ndarray, s_length: np.ndarray, threshold_um: float = LARGE_PYRAMID_UM
) -> np.ndarray:
    """Large pyramids: somata (equivalent diameters ``s_diam``, lengths ``s_length``, µm)
    with at least the area of a pyramid ``threshold_um`` long (equivalent diameter >=
    :data:`PYRAMID_EQ` of it) and compact (equivalent diameter >= :data:`COMPACT` of their
    own length: two touching small somata are long but thin).

    The area, not the length, decides: two overlapping somata, or a soma and a glial cell
    on it, add their lengths but only part of their widths, so a pair of small somata reads
    as long as a large pyramid well before it has its area."""
    return (s_diam >= PYRAMID_EQ * threshold_um) & (s_diam >= COMPACT * s_length)


def _length_px(core: np.ndarray, lab: np.ndarray, n: int) -> np.ndarray:
    """Length (px) of the core pixels of labels 1..``n``: their greatest extent (Feret
    diameter, pixel centres + 1 px) over :data:`N_DIRECTIONS` directions, as a pyramid's
    length is measured from its base to its apex (the moment ellipse's axis reads a
    triangle ~6 % short)."""
    yy, xx = np.nonzero(core)
    lc = lab[yy, xx]
    idx = np.arange(1, n + 1)
    best = np.zeros(n)
    if not len(yy):
        return best
    for t in np.linspace(0, np.pi, N_DIRECTIONS, endpoint=False):
        proj = yy * np.cos(t) + xx * np.sin(t)
        span = ndi.maximum(proj, lc, idx) - ndi.minimum(proj, lc, idx)
        best = np.maximum(best, np.nan_to_num(np.asarray(span, float), nan=-1.0))
    return np.where(np.isin(idx, lc), best + 1, 0.0)


def _major_axis(core: np.ndarray, lab: np.ndarray, n: int, npx: np.ndarray) -> np.ndarray:
    """Major axis (px) of the core pixels of labels 1..``n``: 4 sqrt(largest second
    moment) (+1 px for the pixel extent)."""
    yy, xx = np.nonzero(core)
    lc = lab[yy, xx]
    yy, xx = yy.astype(np.float64), xx.astype(np.float64)
    cnt = np.maximum(npx, 1)

    def m(a):
        return np.bincount(lc, weights=a, minlength=n + 1)[1:] / cnt

    my, mx = m(yy), m(xx)
    cyy = m(yy * yy) - my**2
    cxx = m(xx * xx) - mx**2
    cxy = m(yy * xx) - my * mx
    lam = (cyy + cxx) / 2 + np.sqrt(((cyy - cxx) / 2) ** 2 + cxy**2)
    return 4 * np.sqrt(np.maximum(lam, 0)) + 1


@dataclass
class CellStats:
    """Cell statistics along traverses: density per relative-depth bin (cells/mm²),
    soma equivalent diameters (µm), large pyramids per mm of ribbon with their lengths
    (µm) and relative depths."""

    depth_edges: np.ndarray
    density_per_mm2: np.ndarray
    diam_um: np.ndarray
    depth_of_cell: np.ndarray
    large_per_mm: float
    large_diam_um: np.ndarray
    large_depth: np.ndarray
    band_mm: float
    pixel_um: float
    #: summed length (mm) of the traverses the band follows
    traverse_mm: float = float("nan")
    #: the least length (µm, to the half-light edge) counted as a large pyramid here
    #: (:func:`large_threshold_um`)
    large_min_um: float = LARGE_PYRAMID_UM
    #: windows read along the traverses
    n_windows: int = 0
    #: windows left out as out of focus (:attr:`Somata.in_focus`): ``(edge blur µm, y µm,
    #: x µm)`` of each (its centre); their somata are not counted anywhere
    blurred: list = field(default_factory=list)
    #: with windows left out: the depth spans the counted windows cover, ``(traverse length
    #: mm, top, bottom)`` in relative depth, so densities divide by the area read
    covered: list = field(default_factory=list)

    @property
    def giant_min_um(self) -> float:
        """The least length (µm) called giant (Betz/Meynert class): the large threshold
        scaled as :data:`GIANT_UM` is to :data:`LARGE_PYRAMID_UM`."""
        return self.large_min_um * GIANT_UM / LARGE_PYRAMID_UM

    @property
    def n_giant_deep(self) -> int:
        """Giant pyramids (at least :attr:`giant_min_um` long) of the deep layers (relative
        depth >= :data:`DEEP_DEPTH`): the Betz/Meynert class where it lives."""
        deep = self.large_depth >= DEEP_DEPTH
        return int(np.sum(deep & (self.large_diam_um >= self.giant_min_um)))

    def density_between(self, top: float, bottom: float) -> float:
        """Somata per mm² between two relative depths (0 pia .. 1 white matter); NaN when
        the interval or the traverses are empty."""
        if not (bottom > top) or not np.isfinite(self.traverse_mm) or self.traverse_mm <= 0:
            return float("nan")
        n = int(np.sum((self.depth_of_cell >= top) & (self.depth_of_cell < bottom)))
        if self.blurred:
            span = sum(
                ln * max(0.0, min(bottom, b) - max(top, a)) for ln, a, b in self.covered
            )
            if span <= 0:
                return float("nan")
            return n / (span * BAND_UM / 1000.0)
        area_mm2 = self.traverse_mm * (bottom - top) * BAND_UM / 1000.0
        return n / area_mm2

    def to_dict(self) -> dict:
        d = self.diam_um
        return {
            "pixel_size_um": self.pixel_um,
            "n_somata": int(len(d)),
            "depth_edges": [round(float(v), 3) for v in self.depth_edges],
            "density_per_mm2": [round(float(v), 1) for v in self.density_per_mm2],
            "soma_diameter_um": {
                "median": _r(np.median(d)) if len(d) else None,
                "p10": _r(np.percentile(d, 10)) if len(d) else None,
                "p90": _r(np.percentile(d, 90)) if len(d) else None,
                "max": _r(d.max()) if len(d) else None,
            },
            "large_pyramid_min_um": _r(self.large_min_um),
            "large_pyramids_per_mm": round(self.large_per_mm, 2),
            "large_pyramid_lengths_um": [_r(v) for v in self.large_diam_um],
            "large_pyramid_depths": [round(float(v), 3) for v in self.large_depth],
            "band_mm": round(self.band_mm, 3),
            "windows": int(self.n_windows),
            "windows_out_of_focus": [
                {"edge_blur_um": _r(b), "y_um": _r(y), "x_um": _r(x)} for b, y, x in self.blurred
            ],
        }


def _r(v) -> float:
    return round(float(v), 1)


def cells_along(
    read, paths_um: list[np.ndarray], glass: float, pixel_um: float, n_bins: int = 10, cancel=None
) -> CellStats:
    """Detect somata in a band around each traverse path (``(M, 2)`` µm polylines, pia
    first). ``read(y0, x0, h, w, px)`` reads a window (µm). A soma's relative depth is the
    position along its traverse of the nearest path point. ``cancel()`` is checked between
    windows."""
    found_depth, found_d, found_len, found_shift = [], [], [], []
    band_mm = 0.0
    n_windows, blurred, covered = 0, [], []
    for path in paths_um:
        seg = np.hypot(*np.diff(path, axis=0).T)
        length = float(seg.sum())
        band_mm += BAND_UM / 1000.0
        s = np.concatenate([[0.0], np.cumsum(seg)])
        dense = np.stack([np.interp(np.arange(0, length, 2.0), s, path[:, k]) for k in (0, 1)], 1)
        tree = cKDTree(dense)
        pieces = max(1, int(np.ceil(length / WINDOW_UM)))
        for i in range(pieces):
            a = i * len(dense) // pieces
            b = (i + 1) * len(dense) // pieces
            part = dense[a : b + 1]
            lo = part.min(0) - BAND_UM
            hi = part.max(0) + BAND_UM
            if cancel is not None:
                cancel()
            img = read(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1], pixel_um)
            som = detect_somata(img, pixel_um, glass)
            n_windows += 1
            if not som.in_focus:
                # blurred beyond the edge correction: somata merge and vanish, sizes grow
                mid = (lo + hi) / 2
                blurred.append((som.blur_um, float(mid[0]), float(mid[1])))
                continue
            covered.append((length / 1000.0, a * 2.0 / max(length, 1e-9),
                            min(1.0, b * 2.0 / max(length, 1e-9))))
            if len(som.diam_um) == 0:
                continue
            yx = som.yx_um + lo
            d, j = tree.query(yx)
            # inside the band, and owned by this piece (overlapping windows count once)
            ok = (d <= BAND_UM / 2) & (j >= a) & (j < b)
            found_depth.append(j[ok] * 2.0 / max(length, 1e-9))
            found_d.append(som.diam_um[ok])
            found_len.append(som.length_um[ok])
            found_shift.append(som.edge_um[ok])
    depth = np.concatenate(found_depth) if found_depth else np.zeros(0)
    diam = np.concatenate(found_d) if found_d else np.zeros(0)
    length = np.concatenate(found_len) if found_len else np.zeros(0)
    shift = np.concatenate(found_shift) if found_shift else np.zeros(0)
    edges = np.linspace(0, 1, n_bins + 1)
    counts = np.histogram(depth, edges)[0]
    lengths = [float(np.hypot(*np.diff(p, axis=0).T).sum()) for p in paths_um]
    # each bin of a traverse covers length/n_bins µm of depth times the band width
    bin_area_mm2 = sum(lengths) / n_bins * BAND_UM * 1e-6
    dens = counts / max(bin_area_mm2, 1e-12)
    if blurred:
        # only the windows in focus were read: each bin over the band area they cover
        read_mm = np.array([
            sum(ln * max(0.0, min(hi_, b) - max(lo_, a)) for ln, a, b in covered)
            for lo_, hi_ in zip(edges[:-1], edges[1:])
        ])
        dens = np.where(read_mm > 0, counts / np.maximum(read_mm * BAND_UM / 1000.0, 1e-12), np.nan)
        band_mm *= sum(ln * (b - a) for ln, a, b in covered) / max(sum(lengths) / 1000.0, 1e-12)
    threshold = large_threshold_um(length, shift)
    large = is_large(diam, length, threshold) & (depth >= 0) & (depth <= 1)
    order = np.argsort(length[large])[::-1]
    return CellStats(
        edges,
        dens,
        diam,
        depth,
        float(large.sum()) / max(band_mm, 1e-12),
        length[large][order],
        depth[large][order],
        band_mm,
        pixel_um,
        sum(lengths) / 1000.0,
        threshold,
        n_windows,
        blurred,
        covered if blurred else [],
    )
