"""Ground truth of what the model-free readout (:mod:`cytowords.measure`) measures.

For points of a virtual section (or any :class:`Geometry` with a :class:`Brain`):
the area, the local cortical thickness perpendicular to the surface and as it appears in
the image (a cut at an angle stretches the ribbon: apparent = true / |grad depth|), the
relative depth, the layer borders as rendered (this brain's layer proportions, with the
small undulation of the borders along the ribbon), whether the area has an inner granular
layer IV, the neuronal density and soma size per layer, and the special cells that are
actually rendered (``special_not_rendered`` lists atlas entries a ``classic`` brain leaves
out), and where the tissue is missing (vessels, cracks). Under Bok's equivolume variation
(realistic brains) the local thickness and the layer borders follow the curvature; the
per-area ``layer_fractions`` are the volume fractions of the flat profile. Nothing here
changes how sections render.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from skimage.measure import points_in_poly

from ..atlas import LAYER_NAMES, load_atlas
from .artefacts import border_crack
from .brain import stable_seed
from .equivolume import relative_depth
from .geometry import Geometry, wobble
from .profile_table import depth_axis


def _geometry(section_or_geom) -> Geometry:
    if isinstance(section_or_geom, Geometry):
        return section_or_geom
    meta = getattr(section_or_geom, "metadata", {}) or {}
    if meta.get("generator") != "cytowords.synth.virtual_section":
        raise ValueError("truth is only known for virtual sections of cytowords.synth")
    from .section import section_geometry

    return section_geometry(
        int(meta["seed"]),
        size_mm=tuple(meta["size_mm"]),
        include_unseen=bool(meta.get("include_unseen")),
        # sections written before the variation models existed are classic
        variation=str(meta.get("variation", "classic")),
        realism_off=frozenset(meta.get("realism_off", ())),
    )


def truth_at(section_or_geom, points_um) -> dict[str, Any]:
    """Truth at points ``(N, 2)`` ``(y, x)`` µm of a virtual section (or geometry).

    Returns arrays of length N: ``area`` (id of the dominant area), ``thickness_um``,
    ``apparent_thickness_um`` (thickness / |grad depth|: a local linear estimate, see
    :func:`apparent_width_um` for the width traced across the ribbon), ``rel_depth`` (0 pia .. 1 white matter, < 0 outside),
    ``layer_tops`` (N, 6: relative depth of the top of I..VI), ``layer_i_width_um``,
    ``iv_present``, ``vessel`` (in a vessel's lumen or perivascular space) and
    ``tissue_missing`` (vessel or crack); and ``per_area``: for each area present,
    ``cortex_type``,
    ``layer_fractions``, ``density_per_mm2`` and ``soma_um`` per layer (dicts I..VI),
    ``special`` (rendered: kind, layer, density /mm², size µm) and ``special_not_rendered``.
    """
    geom = _geometry(section_or_geom)
    pts = np.asarray(points_um, dtype=float).reshape(-1, 2)
    y, x = pts[:, 0], pts[:, 1]
    depth, along, ia, ib, w, th, bend = geom.local(x, y)
    if bend is None:
        th = (1 - w) * geom.thickness[ia] + w * geom.thickness[ib]
    k = np.where(w < 0.5, ia, ib)
    eps = 5.0
    gx = (geom.sample(x + eps, y)[0] - geom.sample(x - eps, y)[0]) / (2 * eps)
    gy = (geom.sample(x, y + eps)[0] - geom.sample(x, y - eps)[0]) / (2 * eps)
    grad = np.maximum(np.hypot(gx, gy), 1e-6)
    brain = getattr(geom, "brain", None)
    atlas = load_atlas()
    per_area: dict[str, dict[str, Any]] = {}
    tops = np.full((len(pts), len(LAYER_NAMES)), np.nan)
    for idx in np.unique(k):
        aid = geom.area_ids[int(idx)]
        area = atlas.get(aid)
        frac = brain.layer_fractions(area) if brain is not None else _fractions(area)
        top = np.concatenate([[0.0], np.cumsum(frac)[:-1]])
        sel = k == idx
        vol = top[None, :] - wobble(along[sel])[:, None] * (top[None, :] > 0)
        tops[sel] = vol if bend is None else relative_depth(vol, bend[sel][:, None])
        per_area[aid] = _area_truth(geom.tables[int(idx)], area, top, frac)
    l1 = tops[:, 1] * th
    vessel, missing = _missing_tissue(geom, x, y, depth, th, along)
    return {
        "area": np.array([geom.area_ids[int(i)] for i in k]),
        "thickness_um": th,
        "apparent_thickness_um": th / grad,
        "rel_depth": depth / th,
        "layer_tops": tops,
        "layer_i_width_um": l1,
        "iv_present": np.array([per_area[geom.area_ids[int(i)]]["iv_present"] for i in k]),
        "vessel": vessel,
        "tissue_missing": missing,
        "per_area": per_area,
    }


def apparent_width_um(section_or_geom, points_um, step_um: float = 10.0) -> np.ndarray:
    """The ribbon's width in the section plane through points of the cortex (``(N, 2)``
    ``(y, x)`` µm): the length of the path along the gradient of the rendered depth from
    the pia (depth 0) through the point to the white matter (depth = local thickness),
    traced in steps of ``step_um`` (µm; NaN outside the cortex or where the path stalls
    or runs beyond 15 mm).

    This is what a traverse measures in the image. ``truth_at``'s ``apparent_thickness_um``
    (thickness / |grad depth| at the point) is its local linear estimate; it is off where
    the cutting angle changes across the ribbon (the angle's gradient times the depth adds
    to the depth gradient: up to ±10 % at 50°).
    """
    geom = _geometry(section_or_geom)
    pts = np.asarray(points_um, dtype=float).reshape(-1, 2)
    eps = 5.0

    def depth_and_target(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d, _, _, _, _, th, _ = geom.local(p[:, 1], p[:, 0])
        return d, th

    def unit_grad(p: np.ndarray) -> np.ndarray:
        y, x = p[:, 0], p[:, 1]
        gx = (geom.sample(x + eps, y)[0] - geom.sample(x - eps, y)[0]) / (2 * eps)
        gy = (geom.sample(x, y + eps)[0] - geom.sample(x, y - eps)[0]) / (2 * eps)
        n = np.hypot(gy, gx)
        return np.where(
            n[:, None] > 1e-9, np.stack([gy, gx], 1) / np.maximum(n, 1e-9)[:, None], 0.0
        )

    d0, th0 = depth_and_target(pts)
    out = np.where((d0 >= 0) & (d0 < th0), 0.0, np.nan)
    max_steps = int(15000.0 / step_um)
    for sign in (-1.0, 1.0):  # up to the pia, down to the white matter
        pos = pts.copy()
        f_old = np.where(sign < 0, d0, th0 - d0)  # > 0 until the surface is crossed
        active = np.isfinite(out)
        for _ in range(max_steps):
            idx = np.flatnonzero(active)
            if idx.size == 0:
                break
            g = unit_grad(pos[idx])
            half = pos[idx] + sign * 0.5 * step_um * g
            g = unit_grad(half)
            stalled = ~np.any(g != 0, axis=1)
            new = pos[idx] + sign * step_um * g
            d, th = depth_and_target(new)
            f_new = d if sign < 0 else th - d
            crossed = f_new <= 0
            frac = np.where(crossed, f_old[idx] / np.maximum(f_old[idx] - f_new, 1e-9), 1.0)
            out[idx] += step_um * np.clip(frac, 0.0, 1.0)
            pos[idx] = new
            f_old[idx] = f_new
            out[idx[stalled]] = np.nan
            active[idx[crossed | stalled]] = False
        out[active] = np.nan
    return out


def _missing_tissue(geom, x, y, depth, th, along) -> tuple[np.ndarray, np.ndarray]:
    """Points inside vessels, and inside vessels or border cracks, as rendered."""
    brain = getattr(geom, "brain", None)
    none = np.zeros(len(x), bool)
    if brain is None or not brain.realistic or not hasattr(geom, "seed"):
        return none, none
    vessel = none
    if brain.uses("vessels"):
        from .section import TILE_UM, tile_vessels
        from .vessels import MAX_REACH_UM, Vessels, inside_vessels

        reach = int(np.ceil(MAX_REACH_UM / TILE_UM))
        tissue = depth >= 0  # vessels only cut tissue
        tiles = set()
        for tx, ty in set(
            zip((x[tissue] // TILE_UM).astype(int), (y[tissue] // TILE_UM).astype(int))
        ):
            tiles.update(
                (tx + i, ty + j) for i in range(-reach, reach + 1) for j in range(-reach, reach + 1)
            )
        get = tile_vessels(geom)
        vessels = Vessels.concat(
            [
                get(
                    (
                        tx * TILE_UM + 1,
                        ty * TILE_UM + 1,
                        (tx + 1) * TILE_UM - 1,
                        (ty + 1) * TILE_UM - 1,
                    )
                )
                for tx, ty in sorted(tiles)
            ]
        )
        vessel = inside_vessels(vessels, x, y) & tissue
    crack = none
    if brain.uses("cracks"):
        key = stable_seed("section-fields", brain.seed)
        crack = border_crack(key + 2, depth, th, along, 1.0) < 0.5
    return vessel, vessel | crack


def _fractions(area) -> np.ndarray:
    rel = np.array([area.profile.layers[n].rel_thickness for n in LAYER_NAMES])
    return rel / rel.sum()


def _area_truth(table: np.ndarray, area, top: np.ndarray, frac: np.ndarray) -> dict[str, Any]:
    d = depth_axis()
    dens, size, spec, spec_size = table[0], table[1], table[6], table[7]
    density, soma = {}, {}
    for name, t, f in zip(LAYER_NAMES, top, frac):
        m = (d >= t) & (d < t + f)
        density[name] = float(dens[m].mean()) if m.any() and f > 0 else 0.0
        soma[name] = float(size[m].mean()) if m.any() and f > 0 else float("nan")
    rendered, missing = [], []
    for s in area.profile.special:
        li = LAYER_NAMES.index(s["layer"])
        m = (d >= top[li]) & (d < top[li] + frac[li]) & (spec > 0)
        if m.any():
            rendered.append(
                {
                    "kind": s["kind"],
                    "layer": s["layer"],
                    "density_per_mm2": float(spec[m].max()),
                    "size_um": float(spec_size[m].max()),
                }
            )
        else:
            missing.append(dict(s))
    return {
        "cortex_type": area.cortex_type,
        "iv_present": bool(area.profile.layers["IV"].rel_thickness > 0),
        "columnar_strength": float(area.profile.columnar_strength),
        "columnar_organisation": columnar_term(area),
        "wm_border_sharpness": float(area.profile.wm_border_sharpness),
        "wm_border_term": vocabulary_term(area, "wm_border", "cortex_white_matter_border"),
        "wm_border_width_rel": wm_transition_width_rel(table, *_deepest_part(area, top, frac)),
        "laminar_contrast": float(area.profile.laminar_contrast),
        "laminar_contrast_term": vocabulary_term(area, "laminar_contrast", "laminar_contrast"),
        "density_cv": density_cv(table),
        "layer_fractions": dict(zip(LAYER_NAMES, (float(f) for f in frac))),
        "density_per_mm2": density,
        "soma_um": soma,
        "special": rendered,
        "special_not_rendered": missing,
    }


#: the atlas vocabulary's strengths where the atlas file names none
_TERM_SCALES = {
    "columnar": {"none": 0.05, "weak": 0.3, "strong": 0.8},
    "wm_border": {"sharp": 1.0, "gradual": 0.4},
    "laminar_contrast": {"sharp": 1.0, "moderate": 0.7, "blurred": 0.45},
}
#: the profile's field each vocabulary scale sets
_TERM_FIELD = {
    "columnar": "columnar_strength",
    "wm_border": "wm_border_sharpness",
    "laminar_contrast": "laminar_contrast",
}


def vocabulary_term(area, scale: str, fact: str) -> str:
    """The atlas term (vocabulary ``scale`` of the atlas's ``term_scales``: ``columnar``,
    ``wm_border`` or ``laminar_contrast``) the generator renders for an area: the area's
    own fact ``fact`` when it names one of the scale's terms, else the term whose strength
    is nearest the profile's value (``columnar_strength``, ``wm_border_sharpness``,
    ``laminar_contrast``, 0..1)."""
    vocab = (load_atlas().meta or {}).get("term_scales", {}).get(scale) or _TERM_SCALES[scale]
    named = (area.facts or {}).get(fact)
    if named in vocab:
        return str(named)
    s = float(getattr(area.profile, _TERM_FIELD[scale]))
    return min(vocab, key=lambda k: abs(float(vocab[k]) - s))


def _deepest_part(area, top: np.ndarray, frac: np.ndarray) -> tuple[float, float]:
    """Top and span (relative depth) of the deepest part of layer VI: its last sublayer
    where the profile divides it (VIb), else the whole layer."""
    subs = area.profile.layers["VI"].sublayers
    last = float(subs[-1].fraction) if subs else 1.0
    return float(top[-1] + frac[-1] * (1.0 - last)), float(frac[-1] * last)


def wm_transition_width_rel(table: np.ndarray, top_deep: float, span_deep: float) -> float:
    """The grey/white transition's width as rendered, in relative depth (multiply by the
    thickness for µm): on the depth table's neuron density (``table[0]``, see
    :func:`~cytowords.synth.profile_table.compile_table`), the distance between the depths
    where the density, going down from the deepest part of layer VI (``top_deep``,
    ``span_deep``: its top and span in relative depth, :func:`_deepest_part`), has fallen
    75 % and 25 % of the way from that part's level (median over its second quarter) to
    the white matter's (median over relative depth 1.2-1.4). NaN without a fall."""
    d = depth_axis()
    dens = table[0]
    a, b = top_deep + 0.25 * span_deep, top_deep + 0.5 * span_deep
    part = (d >= a) & (d <= b)
    hi = float(np.median(dens[part])) if part.any() else float(np.interp(a, d, dens))
    lo = float(np.median(dens[(d >= 1.2) & (d <= 1.4)]))
    if hi - lo <= 0.1 * hi:
        return float("nan")
    start = int(np.searchsorted(d, a))

    def crossing(level: float) -> float:
        below = np.flatnonzero(dens[start:] < level)
        if not below.size:
            return float("nan")
        j = start + int(below[0])
        if j == 0:
            return float(d[0])
        # linear between the bins on either side of the crossing
        u, v = dens[j - 1], dens[j]
        return float(d[j - 1] + (d[j] - d[j - 1]) * (u - level) / (u - v))

    return crossing(lo + 0.25 * (hi - lo)) - crossing(lo + 0.75 * (hi - lo))


def density_cv(table: np.ndarray) -> float:
    """The laminar contrast the generator draws: the coefficient of variation (SD / mean)
    of the depth table's neuron density over relative depth 0.05-0.95, as the readout
    measures its profile's (:mod:`cytowords.measure.layers`)."""
    d = depth_axis()
    p = table[0][(d >= 0.05) & (d <= 0.95)]
    m = float(p.mean())
    return float(p.std() / m) if m > 0 else float("nan")


def columnar_term(area) -> str:
    """The columnar organisation (``none`` / ``weak`` / ``strong``) the generator renders
    for an atlas area (:func:`vocabulary_term` of the ``columnar`` scale: none 0.05, weak
    0.3, strong 0.8; the area's own ``columnar_organisation`` fact when it names one)."""
    return vocabulary_term(area, "columnar", "columnar_organisation")


def truth_in_roi(
    section_or_geom, vertices_um, step_um: float = 50.0, trace: bool = True
) -> dict[str, Any] | None:
    """Truth summarised over the cortex inside a polygon (``(N, 2)`` ``(y, x)`` µm): the
    dominant area, median thickness (true, and apparent: the ribbon's width in the section
    plane, :func:`apparent_width_um`, through about 100 points of the area's cortex; where
    no width can be traced (no white matter beyond, or ``trace=False`` for a quick
    screen) the local estimate of :func:`truth_at`), layer I width (µm), layer IV
    present, the grey/white transition's width (µm, :func:`wm_transition_width_rel` times
    the thickness: ``wm_border_width_um`` in the section plane as a traverse crosses it,
    with the apparent thickness, ``wm_border_width_true_um`` perpendicular to the
    surface), that area's per-area truth and the cortex fraction of the region; ``None``
    when the region holds no cortex."""
    geom = _geometry(section_or_geom)
    v = np.asarray(vertices_um, dtype=float)
    (ya, xa), (yb, xb) = v.min(0), v.max(0)
    yy, xx = np.mgrid[ya + step_um / 2 : yb : step_um, xa + step_um / 2 : xb : step_um]
    pts = np.stack([yy.ravel(), xx.ravel()], 1)
    pts = pts[points_in_poly(pts, v)]
    if len(pts) == 0:
        return None
    t = truth_at(geom, pts)
    cortex = (t["rel_depth"] >= 0) & (t["rel_depth"] < 1)
    if not cortex.any():
        return None
    areas, counts = np.unique(t["area"][cortex], return_counts=True)
    aid = str(areas[np.argmax(counts)])
    sel = cortex & (t["area"] == aid)
    # the apparent width is traced (see apparent_width_um) through about 100 of them
    pick = np.flatnonzero(sel)[:: max(1, int(sel.sum()) // 100)]
    width = apparent_width_um(geom, pts[pick]) if trace else np.full(len(pick), np.nan)
    thickness = float(np.median(t["thickness_um"][sel]))
    apparent = (
        float(np.nanmedian(width))
        if np.isfinite(width).any()
        else float(np.median(t["apparent_thickness_um"][sel]))
    )
    wm_rel = t["per_area"][aid]["wm_border_width_rel"]
    return {
        "area": aid,
        "area_share": float(counts.max() / cortex.sum()),
        "cortex_fraction": float(cortex.mean()),
        "thickness_um": thickness,
        "apparent_thickness_um": apparent,
        "wm_border_width_um": wm_rel * apparent,
        "wm_border_width_true_um": wm_rel * thickness,
        "layer_i_width_um": float(np.median(t["layer_i_width_um"][sel])),
        "iv_present": bool(t["per_area"][aid]["iv_present"]),
        "truth": t["per_area"][aid],
    }


def mid_depth_points(section_or_geom) -> tuple[np.ndarray, dict[str, Any], np.ndarray]:
    """A 200 µm grid over the section (2 mm from its edge): points ``(N, 2)`` ``(y, x)``
    µm, their :func:`truth_at`, and the indices of the points at mid-depth of the cortex
    (relative depth 0.45-0.55)."""
    geom = _geometry(section_or_geom)
    w, h = geom.size_um
    ys, xs = np.mgrid[2000 : h - 2000 : 200.0, 2000 : w - 2000 : 200.0]
    pts = np.stack([ys.ravel(), xs.ravel()], 1)
    if len(pts) == 0:  # a section narrower than 4 mm
        return pts, {"area": np.array([], dtype=str), "rel_depth": np.zeros(0)}, np.zeros(0, int)
    t = truth_at(geom, pts)
    return pts, t, np.flatnonzero(np.abs(t["rel_depth"] - 0.5) < 0.05)


def square_across(
    section_or_geom, centre_um: np.ndarray, side_um: float
) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The square of side ``side_um`` µm centred at ``centre_um`` ``(y, x)`` and its quick
    :func:`truth_in_roi` (``trace=False``), when one area covers >= 80 % of its cortex and
    the pia and the white matter are in view (a corner or the centre beyond each), else
    ``None``."""
    geom = _geometry(section_or_geom)
    y, x = centre_um
    half = side_um / 2.0
    v = np.array(
        [[y - half, x - half], [y - half, x + half], [y + half, x + half], [y + half, x - half]]
    )
    tr = truth_in_roi(geom, v, step_um=100.0, trace=False)
    corners = truth_at(geom, np.vstack([v, np.asarray(centre_um, dtype=float)[None]]))
    depth = corners["rel_depth"]
    if tr is None or tr["area_share"] < 0.8 or depth.min() >= 0 or depth.max() <= 1:
        return None
    return v, tr


def squares_across_ribbon(
    section_or_geom,
    n: int,
    side_um: float,
    rng: np.random.Generator,
    *,
    trace: bool = True,
) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """Up to ``n`` squares of side ``side_um`` µm drawn as the readout asks for a region:
    across the ribbon (:func:`square_across`), one per area, their centres at mid-depth
    (:func:`mid_depth_points`) visited in ``rng``'s order. Returns ``(vertices, truth)``:
    corners ``(4, 2)`` ``(y, x)`` µm and :func:`truth_in_roi` (``trace`` as there)."""
    geom = _geometry(section_or_geom)
    pts, t, mid = mid_depth_points(geom)
    out: list[tuple[np.ndarray, dict[str, Any]]] = []
    used: set[str] = set()
    for j in rng.permutation(mid):
        area = t["area"][j]
        if area in used:
            continue
        got = square_across(geom, pts[j], side_um)
        if got is None:
            continue
        used.add(area)
        v = got[0]
        out.append((v, truth_in_roi(geom, v, step_um=100.0) if trace else got[1]))
        if len(out) == n:
            break
    return out


def cells_in_window(section_or_geom, y0_um: float, x0_um: float, h_um: float, w_um: float):
    """The somata a virtual section renders with centres in a window (µm): a
    :class:`~cytowords.synth.cells.Cells` (``x``, ``y`` µm, ``diam`` µm, ``kind``: 0 neuron,
    1 glia, 2 special) — the same cells at every pyramid level drawn in cell mode."""
    from .cells import Cells, sample_cells
    from .section import _tiles

    geom = _geometry(section_or_geom)
    bbox = (x0_um, y0_um, x0_um + w_um, y0_um + h_um)
    parts = [
        sample_cells(geom, tb, rng, geom.brain.staining.stain, need_angles=False)
        for tb, rng in _tiles(geom, geom.seed)(bbox)
    ]
    c = Cells.concat(parts)
    keep = (c.x >= bbox[0]) & (c.x < bbox[2]) & (c.y >= bbox[1]) & (c.y < bbox[3])
    return Cells(*(getattr(c, k)[keep] for k in Cells.__annotations__))
