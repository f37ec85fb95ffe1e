"""Irregular folding of a section's outline: gyri and sulci of varying depth, width, bend
and branching.

The tissue is a lobed blob (an ellipse with random low harmonics) from which sulci are cut
as narrow clefts: each sulcus is a path that starts outside the blob and runs inwards with a
slowly changing heading (bends on a scale of millimetres), to a depth drawn from a wide
lognormal; some branch. The cleft is the retraction gap between the two pial surfaces
(0.1-0.35 mm wide, wider at the mouth); the ribbon then follows both walls, rounds the
fundus and the crowns. Paths keep a minimum distance from each other so that gyri keep a
white-matter core. The outline is the contour of that mask, lightly smoothed.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_edt, gaussian_filter1d
from scipy.spatial import cKDTree
from skimage.measure import find_contours


def _blob_radius(rng: np.random.Generator, rx: float, ry: float):
    amps = [rng.uniform(0, 0.06) * 2 / n for n in range(2, 7)]
    phases = rng.uniform(0, 2 * np.pi, 5)

    def radius(t: np.ndarray) -> np.ndarray:
        ell = 1.0 / np.sqrt((np.cos(t) / rx) ** 2 + (np.sin(t) / ry) ** 2)
        lobes = 1 + sum(a * np.cos(n * t + p) for a, n, p in zip(amps, range(2, 7), phases))
        return ell * lobes

    return radius


def _walk(rng, start, heading, length, step, radius, centre, others, keep_from):
    """Points of one sulcus path; stops near other paths or the far side of the blob."""
    bend0 = rng.normal(0, 1 / 15000.0)
    bend1 = rng.uniform(0, 1 / 8000.0)
    lam = rng.uniform(2000.0, 5000.0)
    ph = rng.uniform(0, 2 * np.pi)
    pts = [np.asarray(start, float)]
    s = 0.0
    while s < length:
        heading += (bend0 + bend1 * np.sin(s / lam + ph)) * step
        nxt = pts[-1] + step * np.array([np.cos(heading), np.sin(heading)])
        s += step
        rel = nxt - centre
        r_b = radius(np.array([np.arctan2(rel[1], rel[0])]))[0]
        if np.hypot(*rel) < 0.3 * r_b:
            break  # keeps a white-matter core in the middle of the section
        if others is not None and s > keep_from * 0.5:
            if others.query(nxt, distance_upper_bound=keep_from)[0] < keep_from:
                break
        pts.append(nxt)
    return np.array(pts)


def folded_outline(rng: np.random.Generator, w_um: float, h_um: float) -> np.ndarray:
    """Closed outline ``(n, 2)`` (x, y µm) of a folded section of ``w_um × h_um``."""
    g = max(25.0, max(w_um, h_um) / 1400.0)  # construction grid (µm)
    rx, ry = 0.43 * w_um, 0.42 * h_um
    centre = np.array([w_um / 2, h_um / 2])
    radius = _blob_radius(rng, rx, ry)
    t = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    per = float(np.sum(np.hypot(np.diff(radius(t) * np.cos(t)), np.diff(radius(t) * np.sin(t)))))
    sep = min(4500.0, 0.1 * min(w_um, h_um))  # gyri keep at least this between sulci
    crown_um = min(1200.0, 0.04 * min(w_um, h_um))  # rounding radius of crowns
    n_sulci = max(3, int(per / rng.uniform(7000, 13000)))
    gaps = rng.uniform(0.5, 1.5, n_sulci)
    angles = np.cumsum(gaps) / gaps.sum() * 2 * np.pi + rng.uniform(0, 2 * np.pi)
    paths: list[tuple[np.ndarray, float]] = []
    pts_all = np.zeros((0, 2))
    step = g
    for a in angles:
        r_b = radius(np.array([a]))[0]
        start = centre + (r_b + 3 * g) * np.array([np.cos(a), np.sin(a)])
        heading = a + np.pi + rng.uniform(-0.45, 0.45)
        depth = min(rx, ry) * float(np.clip(np.exp(rng.normal(np.log(0.2), 0.45)), 0.05, 0.55))
        tree = cKDTree(pts_all) if len(pts_all) else None
        main = _walk(rng, start, heading, depth + 3 * g, step, radius, centre, tree, sep)
        if len(main) < 4:
            continue
        hw = rng.uniform(50.0, 175.0)
        paths.append((main, hw))
        new = [main]
        if rng.random() < 0.4 and len(main) * step > 3 * sep:
            i = int(len(main) * rng.uniform(0.4, 0.7))
            d = main[i + 1] - main[i - 1]
            side = rng.choice([-1.0, 1.0])
            bh = np.arctan2(d[1], d[0]) + side * rng.uniform(0.6, 1.2)
            far = main[np.hypot(*(main - main[i]).T) > 1.5 * sep]
            others = np.vstack([pts_all, far]) if len(far) or len(pts_all) else None
            btree = cKDTree(others) if others is not None and len(others) else None
            branch = _walk(
                rng,
                main[i],
                bh,
                len(main) * step * rng.uniform(0.3, 0.6),
                step,
                radius,
                centre,
                btree,
                sep,
            )
            if len(branch) > 3:
                paths.append((branch, hw * 0.8))
                new.append(branch)
        pts_all = np.vstack([pts_all, *new])
    # rasterise: blob minus clefts (per-path half-width, wider at the mouth)
    nx, ny = int(np.ceil(w_um / g)) + 1, int(np.ceil(h_um / g)) + 1
    yy, xx = (np.mgrid[0:ny, 0:nx] + 0.5) * g
    tt = np.arctan2(yy - centre[1], xx - centre[0])
    tissue = np.hypot(xx - centre[0], yy - centre[1]) < radius(tt)
    hw_grid = np.zeros((ny, nx))
    on_path = np.zeros((ny, nx), bool)
    for pts, hw in paths:
        mouth = np.linspace(1.8, 1.0, len(pts)) ** 2
        c = np.clip((pts[:, 0] / g).astype(int), 0, nx - 1)
        r = np.clip((pts[:, 1] / g).astype(int), 0, ny - 1)
        on_path[r, c] = True
        hw_grid[r, c] = np.maximum(hw_grid[r, c], hw * np.minimum(mouth, 2.5))
    if on_path.any():
        dist, (ir, ic) = distance_transform_edt(~on_path, return_indices=True)
        tissue &= dist * g >= hw_grid[ir, ic]
    # round the crowns (morphological opening with a disk of radius crown_um): gyri are
    # rounded where a sulcus opens, never cornered
    core = distance_transform_edt(tissue) * g > crown_um
    tissue = distance_transform_edt(~core) * g <= crown_um
    contours = find_contours(np.pad(tissue, 1).astype(float), 0.5)
    c = max(contours, key=len)[:-1] - 1.0  # closed; drop the repeated point and the pad
    poly = np.stack([(c[:, 1] + 0.5) * g, (c[:, 0] + 0.5) * g], 1)
    # smooth the staircase of the grid (keeps clefts of >= 2 cells open)
    return gaussian_filter1d(poly, 1.5, axis=0, mode="wrap")


def outline_curvature(poly: np.ndarray, smooth_um: float = 700.0) -> np.ndarray:
    """Signed curvature (1/µm) at each vertex of a closed outline, smoothed along it over
    ``smooth_um``; positive where the outline is convex (gyral crowns), negative in fundi."""
    seg = np.hypot(*np.diff(np.vstack([poly, poly[:1]]), axis=0).T)
    ds = float(seg.mean())
    p = gaussian_filter1d(poly, max(smooth_um / ds, 1.0), axis=0, mode="wrap")
    d1 = (np.roll(p, -1, 0) - np.roll(p, 1, 0)) / 2
    d2 = np.roll(p, -1, 0) - 2 * p + np.roll(p, 1, 0)
    kap = (d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]) / np.maximum(
        np.hypot(d1[:, 0], d1[:, 1]) ** 3, 1e-12
    )
    turn = float(np.sum(kap * np.hypot(d1[:, 0], d1[:, 1])))
    return kap * (1.0 if turn >= 0 else -1.0)
