"""Grain of the cell-body stain along the traverses, read at a finer resolution.

An optical-density profile follows how much of the section the cell bodies cover; it
cannot tell many small somata from fewer large ones. The *grain* can: at
:data:`GRAIN_UM` µm/px the stain's detail is split into two spatial bands,

- fine: the optical density less its Gaussian blur over :data:`FINE_SIGMA_UM` (detail
  smaller than about 8 µm: granule cells, glia, the edges of larger somata),
- coarse: that blur less the blur over :data:`COARSE_SIGMA_UM` (detail of about 8-16 µm:
  pyramidal somata),

and the **fine-grain share** is the fine band's energy over both bands' energy, each
averaged over :data:`ENERGY_SIGMA_UM`. It is a ratio of the tissue's own detail at two
scales, so the stain strength and the scanner's contrast cancel. Sampled along the
readout's traverses at the same relative depths as the profile, it gives a grain profile
per traverse. A band of large pyramids (lower layer III) reads as a dip of the share;
where a layer of small granule cells (IV) lies beneath them the share rises again
(:func:`~.layers.grain_band`). Agranular cortex with large pyramids in III (premotor,
motor) dips as deeply in about half of the regions, but the large pyramids of V follow
and the share stays low beneath the dip: :func:`~.layers.with_grain_iv` shows a layer IV
only where it rises again within about a layer IV's depth (docs/measure.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage as ndi

from .ribbon import optical_density

#: resolution of the grain read (µm/px); only scans with a level at least this fine
GRAIN_UM = 4.0
#: the fine and coarse bands: blur radii (Gaussian SD, µm)
FINE_SIGMA_UM = 4.0
COARSE_SIGMA_UM = 8.0
#: the bands' energies are averaged over this Gaussian SD (µm)
ENERGY_SIGMA_UM = 25.0
#: margin (µm) read around the traverses
MARGIN_UM = 60.0


def fine_grain_share(od: np.ndarray, pixel_um: float) -> np.ndarray:
    """The fine-grain share (0..1) of an optical-density image at ``pixel_um`` µm/px: the
    energy of the detail finer than :data:`FINE_SIGMA_UM` over that of the detail up to
    :data:`COARSE_SIGMA_UM`, each averaged over :data:`ENERGY_SIGMA_UM` (module docstring),
    on the image's grid."""
    share, k = _share_blocks(od, pixel_um)
    h, w = np.shape(od)
    return ndi.map_coordinates(
        share, np.meshgrid(_to_blocks(np.arange(h), k), _to_blocks(np.arange(w), k), indexing="ij"),
        order=1, mode="nearest",
    ).astype(np.float32)


def _to_blocks(px: np.ndarray, k: int) -> np.ndarray:
    """Pixel coordinates (centres at integers) on the grid of ``k`` × ``k`` blocks."""
    return (np.asarray(px, dtype=np.float64) + 0.5) / k - 0.5


def _share_blocks(od: np.ndarray, pixel_um: float) -> tuple[np.ndarray, int]:
    """The fine-grain share on a grid of ``k`` × ``k`` pixel blocks and ``k``: the band
    energies are smooth, so they are averaged over blocks of about half of
    :data:`ENERGY_SIGMA_UM` and the small image blurred (a fraction of the cost)."""
    od = np.asarray(od, dtype=np.float32)
    g1 = _gaussian(od, FINE_SIGMA_UM / pixel_um)
    g2 = _gaussian(g1, np.sqrt(COARSE_SIGMA_UM**2 - FINE_SIGMA_UM**2) / pixel_um)
    k = max(1, int(ENERGY_SIGMA_UM / pixel_um / 2))
    # the blocks' own width adds k²/12 px² of variance to the blur
    s = np.sqrt(max((ENERGY_SIGMA_UM / pixel_um) ** 2 - k * k / 12.0, 0.25)) / k
    g2 -= g1  # in place: the coarse band, then the fine one
    g1 -= od
    fine = ndi.gaussian_filter(_block_mean(np.square(g1, out=g1), k), s)
    coarse = ndi.gaussian_filter(_block_mean(np.square(g2, out=g2), k), s)
    total = fine + coarse
    share = np.where(total > 0, fine / np.maximum(total, 1e-12), np.nan)
    return share.astype(np.float32), k


def _gaussian(a: np.ndarray, sigma: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(a, sigma)`` of a 2-D array, the same values: the
    pass along the columns runs along the rows of a transposed copy (each line is filtered
    alone, so the order of the memory does not change a value), which is faster on images
    larger than the CPU's cache (the grain window: about 1.4 times)."""
    t = np.ascontiguousarray(np.asarray(a).T)
    ndi.gaussian_filter1d(t, sigma, axis=1, output=t)
    out = np.ascontiguousarray(t.T)
    ndi.gaussian_filter1d(out, sigma, axis=1, output=out)
    return out


def _block_mean(a: np.ndarray, k: int) -> np.ndarray:
    """Means over ``k`` × ``k`` blocks (the last partial blocks over what they hold)."""
    h, w = a.shape
    hp, wp = -(-h // k) * k, -(-w // k) * k
    pad = np.zeros((hp, wp), dtype=a.dtype)
    pad[:h, :w] = a
    # each block row's k pixels summed, then the block's k row sums: the order of
    # ``pad.reshape(hp // k, k, wp // k, k).sum((1, 3))`` (the same sums), without numpy's
    # slow strided reduction
    strips = [pad[:, j::k] for j in range(k)]
    row_sums = strips[0].copy()
    for c in strips[1:]:
        row_sums += c
    num = row_sums[0::k].copy()
    for i in range(1, k):
        num += row_sums[i::k]
    rows = np.minimum(k, h - np.arange(0, hp, k))
    cols = np.minimum(k, w - np.arange(0, wp, k))
    return num / np.outer(rows, cols)


def grain_profiles(
    read_window: Callable[..., np.ndarray],
    paths_um: list[np.ndarray],
    glass: float,
    n: int = 100,
) -> np.ndarray:
    """Fine-grain share at ``n`` relative depths (bin centres, pia first, equally spaced
    along each path as the readout's profiles) along each traverse ``paths_um`` (``(K, 2)``
    ``(y, x)`` µm), read once at :data:`GRAIN_UM` µm/px over the traverses' bounding box
    (plus :data:`MARGIN_UM`) with ``read_window(y0, x0, h, w, pixel_um)`` (NaN outside the scan reads as glass); ``glass``: the
    slide's glass level. Returns ``(len(paths_um), n)``."""
    if not paths_um:
        return np.zeros((0, n))
    p = GRAIN_UM
    allp = np.concatenate(paths_um)
    lo = np.floor((allp.min(0) - MARGIN_UM) / p) * p
    hi = allp.max(0) + MARGIN_UM
    img = np.array(read_window(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1], p), np.float64)
    img[~np.isfinite(img)] = glass  # outside the scan: glass
    share, k = _share_blocks(optical_density(img, glass), p)
    blank = ~np.isfinite(share)
    if blank.any():  # blocks with no detail at all (blank glass): the typical share
        share = np.where(blank, np.nanmedian(share), share)
    t = (np.arange(n) + 0.5) / n
    out = np.empty((len(paths_um), n))
    for i, path in enumerate(paths_um):
        s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(path, axis=0).T))])
        y = (np.interp(t * s[-1], s, path[:, 0]) - lo[0]) / p - 0.5
        x = (np.interp(t * s[-1], s, path[:, 1]) - lo[1]) / p - 0.5
        out[i] = ndi.map_coordinates(
            share, [_to_blocks(y, k), _to_blocks(x, k)], order=1, mode="nearest"
        )
    return out
