"""Bridges between napari layers and the core: image layer -> Section, ROI layer set-up.

World coordinates of our layers are micrometres: the reader gives images a scale in µm, and
the ROI Shapes layers we create copy the image's scale and translate. Section coordinates
are µm from the image's top-left pixel corner, so ``section = world - translate + p0 / 2``
(napari draws pixel ``j`` centred on ``j * scale + translate``;
:func:`~cytowords.napari.io.shapes.section_offset`). QuPath's and ImageJ's pixel
coordinates count from that corner too: a layer read from their files holds napari's pixel
coordinates (theirs minus 0.5) and is placed with the image's scale and translate.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import dask.array as da
import numpy as np
from napari.layers import Image, Shapes

from ...sections import Section
from ...sections.open import SLIDE_HINT, read_levels
from ...slide_reading import INVERTED_KEY, SECTION_KEY, slide_reading
from .reader import NAPARI_SLIDE_HINT, READ_KEY
from .shapes import AREA_SHAPES, HOLES_COLUMN, holes_um, section_offset, shape_to_polygon_um

ROI_LAYER_NAME = "ROIs"
#: metadata of a ROI layer: µm per pixel of the image it belongs to (its files' pixels)
PIXEL_SIZE_KEY = "cytowords_pixel_size_um"
#: metadata of a ROI layer: how the slide of the image it was described on was read
#: (:mod:`cytowords.slide_reading`), for its files written without that image
SLIDE_READING_KEY = "cytowords_slide_reading"
#: metadata of a ROI layer read in an image's pixel coordinates and not placed yet
IN_PIXELS_KEY = "cytowords_in_image_pixels"
_SECTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: per layer of another reader: what its reading said, as last notified
_SAID: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: layers of another reader being read in a worker, with what they are read for
#: (:func:`read_in_background`, :func:`_section_key`)
_READING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: how the notes on a layer of another reader end: the widgets measure the reading
SHOWN_AS_STORED = "the layer is shown as stored"


class LayerError(ValueError):
    """A layer that cannot be used (message says what to do instead)."""


def _levels(layer: Image) -> list:
    data = layer.data
    if getattr(layer, "multiscale", False):
        return list(data)
    return [data]


def check_grayscale(layer: Image) -> None:
    """Raise :class:`LayerError` unless ``layer`` is a 2D single-channel or RGB(A) image
    (an RGB image is read as grey: :func:`section_from_layer`)."""
    if not isinstance(layer, Image):
        raise LayerError(f"layer {layer.name!r} is not an image layer; choose a section image")
    if layer.ndim != 2:
        raise LayerError(
            f"image {layer.name!r} has {layer.ndim} dimensions; cytowords needs a 2D "
            "grayscale section (y, x) — open a single plane/channel"
        )


def layer_unit(layer) -> str:
    """The layer's x unit as pint spells it (``pixel`` when none was given)."""
    units = getattr(layer, "units", None)
    return "pixel" if units is None else str(units[-1])


def layer_pixel_size_um(layer: Image) -> float | None:
    """µm per pixel of the layer's finest level, from its x scale and unit.

    None when the layer carries no physical pixel size: napari's default scale of 1 in
    ``pixel`` units (e.g. a TIFF opened without resolution tags), or a unit that is not a
    length. A scale other than 1 without a unit is read as µm (as readers that set no unit
    mean it); a length unit is converted (0.02 mm -> 20 µm)."""
    scale = float(layer.scale[-1])
    if layer_unit(layer) == "pixel":
        return None if scale == 1.0 else scale
    try:
        return float((scale * layer.units[-1]).to("micrometer").magnitude)
    except Exception:  # pint's DimensionalityError: not a length
        return None


def pixel_size_problem(layer: Image) -> str | None:
    """Why cytowords cannot use the layer's y/x scale as µm per pixel (None when it can)."""
    ps, unit = layer_pixel_size_um(layer), layer_unit(layer)
    if ps is None or not np.isfinite(ps) or ps <= 0:
        return (
            f"image {layer.name!r} has no physical pixel size (scale "
            f"{float(layer.scale[-1]):g} {unit}): enter the scan's µm per pixel under "
            "'Pixel size' and press Set"
        )
    if unit not in ("pixel", "micrometer"):
        return (
            f"image {layer.name!r} is scaled in {unit} ({ps:g} µm per pixel); "
            "cytowords works in µm: press Set under 'Pixel size' to re-scale it to µm"
        )
    sy, sx = (float(v) for v in layer.scale[-2:])
    if abs(sy / sx - 1.0) > 0.02:
        return (
            f"image {layer.name!r} has anisotropic pixels ({sy:g} × {sx:g}); cytowords needs "
            "square pixels: resample the scan, or press Set under 'Pixel size' if the scale "
            "is wrong"
        )
    return None


def pixel_size_um(layer: Image) -> float:
    """µm per pixel of the finest level; :class:`LayerError` saying what to do when the
    layer has no usable physical pixel size (:func:`pixel_size_problem`)."""
    problem = pixel_size_problem(layer)
    if problem is not None:
        raise LayerError(problem)
    return float(layer_pixel_size_um(layer))


def set_pixel_size(viewer, image: Image, um: float) -> list:
    """Give ``image`` a pixel size of ``um`` µm (scale in µm) and re-scale the layers that
    share its origin and unit by the same factor, so that ROIs and label images drawn over
    it stay on the same pixels (other images only when they have its size: an overlay of
    the same scan). Returns the layers changed (the image first)."""
    if not (isinstance(um, (int, float)) and np.isfinite(um) and um > 0):
        raise LayerError(f"pixel size {um!r}: expected a positive number of µm per pixel")
    old_scale = np.asarray(image.scale[-2:], dtype=float)
    old_translate = np.asarray(image.translate[-2:], dtype=float)
    unit = layer_unit(image)
    factor = um / old_scale
    shape = tuple(image.level_shapes[0][-2:])
    changed = (
        [image]
        + [
            ly
            for ly in viewer.layers
            if ly is not image
            and ly.ndim >= 2
            and layer_unit(ly) == unit
            and np.allclose(np.asarray(ly.translate[-2:], dtype=float), old_translate)
            # another image follows only if it is the same scan (an overlay of equal size)
            and (not isinstance(ly, Image) or tuple(ly.level_shapes[0][-2:]) == shape)
        ]
    )
    for ly in changed:
        scale = np.asarray(ly.scale, dtype=float)
        translate = np.asarray(ly.translate, dtype=float)
        scale[-2:] = scale[-2:] * factor
        translate[-2:] = translate[-2:] * factor
        ly.units = (*(str(u) for u in ly.units[:-2]), "µm", "µm")
        ly.scale = tuple(scale)
        ly.translate = tuple(translate)
        if PIXEL_SIZE_KEY in ly.metadata:  # a ROI layer: the pixels its files count
            old = ly.metadata[PIXEL_SIZE_KEY]
            ly.metadata[PIXEL_SIZE_KEY] = float(old) * float(factor[-1]) if old else float(um)
    viewer.reset_view()
    return changed


def read_by_cytowords(layer: Image) -> bool:
    """True for a layer whose pixels cytowords read already (its reader, its sample and demo
    data: metadata :data:`~.reader.READ_KEY`); False for a layer of another reader or made
    in Python, which :func:`section_from_layer` reads as the cytowords reader would."""
    return bool(layer.metadata.get(READ_KEY)) and not getattr(layer, "rgb", False)


def section_from_layer(layer: Image, *, notify: bool = True) -> Section:
    """A lazy :class:`Section` over the image layer's levels, as every widget measures it.

    A layer of the cytowords reader is taken as it is (its file was read so). A layer of
    another reader, or made in Python, is read as the cytowords reader reads a file
    (:func:`~cytowords.sections.open.read_levels`: an RGB image's signal channel or stain,
    NaN and a black background filled, the slide judged or as chosen in the *Slide* row, a
    fluorescent slide inverted); the layer's display stays as stored. Only the coarsest
    level is computed (to judge the slide); what the reading says about the slide is one
    notification per layer (``notify`` False: none, for a caller that says it). How the
    slide was read is in the section's metadata for the exports
    (:mod:`cytowords.slide_reading`)."""
    from .slide import SLIDES, slide_of

    check_grayscale(layer)
    found = cached_section(layer)
    if found is not None:
        return found
    key = _section_key(layer)
    levels = []
    sizes = list(key[1])
    for lev in _levels(layer):
        chunks = (1024, 1024, -1) if layer.rgb else 1024
        levels.append(lev if isinstance(lev, da.Array) else da.from_array(lev, chunks=chunks))
    foreign = not read_by_cytowords(layer)
    slide = key[2]
    metadata = {}
    lossy = layer.metadata.get("lossy_levels") or ()  # set by our reader: the same levels
    if lossy:
        metadata["lossy_levels"] = [int(i) for i in lossy if 0 <= int(i) < len(levels)]
    if foreign:
        if not layer.rgb and _stored_min_is_white(layer):
            metadata["min_is_white"] = True  # read as shown, as our reader reads the file
        levels, sizes, metadata = read_levels(levels, sizes, metadata, SLIDES[slide])
        metadata[SECTION_KEY] = slide_reading(bool(metadata.get(INVERTED_KEY)), slide)
    else:  # read by cytowords: as its reader said, or as chosen in the Slide row
        metadata[SECTION_KEY] = slide_reading(
            bool(layer.metadata.get(INVERTED_KEY)), slide_of(layer)
        )
    section = Section(levels, pixel_size_um=sizes, name=layer.name, metadata=metadata)
    # cached per layer: the background estimate etc. live in section.metadata
    _SECTIONS[layer] = (key, section)
    if foreign:
        said = reading_note(section.metadata)
        if notify and said and _SAID.get(layer) != said:
            from napari.utils.notifications import show_info

            show_info(f"{layer.name}: {said}")
        _SAID[layer] = said
    return section


def read_in_background(layer: Image, on_done=None, on_failed=None, lead: str | None = None):
    """Read a layer of another reader (:func:`section_from_layer`: its coarsest level,
    computed from the whole image when it has one level only, up to seconds for a large
    scan) in a worker thread, so that no widget does it on the GUI thread; then, on the GUI
    thread, its reading's note is shown (``"NAME: NOTE"``; with ``lead``, ``"NAME: LEAD:
    NOTE"``, said also when the reading says nothing) and ``on_done(layer)`` called, or
    ``on_failed(layer, exc)`` when it could not be read. Nothing is started for a layer of
    the cytowords reader, one already read as it is now or being read, or one without a
    pixel size (read when a widget measures it). Returns the started worker, or None."""
    from napari.qt.threading import create_worker
    from napari.utils.notifications import show_info

    if read_by_cytowords(layer):
        return None
    try:
        check_grayscale(layer)
        key = _section_key(layer)
    except LayerError:
        return None
    if _READING.get(layer) == key or cached_section(layer) is not None:
        return None
    _READING[layer] = key

    def done(section: Section) -> None:
        if _READING.get(layer) == key:
            del _READING[layer]
        said = reading_note(section.metadata)  # read here first: not said before
        if lead:
            show_info(f"{layer.name}: {lead}: {said or SHOWN_AS_STORED}")
        elif said:
            show_info(f"{layer.name}: {said}")
        layer.events.metadata()  # every widget's Slide row shows what the reading said
        if on_done is not None:
            on_done(layer)

    def failed(exc: Exception) -> None:  # else said when a widget reads it
        if _READING.get(layer) == key:
            del _READING[layer]
        if on_failed is not None:
            on_failed(layer, exc)

    return create_worker(
        section_from_layer,
        layer,
        notify=False,
        _connect={"returned": done, "errored": failed},
        _start_thread=True,
    )


def _section_key(layer: Image) -> tuple:
    """What :func:`section_from_layer`'s cached section of ``layer`` depends on: its data,
    the µm per pixel of each level, and (a layer of another reader) the reading chosen."""
    from .slide import slide_of

    p0 = pixel_size_um(layer)
    xi = -2 if layer.rgb else -1  # RGB data is (y, x, c)
    shapes = [lev.shape[xi] for lev in _levels(layer)]
    sizes = tuple(p0 * shapes[0] / max(1, n) for n in shapes)
    return (id(layer.data), sizes, None if read_by_cytowords(layer) else slide_of(layer))


def _stored_min_is_white(layer: Image) -> bool:
    """Whether the file another reader opened ``layer`` from (napari's ``layer.source``) is
    a TIFF stored MinIsWhite: its reader gives the stored values, which the viewer shows
    inverted to how the scan looked."""
    from ...formats import TIFF_SUFFIXES
    from ...sections.tiff import stored_min_is_white

    path = getattr(getattr(layer, "source", None), "path", None)
    if not path or not str(path).lower().endswith(tuple(TIFF_SUFFIXES)):
        return False
    return stored_min_is_white(path)


def reading_note(metadata: dict) -> str | None:
    """What a reading (:func:`~cytowords.sections.open.read_levels`) of a layer of another
    reader says about its slide and background, with the napari hint, ending with
    :data:`SHOWN_AS_STORED`; None when it said nothing."""
    said = [
        str(metadata[k]).replace(SLIDE_HINT, NAPARI_SLIDE_HINT)
        for k in ("background", "slide")
        if metadata.get(k)
    ]
    return "; ".join([*said, SHOWN_AS_STORED]) if said else None


def last_reading_note(layer: Image) -> str | None:
    """:func:`reading_note` of ``layer``'s last reading by :func:`section_from_layer` (None
    when it was not read yet or said nothing)."""
    return _SAID.get(layer)


def cached_section(layer: Image) -> Section | None:
    """The :class:`Section` :func:`section_from_layer` made of ``layer`` as it is now (None
    when it has not been read since it changed: nothing is read here)."""
    cached = _SECTIONS.get(layer)
    if cached is None:
        return None
    try:
        key = _section_key(layer)
    except LayerError:
        return None
    return cached[1] if cached[0] == key else None


def forget_section(layer: Image) -> None:
    """Drop the :class:`Section` made of ``layer`` (:func:`section_from_layer`): its data
    is about to be replaced."""
    _SECTIONS.pop(layer, None)
    _SAID.pop(layer, None)


def world_to_section(layer: Image) -> np.ndarray:
    """Offset ``(dy, dx)`` µm to add to world coordinates to get section µm."""
    return section_offset(layer.translate, pixel_size_um(layer))


def shapes_section_um(
    shapes: Shapes, rows: Sequence[int], image: Image
) -> list[tuple[np.ndarray | None, list[np.ndarray]]]:
    """``(polygon, holes)`` in section µm (``(N, 2)`` ``(y, x)``) of each shape of ``rows``:
    the polygon None for a shape that encloses nothing, the holes from the ``holes`` feature
    column (none without it). The layer is read once for all rows: napari builds the list
    of every shape's vertices at each read of ``data``."""
    data, types = shapes.data, shapes.shape_type
    scale, translate = shapes.scale, shapes.translate
    offset = world_to_section(image)
    df = shapes.features
    holes_text = df[HOLES_COLUMN].tolist() if HOLES_COLUMN in df.columns else []
    out = []
    for i in rows:
        poly = shape_to_polygon_um(data[i], types[i], scale, translate)
        text = holes_text[i] if i < len(holes_text) else None
        holes = [h + offset for h in holes_um(text, scale, translate)]
        out.append((None if poly is None else poly + offset, holes))
    return out


def shape_polygon_section_um(shapes: Shapes, index: int, image: Image) -> np.ndarray | None:
    """Polygon ``(N, 2)`` ``(y, x)`` µm in section coordinates of shape ``index``
    (:func:`shapes_section_um`)."""
    return shapes_section_um(shapes, [index], image)[0][0]


def shape_holes_section_um(shapes: Shapes, index: int, image: Image) -> list[np.ndarray]:
    """Holes ``(K, 2)`` ``(y, x)`` µm in section coordinates of shape ``index`` (its
    ``holes`` feature column; none when the layer has no such column)."""
    return shapes_section_um(shapes, [index], image)[0][1]


def is_area_shape(shapes: Shapes, index: int) -> bool:
    """True for rectangles, polygons and ellipses (lines and paths enclose nothing)."""
    return shapes.shape_type[index] in AREA_SHAPES


def new_roi_layer(viewer, image: Image | None, name: str = ROI_LAYER_NAME) -> Shapes:
    """Add an empty ROI Shapes layer aligned with ``image`` (same µm scale and translate,
    its pixel size in the metadata)."""
    kwargs = {}
    if image is not None:
        kwargs = {"scale": tuple(image.scale[-2:]), "translate": tuple(image.translate[-2:])}
        if image.units is not None:
            kwargs["units"] = tuple(str(u) for u in image.units[-2:])
    # edges about 1/400 of the image width thick (data units), so visible when zoomed out
    edge = max(2.0, _levels(image)[0].shape[1] / 400.0) if image is not None else 2.0
    layer = viewer.add_shapes(
        name=name,
        ndim=2,
        face_color="transparent",
        edge_color="#ffd700",
        edge_width=edge,
        **kwargs,
    )
    layer.current_edge_width = edge
    if image is not None:  # the pixels its files count (see the writers)
        layer.metadata[PIXEL_SIZE_KEY] = layer_pixel_size_um(image)
    return layer


def camera(viewer):
    """The viewer's camera (``viewer.scene.camera`` in napari >= 0.9, else ``viewer.camera``)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def pixel_placement(image: Image) -> dict:
    """``scale``, ``translate`` and ``units`` that put a layer of ``image``'s pixel
    coordinates (napari's: pixel ``j`` centred on ``j``) over ``image``."""
    return {
        "scale": tuple(float(v) for v in image.scale[-2:]),
        "translate": tuple(float(v) for v in image.translate[-2:]),
        "units": tuple(str(u) for u in image.units[-2:]),
    }


def _frame(layer) -> tuple[tuple[float, float], tuple[float, float]]:
    """``(translate, scale)`` of a layer's last two axes, rounded (to compare placements)."""
    t = tuple(round(float(v), 9) for v in layer.translate[-2:])
    return t, tuple(round(float(v), 9) for v in layer.scale[-2:])


def _overlaps(a, b) -> bool:
    """True when the world bounding boxes of layers ``a`` and ``b`` overlap (y and x)."""
    ea, eb = np.asarray(a.extent.world, float)[:, -2:], np.asarray(b.extent.world, float)[:, -2:]
    return bool(np.all(ea[0] <= eb[1]) and np.all(eb[0] <= ea[1]))


def image_under(viewer, shapes: Shapes) -> Image | None:
    """The image layer that ``shapes`` is drawn over, whose pixels its files count: among the
    visible images (all images when none is visible) those its shapes overlap (all of them
    when it overlaps none); when these are placed differently, the one the layer is
    aligned with (same scale and translate). None when the viewer has no image;
    :class:`LayerError` when several differently placed images remain."""
    images = [ly for ly in viewer.layers if isinstance(ly, Image)]
    images = [ly for ly in images if ly.visible] or images
    if not images:
        return None
    if len(shapes.data):
        images = [ly for ly in images if _overlaps(shapes, ly)] or images
    frames = {_frame(ly) for ly in images}
    if len(frames) > 1:
        images = [ly for ly in images if _frame(ly) == _frame(shapes)] or images
        frames = {_frame(ly) for ly in images}
    if len(frames) > 1:
        names = ", ".join(repr(ly.name) for ly in images)
        raise LayerError(
            f"the shapes of {shapes.name!r} lie over images placed differently ({names}), "
            "so their pixels are not known: hide the images they are not drawn over and "
            "save again"
        )
    return images[0]


def place_pixel_rois(rois: Shapes, image: Image) -> bool:
    """Put ROIs read in the image's pixel coordinates (QuPath GeoJSON, ImageJ ROIs: metadata
    ``cytowords_in_image_pixels``) over ``image``: the image's scale, translate and units.
    Returns True when the layer was placed (once; later calls change nothing)."""
    md = rois.metadata
    if not md.get(IN_PIXELS_KEY):
        return False
    place = pixel_placement(image)
    rois.units = place["units"]
    rois.scale = place["scale"]
    rois.translate = place["translate"]
    md[IN_PIXELS_KEY] = False
    md[PIXEL_SIZE_KEY] = layer_pixel_size_um(image)
    return True


def place_over(rois: Shapes, image: Image) -> bool:
    """:func:`place_pixel_rois`, saying so in one notification (what every widget does
    before it reads a layer of regions or paths from a QuPath/Fiji file)."""
    if not place_pixel_rois(rois, image):
        return False
    from napari.utils.notifications import show_info

    show_info(f"regions of {rois.name!r} are in image pixels: placed over {image.name!r}")
    return True
