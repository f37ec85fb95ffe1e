"""Bridges between napari layers and the core: image layer -> Section, ROI layer set-up.

World coordinates of our layers are micrometres: the reader gives images a scale in µm, and
the ROI Shapes layers we create copy the image's scale and translate. Section coordinates
are µm from the image's top-left pixel corner, so ``section = world - translate + p0 / 2``
(napari draws pixel ``j`` centred on ``j * scale + translate``).
"""

from __future__ import annotations

import weakref

import dask.array as da
import numpy as np
from napari.layers import Image, Shapes

from ..sections import Section
from ._shapes import AREA_SHAPES, shape_to_polygon_um

ROI_LAYER_NAME = "ROIs"
_SECTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class LayerError(ValueError):
    """A layer that cannot be used (message says what to do instead)."""


def _levels(layer: Image) -> list:
    data = layer.data
    if getattr(layer, "multiscale", False):
        return list(data)
    return [data]


def check_grayscale(layer: Image) -> None:
    """Raise :class:`LayerError` unless ``layer`` is a 2D single-channel image."""
    if not isinstance(layer, Image):
        raise LayerError(f"layer {layer.name!r} is not an image layer; choose a section image")
    if layer.rgb:
        raise LayerError(
            f"image {layer.name!r} is RGB; cytowords describes grayscale cell-body stains "
            "(convert it to one channel, e.g. Layers > Convert > Split RGB)"
        )
    if layer.ndim != 2:
        raise LayerError(
            f"image {layer.name!r} has {layer.ndim} dimensions; cytowords needs a 2D "
            "grayscale section (y, x) — open a single plane/channel"
        )


def pixel_size_um(layer: Image) -> float:
    """µm per pixel of the finest level (the layer's y/x scale)."""
    return float(layer.scale[-1])


def section_from_layer(layer: Image) -> Section:
    """A lazy :class:`Section` over the image layer's levels (nothing is computed)."""
    check_grayscale(layer)
    levels = []
    sizes = []
    p0 = pixel_size_um(layer)
    w0 = _levels(layer)[0].shape[-1]
    for lev in _levels(layer):
        arr = lev if isinstance(lev, da.Array) else da.from_array(lev, chunks=1024)
        levels.append(arr)
        sizes.append(p0 * w0 / max(1, lev.shape[-1]))
    key = (id(layer.data), tuple(sizes))
    cached = _SECTIONS.get(layer)
    if cached is not None and cached[0] == key:
        return cached[1]
    section = Section(levels, pixel_size_um=sizes, name=layer.name)
    # cached per layer: the background estimate etc. live in section.metadata
    _SECTIONS[layer] = (key, section)
    return section


def world_to_section(layer: Image) -> np.ndarray:
    """Offset ``(dy, dx)`` µm to add to world coordinates to get section µm."""
    return -np.asarray(layer.translate, dtype=float)[-2:] + pixel_size_um(layer) / 2.0


def shape_polygon_section_um(shapes: Shapes, index: int, image: Image) -> np.ndarray | None:
    """Polygon ``(N, 2)`` ``(y, x)`` µm in section coordinates of shape ``index``."""
    poly = shape_to_polygon_um(
        shapes.data[index], shapes.shape_type[index], shapes.scale, shapes.translate
    )
    if poly is None:
        return None
    return poly + world_to_section(image)


def is_area_shape(shapes: Shapes, index: int) -> bool:
    """True for rectangles, polygons and ellipses (lines and paths enclose nothing)."""
    return shapes.shape_type[index] in AREA_SHAPES


def new_roi_layer(viewer, image: Image | None, name: str = ROI_LAYER_NAME) -> Shapes:
    """Add an empty ROI Shapes layer aligned with ``image`` (same µm scale and translate)."""
    kwargs = {}
    if image is not None:
        kwargs = {"scale": tuple(image.scale[-2:]), "translate": tuple(image.translate[-2:])}
        if image.units is not None:
            kwargs["units"] = tuple(str(u) for u in image.units[-2:])
    # edges about 1/400 of the image width thick (data units), so visible when zoomed out
    edge = max(2.0, _levels(image)[0].shape[-1] / 400.0) if image is not None else 2.0
    layer = viewer.add_shapes(
        name=name,
        ndim=2,
        face_color="transparent",
        edge_color="#ffd700",
        edge_width=edge,
        **kwargs,
    )
    layer.current_edge_width = edge
    return layer


def camera(viewer):
    """The viewer's camera (``viewer.scene.camera`` in napari >= 0.9, else ``viewer.camera``)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera
