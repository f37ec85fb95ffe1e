"""Coarse per-section grids used to choose patch centres: area classes and tissue.

A section is covered by a grid of square cells of ``grid_um`` µm (cell ``(i, j)`` centred at
``((i + 0.5) * grid_um, (j + 0.5) * grid_um)``, ``(y, x)`` µm from the top-left corner). For
every cell we know its class (index into the area list, ``NONE`` for no-area tissue or
background near tissue, ``IGNORE`` for anything not to be sampled) from the area label image
or the labelled ROIs, and whether it shows tissue (from a coarse read of the image).
Only public section functions are used (``read_window`` of images and label images), so real
and synthetic sections are handled alike.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_dilation

from cytowords.atlas import NONE_ID, Atlas
from cytowords.regions.roi import Roi
from cytowords.sections import section_intensity

from .spec import LabelledSection, resolve_name

IGNORE = -1


def tissue_grid(ls: LabelledSection, grid_um: float) -> tuple[np.ndarray, float]:
    """Boolean tissue mask on the grid and the background intensity (unit scale).

    Tissue = cells clearly darker than empty slide (background = bright 99.5th percentile of
    the coarsest level; a cell-body stain)."""
    sec = ls.section
    h, w = sec.shape_um
    inten = section_intensity(sec)
    bg = float(inten.to_unit(np.float32(inten.background)))
    img = inten.to_unit(sec.read_window(0.0, 0.0, h, w, grid_um, fill=inten.background))
    low = float(np.percentile(img, 5))
    thr = bg - max(4.0 / 255.0, 0.2 * (bg - low))
    return img < thr, bg


def class_grid(
    ls: LabelledSection,
    areas: list[str],
    atlas: Atlas,
    grid_um: float,
    *,
    none_margin_um: float,
) -> np.ndarray:
    """Class index per grid cell: ``0..len(areas)-1`` for areas, ``len(areas)`` for
    ``__none__``, :data:`IGNORE` otherwise.

    With a label image: label 0 cells become ``__none__`` when they are tissue (white matter,
    unlabelled tissue) or background within ``none_margin_um`` of tissue; labels of areas not
    in ``areas`` (e.g. held-out areas) are ignored. With ROIs: only ROI interiors are used;
    ROIs named ``__none__``/background/white matter give ``__none__`` cells; cells in a ROI's
    holes are not the ROI's."""
    from skimage.draw import polygon as fill_polygon

    sec = ls.section
    h, w = sec.shape_um
    shape = (max(1, round(h / grid_um)), max(1, round(w / grid_um)))
    index = {a: i for i, a in enumerate(areas)}
    index[NONE_ID] = len(areas)
    out = np.full(shape, IGNORE, np.int32)
    if ls.rois is not None:
        for poly, name in ls.rois:
            cls = index.get(resolve_name(name, atlas), IGNORE)
            polys = poly.polygons if isinstance(poly, Roi) else [(poly, ())]
            inside = np.zeros(shape, bool)
            for ring, holes in polys:
                for r, value in ((ring, True), *((h, False) for h in holes)):
                    v = np.asarray(r, float) / grid_um - 0.5
                    rr, cc = fill_polygon(v[:, 0], v[:, 1], shape)
                    inside[rr, cc] = value
            out[inside] = cls  # holes stay as they were: another ROI or ignored
        return out
    lab = ls.labels.read_window(0.0, 0.0, shape[0] * grid_um, shape[1] * grid_um, grid_um)
    names = {**ls.labels.names, **ls.label_names}
    lut: dict[int, int] = {}
    for v in np.unique(lab):
        v = int(v)
        if v == 0:
            continue
        name = names.get(v)
        if name is None:
            try:
                name = atlas.area_of_label(v)
            except KeyError:
                name = str(v)
        lut[v] = index.get(resolve_name(name, atlas), IGNORE) if name != NONE_ID else len(areas)
    for v, cls in lut.items():
        out[lab == v] = cls
    tissue, _ = tissue_grid(ls, grid_um)
    tissue = tissue[: shape[0], : shape[1]]
    r = max(1, int(round(none_margin_um / grid_um)))
    near = binary_dilation(tissue, iterations=r)
    zero = lab == 0
    out[zero & near] = len(areas)
    return out


def purity(cls_grid: np.ndarray, i: int, j: int, half: int, n_areas: int | None = None) -> float:
    """Share of the cells in the patch footprint (``2 * half`` cells square) whose class
    equals the class of the centre cell ``(i, j)``. With ``n_areas``, only area cells
    (classes ``0 .. n_areas - 1``) count: the share of the cortex in the footprint that
    belongs to the centre's area, whatever the share of white matter and background (a
    patch much wider than the cortex is thick is then still "pure")."""
    c = cls_grid[i, j]
    foot = cls_grid[max(0, i - half) : i + half, max(0, j - half) : j + half]
    if n_areas is not None:
        foot = foot[(foot >= 0) & (foot < n_areas)]
    return float(np.mean(foot == c)) if foot.size else 0.0
