"""Hand-made windows of tall pyramids (taller than wide, as real large pyramids and Betz
cells are), drawn independently of the generator's pyramid shape: a rounded triangle with
its apex towards the pia (up, -y), a short apical dendrite stub and a pale nucleus, on a
neuropil with small round somata; and guards (pairs of small somata, a glial cell on a
small soma). The radial direction of every window is vertical (``RADIAL = pi / 2``)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

GLASS = 240.0
NEUROPIL = 200.0
#: the radial direction of these windows (image coordinates, atan2(dy, dx)): vertical
RADIAL = np.pi / 2
#: supersampling grid (µm)
FINE_UM = 0.25


def _grid(shape_um: tuple[float, float]):
    ny, nx = int(round(shape_um[0] / FINE_UM)), int(round(shape_um[1] / FINE_UM))
    yy, xx = np.mgrid[0:ny, 0:nx]
    return (yy + 0.5) * FINE_UM, (xx + 0.5) * FINE_UM


def tall_pyramid_mask(yy, xx, cy, cx, height_um, ratio, round_frac=0.15):
    """A rounded triangle (apex up) of ``height_um`` and base ``ratio * height_um``,
    centred (its bounding box) on ``(cy, cx)``; corners rounded by a radius of
    ``round_frac`` of the base (the triangle shrunk by it, then grown by it back)."""
    b, h = ratio * height_um, height_um
    r = round_frac * b
    top, bottom = cy - h / 2, cy + h / 2
    # signed distance to the triangle's three edges (inside negative), then rounded
    # (apex at (top, cx), base corners at (bottom, cx +- b / 2))
    # inward normals: the base, and the two slanted sides
    side_len = np.hypot(h, b / 2)
    d_base = yy - bottom
    d_right = ((xx - cx) * h - (yy - top) * b / 2) / side_len
    d_left = (-(xx - cx) * h - (yy - top) * b / 2) / side_len
    d = np.maximum.reduce([d_base, d_right, d_left])
    inner = d <= -r
    return ndi.distance_transform_edt(~inner, sampling=FINE_UM) <= r


def draw_window(
    objects: list[dict],
    shape_um: tuple[float, float] = (160.0, 160.0),
    pixel_um: float = 2.0,
    n_small: int = 25,
    seed: int = 0,
    blur_um: float = 1.0,
    noise: float = 3.0,
) -> np.ndarray:
    """A window (raw intensities, ``pixel_um`` µm/px) with ``objects`` drawn on a neuropil
    with ``n_small`` small round somata (8-12 µm, stain 0.6-0.8) and as many glial cells
    (4-6 µm) kept 10 µm clear of the objects. Objects: ``{"kind": "pyramid", "y", "x",
    "height", "ratio", "f"}`` (apex up, a dendrite stub 0.3 height long, a nucleus of 0.35
    the base at 0.45 of the stain), ``{"kind": "disc", "y", "x", "diam", "f"}``."""
    rng = np.random.default_rng(seed)
    yy, xx = _grid(shape_um)
    stain = np.zeros(yy.shape)
    busy = np.zeros(yy.shape, bool)
    for o in objects:
        if o["kind"] == "pyramid":
            h, b = o["height"], o["ratio"] * o["height"]
            body = tall_pyramid_mask(yy, xx, o["y"], o["x"], h, o["ratio"])
            top = o["y"] - h / 2
            # apical dendrite stub: from inside the apex upward, tapering 0.2 b -> 0.1 b
            a = (top + 0.1 * h - yy) / (0.4 * h)
            stub = (a >= 0) & (a <= 1) & (np.abs(xx - o["x"]) <= (0.1 - 0.05 * a) * b)
            # nucleus: a disc of 0.35 b at 2/3 of the height (the triangle's centroid)
            nuc = np.hypot(yy - (top + 2 * h / 3), xx - o["x"]) <= 0.175 * b
            val = np.where(body | stub, o["f"], 0.0)
            val = np.where(nuc & body, 0.45 * o["f"], val)
            stain = np.maximum(stain, val)
            busy |= ndi.distance_transform_edt(~(body | stub), sampling=FINE_UM) <= 10
        else:
            disc = np.hypot(yy - o["y"], xx - o["x"]) <= o["diam"] / 2
            stain = np.maximum(stain, np.where(disc, o["f"], 0.0))
            busy |= np.hypot(yy - o["y"], xx - o["x"]) <= o["diam"] / 2 + 10
    placed = 0
    tries = 0
    while placed < 2 * n_small and tries < 50 * n_small:
        tries += 1
        glia = placed >= n_small
        d = rng.uniform(4, 6) if glia else rng.uniform(8, 12)
        cy, cx = rng.uniform(d, shape_um[0] - d), rng.uniform(d, shape_um[1] - d)
        iy, ix = int(cy / FINE_UM), int(cx / FINE_UM)
        if busy[iy, ix]:
            continue
        disc = np.hypot(yy - cy, xx - cx) <= d / 2
        if (busy & disc).any():
            continue
        f = rng.uniform(0.7, 0.9) if glia else rng.uniform(0.6, 0.8)
        stain = np.maximum(stain, np.where(disc, f, 0.0))
        busy |= np.hypot(yy - cy, xx - cx) <= d / 2 + 3
        placed += 1
    k = int(round(pixel_um / FINE_UM))
    ny, nx = stain.shape[0] // k, stain.shape[1] // k
    light = NEUROPIL * (1 - stain[: ny * k, : nx * k])
    light = ndi.gaussian_filter(light, blur_um / FINE_UM)
    img = light.reshape(ny, k, nx, k).mean(axis=(1, 3))
    return (img + rng.normal(0, noise, img.shape)).astype(np.float32)
