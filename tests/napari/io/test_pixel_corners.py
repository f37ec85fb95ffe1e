"""One convention for region coordinates in napari and the CLI: section µm count from the
image's top-left pixel corner, as QuPath's and ImageJ's pixels do (pixel ``(0, 0)`` spans
``[0, 1]``), while napari centres pixel ``j`` on ``j * scale + translate``. A QuPath region
gives the same section polygon in napari as in the CLI, a layer saved from napari writes the
file's coordinates back, a ROI drawn on pixel corners exports those corners, and an unnamed
QuPath annotation comes back unnamed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from cytowords.napari.io.layers import (
    new_roi_layer,
    shape_holes_section_um,
    shape_polygon_section_um,
)
from cytowords.napari.io.shapes import polygon_um_to_data
from cytowords.napari.io.writers import write_shapes_geojson
from cytowords.regions.geojson import read_region_file
from tests.support.napari_helpers import Notes, section_array
from tests.support.qupath_files import (
    closed,
    feature_v03,
    feature_v05,
    packed_argb,
    polygon,
    rect,
    write_v03,
    write_v05,
)

PS = 8.0  # µm per pixel of the test image
#: a QuPath annotation with a hole, off the pixel grid, [x, y] pixels
RING = [[20.25, 10.5], [220.0, 10.0], [220.75, 120.0], [20.0, 120.5]]
HOLE = rect(50, 30, 60, 40)


def _viewer_with_image(make_napari_viewer, translate=(0.0, 0.0)):
    viewer = make_napari_viewer()
    image = viewer.add_image(
        section_array(), scale=(PS, PS), translate=translate, units=("µm", "µm"), name="section"
    )
    return viewer, image


def _coords(path: Path) -> list:
    return [f["geometry"]["coordinates"] for f in json.loads(path.read_text())["features"]]


@pytest.mark.parametrize("translate", [(0.0, 0.0), (40.0, -24.0)])
def test_a_qupath_region_is_the_same_section_polygon_in_napari_and_the_cli(
    make_napari_viewer, tmp_path: Path, translate
) -> None:
    viewer, image = _viewer_with_image(make_napari_viewer, translate)
    path = write_v05(tmp_path / "q.geojson", [feature_v05(polygon(RING, HOLE), name="sq")])
    cli = read_region_file(path, pixel_size_um=PS).rois[0].roi
    (layer,) = viewer.open(str(path), plugin="napari-cytowords")
    np.testing.assert_allclose(shape_polygon_section_um(layer, 0, image), cli.vertices, atol=1e-9)
    (hole,) = shape_holes_section_um(layer, 0, image)
    np.testing.assert_allclose(hole, cli.holes[0], atol=1e-9)
    # QuPath's vertex (x 50, y 30) is the top-left corner of pixel (row 30, col 50): half a
    # pixel before that pixel's centre in napari's world
    (h,) = json.loads(layer.features["holes"][0])
    corner = np.asarray(h[0]) * np.asarray(layer.scale) + np.asarray(layer.translate)
    centre = np.asarray(image.data_to_world((30, 50)))
    np.testing.assert_allclose(corner, centre - PS / 2, atol=1e-9)


def test_saving_a_qupath_layer_writes_its_vertices_back(make_napari_viewer, tmp_path) -> None:
    """QuPath file -> napari (placed over an image with a translate) -> the plugin's GeoJSON:
    the same pixel coordinates; that file -> napari -> GeoJSON again: the same again."""
    viewer, image = _viewer_with_image(make_napari_viewer, (40.0, -24.0))
    src = write_v05(tmp_path / "q.geojson", [feature_v05(polygon(RING, HOLE), name="sq")])
    (layer,) = viewer.open(str(src), plugin="napari-cytowords")
    out = tmp_path / "out.geojson"
    layer.save(str(out), plugin="napari-cytowords")
    assert json.loads(out.read_text())["properties"]["pixel_size_um"] == PS
    ((ring, hole),) = _coords(out)
    np.testing.assert_allclose(ring, closed(RING), atol=1e-6)
    np.testing.assert_allclose(hole, closed(HOLE), atol=1e-6)
    # the plugin's own file (µm, its pixel size recorded) comes back where it was
    (again,) = viewer.open(str(out), plugin="napari-cytowords")
    np.testing.assert_allclose(
        shape_polygon_section_um(again, 0, image), shape_polygon_section_um(layer, 0, image)
    )
    out2 = tmp_path / "out2.geojson"
    again.save(str(out2), plugin="napari-cytowords")
    ((ring2, hole2),) = _coords(out2)
    np.testing.assert_allclose(ring2, closed(RING), atol=1e-6)
    np.testing.assert_allclose(hole2, closed(HOLE), atol=1e-6)


def test_a_qupath_layer_without_an_image_is_written_back_as_read(
    make_napari_viewer, tmp_path
) -> None:
    viewer = make_napari_viewer()
    src = write_v03(tmp_path / "q.geojson", [feature_v03(polygon(RING, HOLE), "L1")])
    (layer,) = viewer.open(str(src), plugin="napari-cytowords")
    assert layer.metadata["cytowords_in_image_pixels"]  # no image to place it over
    out = tmp_path / "out.geojson"
    layer.save(str(out), plugin="napari-cytowords")
    ((ring, hole),) = _coords(out)
    np.testing.assert_allclose(ring, closed(RING), atol=1e-6)
    np.testing.assert_allclose(hole, closed(HOLE), atol=1e-6)


def test_a_roi_drawn_on_pixel_corners_exports_their_qupath_coordinates(
    make_napari_viewer, tmp_path
) -> None:
    """A rectangle drawn in napari from the top-left corner of pixel (row 10, col 20) to the
    bottom-right corner of pixel (row 29, col 59) is QuPath's (20, 10)–(60, 30), and the CLI
    reads the file as the same section polygon the widgets describe."""
    viewer, image = _viewer_with_image(make_napari_viewer, (40.0, -24.0))
    rois = new_roi_layer(viewer, image)
    t = np.asarray(image.translate)
    top_left = t + (np.array([10, 20]) - 0.5) * PS  # world µm of pixel corners
    bottom_right = t + (np.array([29, 59]) + 0.5) * PS
    world = np.array(
        [top_left, [top_left[0], bottom_right[1]], bottom_right, [bottom_right[0], top_left[1]]]
    )
    rois.add_rectangles(polygon_um_to_data(world, rois.scale, rois.translate))
    out = tmp_path / "drawn.geojson"
    rois.save(str(out), plugin="napari-cytowords")
    ((ring,),) = _coords(out)
    np.testing.assert_allclose(ring, closed(rect(20, 10, 60, 30)), atol=1e-9)
    cli = read_region_file(out).rois[0].roi
    np.testing.assert_allclose(shape_polygon_section_um(rois, 0, image), cli.vertices, atol=1e-9)


def test_qupath_layer_is_placed_when_the_widget_chooses_it(make_napari_viewer, tmp_path) -> None:
    """Two images, none selected: the reader cannot tell which the file counts; the layer
    stays in pixels (napari's pixel centres over an image in pixels) until placed."""
    from cytowords.napari.io.layers import place_pixel_rois

    viewer, image = _viewer_with_image(make_napari_viewer, (40.0, -24.0))
    viewer.add_image(section_array(seed=1), scale=(2.0, 2.0), units=("µm", "µm"), name="other")
    viewer.layers.selection.clear()
    src = write_v05(tmp_path / "q.geojson", [feature_v05(polygon(RING, HOLE))])
    (layer,) = viewer.open(str(src), plugin="napari-cytowords")
    assert layer.metadata["cytowords_in_image_pixels"] and tuple(layer.scale) == (1.0, 1.0)
    np.testing.assert_allclose(np.asarray(layer.data[0])[0], [10.5 - 0.5, 20.25 - 0.5])
    assert place_pixel_rois(layer, image)
    cli = read_region_file(src, pixel_size_um=PS).rois[0].roi
    np.testing.assert_allclose(shape_polygon_section_um(layer, 0, image), cli.vertices, atol=1e-9)


def _our_file(tmp_path: Path) -> Path:
    from cytowords.describe.export import rois_to_geojson, write_geojson

    roi = np.array(RING)[:, ::-1] * PS
    gj = rois_to_geojson([roi], [{"area": "hOc1"}], pixel_size_um=PS, names=["mine"])
    return write_geojson(tmp_path / "ours.geojson", gj)


@pytest.mark.parametrize("kind", ["qupath", "imagej", "ours"])
def test_region_files_open_over_a_um_image_without_napari_units_warning(
    make_napari_viewer, tmp_path, kind
) -> None:
    """napari warns "Inconsistent units across layers" when a layer in pixels lies over an
    image in µm; a region file opened over the image takes the image's units."""
    from tests.support.imagej_files import polygon_roi, write_roiset

    viewer, image = _viewer_with_image(make_napari_viewer)
    if kind == "qupath":
        path = write_v05(tmp_path / "q.geojson", [feature_v05(polygon(RING))])
    elif kind == "imagej":
        path = write_roiset(
            tmp_path / "RoiSet.zip", [polygon_roi(rect(20, 10, 220, 120), name="a")]
        )
    else:
        path = _our_file(tmp_path)
    with Notes() as notes:
        (layer,) = viewer.open(str(path), plugin="napari-cytowords")
        viewer.window._qt_viewer.canvas._update_world_units()  # what napari's next draw does
    assert not notes.any("inconsistent units"), notes.messages
    assert viewer.layers.extent.units is not None
    cli = read_region_file(path, pixel_size_um=PS).rois[0].roi
    np.testing.assert_allclose(shape_polygon_section_um(layer, 0, image), cli.vertices, atol=1e-6)


def test_unnamed_qupath_annotations_stay_unnamed(make_napari_viewer, tmp_path) -> None:
    """QuPath 0.3 writes no ``name`` for an unnamed annotation: the widgets label it
    ``ROI n``, the file written from napari leaves it unnamed; classes keep their colours
    (0.3's packed ``colorRGB``, 0.5's ``color``)."""
    from cytowords.napari.describe.panel import roi_label

    viewer, _ = _viewer_with_image(make_napari_viewer)
    named = feature_v05(polygon(rect(300, 300, 400, 400)), name="mine", cls="L2", rgb=(0, 9, 8))
    src = write_v03(
        tmp_path / "q.geojson",
        [feature_v03(polygon(RING), "L1", (200, 10, 0)), feature_v03(polygon(HOLE)), named],
    )
    assert "name" not in json.loads(src.read_text())[0]["properties"]
    assert json.loads(src.read_text())[0]["properties"]["classification"]["colorRGB"] == (
        packed_argb(200, 10, 0)
    )
    (layer,) = viewer.open(str(src), plugin="napari-cytowords")
    assert list(layer.features["name"]) == ["", "", "mine"]
    rows = layer.features.to_dict("records")
    assert [roi_label(i, r) for i, r in enumerate(rows)] == ["ROI 1", "ROI 2", "mine"]
    out = tmp_path / "out.geojson"
    layer.save(str(out), plugin="napari-cytowords")
    props = [f["properties"] for f in json.loads(out.read_text())["features"]]
    assert ["name" in p for p in props] == [False, False, True] and props[2]["name"] == "mine"
    assert props[0]["classification"] == {"name": "L1", "color": [200, 10, 0]}
    assert props[2]["classification"] == {"name": "L2", "color": [0, 9, 8]}
    # ... and read again: still unnamed
    (again,) = viewer.open(str(out), plugin="napari-cytowords")
    assert list(again.features["name"]) == ["", "", "mine"]


def test_a_roi_layer_keeps_its_pixels_when_the_image_is_rescaled(
    make_napari_viewer, tmp_path
) -> None:
    """*Set* under 'Pixel size' re-scales the image and the layers over it: the ROI layer's
    file then counts the same image pixels, at the new pixel size."""
    from cytowords.napari.io.layers import set_pixel_size

    viewer, image = _viewer_with_image(make_napari_viewer)
    src = write_v05(tmp_path / "q.geojson", [feature_v05(polygon(RING, HOLE))])
    (layer,) = viewer.open(str(src), plugin="napari-cytowords")
    assert layer in set_pixel_size(viewer, image, 2.0)
    out = tmp_path / "out.geojson"
    layer.save(str(out), plugin="napari-cytowords")
    assert json.loads(out.read_text())["properties"]["pixel_size_um"] == 2.0
    ((ring, hole),) = _coords(out)
    np.testing.assert_allclose(ring, closed(RING), atol=1e-6)
    np.testing.assert_allclose(hole, closed(HOLE), atol=1e-6)


def test_a_large_file_read_in_the_background_is_placed_too(make_napari_viewer, qtbot, tmp_path):
    """More than BACKGROUND_SHAPES regions opened from the viewer's event loop: the layer
    made in a worker thread is placed over the image like a small file's."""
    from tests.napari.io.test_geojson_reader import _open_from_the_gui, _wait_for_layer
    from tests.support.imagej_files import polygon_roi, write_roiset

    viewer, image = _viewer_with_image(make_napari_viewer, (40.0, -24.0))
    rois = [polygon_roi(rect(10 * k, 5, 10 * k + 8, 40), name=f"p{k}") for k in range(12)]
    path = write_roiset(tmp_path / "RoiSet.zip", rois)
    with Notes() as notes:
        assert _open_from_the_gui(viewer, qtbot, path) == []
        layer = _wait_for_layer(viewer, qtbot, 2)
        viewer.window._qt_viewer.canvas._update_world_units()
    assert not notes.any("inconsistent units"), notes.messages
    assert not layer.metadata["cytowords_in_image_pixels"]
    cli = read_region_file(path, pixel_size_um=PS).rois
    for i in (0, 11):
        np.testing.assert_allclose(
            shape_polygon_section_um(layer, i, image), cli[i].roi.vertices, atol=1e-9
        )


def test_an_area_map_geojson_opens_on_its_map_layer(make_napari_viewer, tmp_path) -> None:
    """The area map's QuPath GeoJSON (section pixels from the corner) opened in napari: its
    outline follows the tile edges of the map's Labels layer."""
    from cytowords.describe.export import write_geojson
    from cytowords.mapping import AreaMap
    from cytowords.mapping.geojson import area_map_to_geojson
    from cytowords.napari.area_map.layers import area_map_layers
    from cytowords.napari.io.layers import world_to_section

    viewer, image = _viewer_with_image(make_napari_viewer, (40.0, -24.0))
    labels = np.zeros((4, 6), np.int32)
    labels[1:3, 2:5] = 1
    amap = AreaMap(
        labels=labels,
        probability=np.full(labels.shape, 0.9, np.float32),
        ood_score=np.zeros(labels.shape, np.float32),
        rejected=np.zeros(labels.shape, bool),
        pixel_size_um=64.0,
        origin_um=(96.0, 160.0),
        area_table={1: ("hOc1", "primary visual cortex", "#ff0000")},
    )
    _, meta, _ = area_map_layers(amap, -world_to_section(image))[0]
    gj = area_map_to_geojson(amap, image_pixel_size_um=PS)
    (layer,) = viewer.open(
        str(write_geojson(tmp_path / "map.geojson", gj)), plugin="napari-cytowords"
    )
    world = np.asarray(layer.data[0]) * layer.scale + layer.translate
    s, t = 64.0, np.asarray(meta["translate"])  # the map layer: tile (i, j) centred on t + s·(i, j)
    np.testing.assert_allclose(world.min(axis=0), t + s * (np.array([1, 2]) - 0.5), atol=1e-6)
    np.testing.assert_allclose(world.max(axis=0), t + s * (np.array([2, 4]) + 0.5), atol=1e-6)


#: a QuPath line annotation along the cortex, [x, y] pixels, off the pixel grid
LINE = [[10.5, 40.0], [90.25, 44.0], [180.0, 60.5]]


def test_a_qupath_line_opens_as_a_path_the_borders_dock_reads_and_saving_keeps_it(
    make_napari_viewer, tmp_path: Path
) -> None:
    """A path drawn along the cortex in QuPath (a LineString annotation) opens as a path
    shape, placed over the image, read by the Borders dock at the CLI's section µm; saved
    with the regions it is written back as the same line. Before, a file of lines only was
    refused ("no polygon annotation") and a line beside regions was dropped."""
    from cytowords.napari.teach.borders import path_section_um

    viewer, image = _viewer_with_image(make_napari_viewer, (40.0, -24.0))
    line = {"type": "LineString", "coordinates": LINE}
    src = write_v05(
        tmp_path / "path.geojson",
        [feature_v05(line, name="pia path", cls="pia"), feature_v05(polygon(RING), name="sq")],
    )
    (layer,) = viewer.open(str(src), plugin="napari-cytowords")
    assert list(layer.shape_type) == ["polygon", "path"]
    assert list(layer.features["name"]) == ["sq", "pia path"]
    cli = read_region_file(src, pixel_size_um=PS, paths=True).paths[0].vertices
    np.testing.assert_allclose(path_section_um(layer, image), cli, atol=1e-6)
    np.testing.assert_allclose(cli, np.asarray(LINE)[:, ::-1] * PS)
    out = tmp_path / "out.geojson"
    layer.save(str(out), plugin="napari-cytowords")
    feats = json.loads(out.read_text())["features"]
    (saved,) = [f for f in feats if f["geometry"]["type"] == "LineString"]
    np.testing.assert_allclose(saved["geometry"]["coordinates"], LINE, atol=1e-6)
    assert saved["properties"]["name"] == "pia path"
    assert saved["properties"]["classification"]["name"] == "pia"
    assert saved["properties"]["classification"]["color"] == [0, 128, 255]
    # a file of lines only opens too (the Borders dock's path from QuPath)
    only = write_v05(tmp_path / "only.geojson", [feature_v05(line, name="pia path")])
    (paths,) = viewer.open(str(only), plugin="napari-cytowords")
    assert list(paths.shape_type) == ["path"]
    np.testing.assert_allclose(path_section_um(paths, image), cli, atol=1e-6)


def _corner_rect_world(image) -> np.ndarray:
    """World µm of the rectangle from the top-left corner of pixel (row 10, col 20) to the
    bottom-right corner of pixel (row 29, col 59) of ``image``: QuPath's (20, 10)–(60, 30)."""
    t, s = np.asarray(image.translate), np.asarray(image.scale)
    y0, x0 = t + (np.array([10, 20]) - 0.5) * s
    y1, x1 = t + (np.array([29, 59]) + 0.5) * s
    return np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]])


@pytest.mark.parametrize("how", ["add_shapes", "new_from_image", "chosen_in_describe"])
def test_a_plain_shapes_layer_over_a_translated_image_exports_the_image_pixels(
    make_napari_viewer, tmp_path, how
) -> None:
    """A napari Shapes layer that is not the plugin's (``viewer.add_shapes()``: scale 1, no
    translate; napari's *New shapes layer* from the selected image: its scale and
    translate; a plain layer chosen as the Describe widget's ROI layer: its pixel size
    recorded) drawn over an image with a translate is written in that image's pixels."""
    from napari._app_model.actions._file import new_shapes

    viewer, image = _viewer_with_image(make_napari_viewer, (40.0, -24.0))
    if how == "new_from_image":
        viewer.layers.selection.active = image
        new_shapes(viewer)
        rois = viewer.layers[-1]
        assert tuple(rois.translate) == (40.0, -24.0)
    else:
        rois = viewer.add_shapes(name="plain")
        if how == "chosen_in_describe":
            from cytowords.napari.describe.results import prepare_layer

            prepare_layer(rois, PS)
    rois.add_rectangles(polygon_um_to_data(_corner_rect_world(image), rois.scale, rois.translate))
    out = tmp_path / "plain.geojson"
    rois.save(str(out), plugin="napari-cytowords")
    ((ring,),) = _coords(out)
    np.testing.assert_allclose(ring, closed(rect(20, 10, 60, 30)), atol=1e-9)
    assert json.loads(out.read_text())["properties"]["pixel_size_um"] == PS
    # the CSV gives the same region: centroid in section µm, area in µm²
    rois.save(str(tmp_path / "plain.csv"), plugin="napari-cytowords")
    (row,) = csv.DictReader((tmp_path / "plain.csv").open())
    got = [float(row[k]) for k in ("centroid_y_um", "centroid_x_um", "area_um2")]
    assert got == [20 * PS, 40 * PS, 40 * 20 * PS * PS]


def test_a_plain_shapes_layer_over_two_differently_placed_images_is_refused(
    make_napari_viewer, tmp_path
) -> None:
    """Over two images placed differently the writer cannot tell which image's pixels to
    write: one line naming the file, the layer and the images, and no file."""
    viewer, image = _viewer_with_image(make_napari_viewer, (40.0, -24.0))
    viewer.add_image(section_array(), scale=(4.0, 4.0), translate=(0.0, 0.0), name="other")
    rois = viewer.add_shapes(name="plain")
    rois.add_rectangles(_corner_rect_world(image))
    out = tmp_path / "plain.geojson"
    data, meta, _ = rois.as_layer_data_tuple()  # what *Save Selected Layers…* hands the writer
    with pytest.raises(ValueError, match="plain.*section.*other") as exc:
        write_shapes_geojson(str(out), data, meta)
    assert "\n" not in str(exc.value) and str(out) in str(exc.value)
    assert not out.exists()
    image.visible = False  # the other one is the image it is drawn over
    write_shapes_geojson(str(out), data, meta)
    ((ring,),) = _coords(out)
    px = (_corner_rect_world(image) + 2.0) / 4.0  # 'other': 4 µm/px at no translate
    np.testing.assert_allclose(ring, closed(px[:, ::-1].tolist()), atol=1e-9)


@pytest.mark.parametrize("how", ["add_shapes", "new_from_image"])
def test_a_plain_shapes_layer_over_an_image_scaled_in_mm_exports_the_image_pixels(
    make_napari_viewer, tmp_path, how
) -> None:
    """Over an image whose scale is in mm (0.008 mm/px, translate in mm) the world is in mm:
    a plain napari Shapes layer drawn there is written in the image's pixels and its CSV in
    section µm, not its mm read as µm."""
    from napari._app_model.actions._file import new_shapes

    viewer = make_napari_viewer()
    image = viewer.add_image(
        section_array(),
        scale=(PS / 1000, PS / 1000),
        translate=(0.04, -0.024),
        units=("mm", "mm"),
        name="section",
    )
    if how == "new_from_image":
        viewer.layers.selection.active = image
        new_shapes(viewer)
        rois = viewer.layers[-1]
    else:
        rois = viewer.add_shapes(name="plain")
    rois.add_rectangles(polygon_um_to_data(_corner_rect_world(image), rois.scale, rois.translate))
    out = tmp_path / "plain.geojson"
    rois.save(str(out), plugin="napari-cytowords")
    ((ring,),) = _coords(out)
    np.testing.assert_allclose(ring, closed(rect(20, 10, 60, 30)), atol=1e-6)
    assert json.loads(out.read_text())["properties"]["pixel_size_um"] == pytest.approx(PS)
    rois.save(str(tmp_path / "plain.csv"), plugin="napari-cytowords")
    (row,) = csv.DictReader((tmp_path / "plain.csv").open())
    got = [float(row[k]) for k in ("centroid_y_um", "centroid_x_um", "area_um2")]
    np.testing.assert_allclose(got, [20 * PS, 40 * PS, 40 * 20 * PS * PS], rtol=1e-6)
