"""The Teach and Borders dock widgets in a real viewer: named shapes on two small sections
-> a taught bundle; a path along the pia of a synthetic section -> borders, segments and
the distance plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cytowords.model import load_bundle
from cytowords.napari.io.layers import section_from_layer
from cytowords.napari.teach.borders import BordersWidget
from cytowords.napari.teach.widget import TeachWidget
from cytowords.slide_reading import section_slide
from cytowords.synth import virtual_section
from cytowords.synth.truth import _geometry
from tests.support.napari_helpers import Notes
from tests.support.teach_sections import PIXEL_UM, band_rect, texture_section


def _add_pair(viewer, seed: int, names=("área 1", "Feld β")):
    img = np.asarray(texture_section(seed).levels[0])
    image = viewer.add_image(img, scale=(PIXEL_UM, PIXEL_UM), name=f"section {seed}")
    # shapes in the image's world: section µm minus half a pixel (pixel centres at 0)
    polys = [band_rect(k) / PIXEL_UM - 0.5 for k in (0, 1, 2)]
    shapes = viewer.add_shapes(
        polys,
        shape_type="polygon",
        scale=(PIXEL_UM, PIXEL_UM),
        name=f"regions {seed}",
        features={"name": [names[0], names[1], ""]},  # the third band stays unnamed
    )
    return image, shapes


def test_teach_widget_fits_shows_cv_and_saves(make_napari_viewer, qtbot, tiny_bundle, tmp_path):
    viewer = make_napari_viewer()
    w = TeachWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.model.setText(str(tiny_bundle))
    for seed in (1, 2):
        image, shapes = _add_pair(viewer, seed)
        w.image_choice.set_value(image)
        w.shapes_choice.set_value(shapes)
        w.add_pair()
    assert w.pairs_list.count() == 2
    w.fit()
    assert w.busy
    qtbot.waitUntil(lambda: not w.busy, timeout=180000)
    assert w.taught is not None, w.progress.status.text()
    text = w.table.toPlainText()
    assert "leave one section out" in text and "área 1" in text and "Feld β" in text
    assert w.save_btn.isEnabled()
    out = w.save(str(tmp_path / "taught"))
    assert load_bundle(out).area_ids == ["área 1", "Feld β"]
    # each section's reading, as the widgets read its layer (console layers: judged)
    import json

    cfg = json.loads((Path(out) / "config.json").read_text(encoding="utf-8"))
    got = cfg["extra"]["taught"]["sections"]
    for d in got:
        assert d["slide"] == section_slide(section_from_layer(viewer.layers[d["name"]]))
    assert len(got) == 2 and all(d["slide"].endswith("(judged from the image)") for d in got)


def test_teach_widget_says_why_with_one_area(make_napari_viewer, qtbot, tiny_bundle):
    viewer = make_napari_viewer()
    w = TeachWidget(viewer)
    w.model.setText(str(tiny_bundle))
    image, shapes = _add_pair(viewer, 1, names=("same", "same"))
    w.image_choice.set_value(image)
    w.shapes_choice.set_value(shapes)
    with Notes() as notes:
        w.fit()
        qtbot.waitUntil(lambda: not w.busy, timeout=60000)
    assert w.taught is None and not w.save_btn.isEnabled()
    assert notes.any("only one area", "same")


PX = 16.0


@pytest.fixture(scope="module")
def pia_crop():
    """A crop (16 µm/px) of a synthetic section around a pial path crossing areas."""
    sec = virtual_section(205, size_mm=(40, 30))
    g = _geometry(sec)
    g._build()
    s = g._arclen
    path = g._poly[(s > 800) & (s < 8600)][:, ::-1]  # (x, y) -> (y, x) µm
    y0, x0 = np.maximum(np.floor((path.min(0) - 5000) / PX) * PX, 0.0)
    y1, x1 = np.minimum(np.ceil((path.max(0) + 5000) / PX) * PX, sec.shape_um)
    img = np.clip(sec.read_window(y0, x0, y1 - y0, x1 - x0, PX), 0, 255).astype(np.uint8)
    return img, path - [y0, x0]


@pytest.mark.filterwarnings("error:Feature 'segment'")
def test_borders_widget_adds_points_segments_and_plot(
    make_napari_viewer, qtbot, pia_crop, tmp_path
):
    img, path_um = pia_crop
    viewer = make_napari_viewer()
    image = viewer.add_image(img, scale=(PX, PX), name="crop")
    paths = viewer.add_shapes([path_um / PX - 0.5], shape_type="path", scale=(PX, PX), name="pia")
    w = BordersWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.image_choice.set_value(image)
    w.path_choice.set_value(paths)
    w.block_min.setValue(8)
    w.block_max.setValue(20)
    w.alpha.setCurrentText("0.05")
    # a 7.8 mm path over four areas of different thickness: no length covariate (the
    # user guide's advice for short paths; with it no border reaches 0.05 here)
    w.adjust_length.setChecked(False)
    w.run()
    qtbot.waitUntil(lambda: not w.busy, timeout=240000)
    r = w.result
    assert r is not None, w.progress.status.text()
    assert len(r.traverses_um) >= 50 and len(r.border_along_um) >= 1
    pts, segs = w.last_layers
    assert len(pts.data) == len(r.border_along_um)
    # borders lie on the drawn path (world µm = data × 16)
    world = pts.data * PX + PX / 2
    d = np.min(np.hypot(*(world[:, None, :] - path_um[None]).transpose(2, 0, 1)), axis=1)
    assert d.max() < 2 * PX + 60
    assert len(segs.data) == len(r.border_along_um) + 1
    assert list(segs.features["name"]) == [f"segment {k}" for k in range(1, len(segs.data) + 1)]
    segs.features.loc[0, "name"] = "hOc1"  # segments can be named
    assert segs.features["name"][0] == "hOc1"
    assert len(w.plot.x) == len(w.plot.y) > 0 and np.isfinite(w.plot.y).any()
    assert w.plot.ax.get_xlabel().startswith("position along the path")
    # saved as `cytowords borders --out` writes it, the segments named as renamed
    # (napari's own GeoJSON writer skips paths: it wrote an empty file)
    import json

    assert w.save_btn.isEnabled()
    out = w.save(str(tmp_path / "borders"))
    gj = json.loads(open(out, encoding="utf-8").read())
    assert out.endswith("borders.geojson") and gj["properties"]["pixel_size_um"] == PX
    # how the image's slide was read, as the widgets read it (napari's console layer: judged)
    assert gj["properties"]["slide"] == section_slide(section_from_layer(image))
    assert gj["properties"]["slide"].endswith("(judged from the image)")
    kinds = [f["geometry"]["type"] for f in gj["features"]]
    assert kinds.count("Point") == len(r.border_along_um)
    lines = [f for f in gj["features"] if f["geometry"]["type"] == "LineString"]
    assert [f["properties"]["name"] for f in lines][:2] == ["hOc1", "segment 2"]
    xy = np.array([p for f in lines for p in f["geometry"]["coordinates"]])  # x, y px
    d = np.min(np.hypot(*(xy[:, None, ::-1] * PX - path_um[None]).transpose(2, 0, 1)), axis=1)
    assert d.max() < 2 * PX + 60


def test_borders_widget_short_path_is_one_message(make_napari_viewer, qtbot, pia_crop):
    img, path_um = pia_crop
    viewer = make_napari_viewer()
    image = viewer.add_image(img, scale=(PX, PX), name="crop")
    paths = viewer.add_shapes([path_um[:3] / PX], shape_type="path", scale=(PX, PX))
    w = BordersWidget(viewer)
    w.image_choice.set_value(image)
    w.path_choice.set_value(paths)
    n = len(viewer.layers)
    with Notes() as notes:
        w.run()
        qtbot.waitUntil(lambda: not w.busy, timeout=60000)
    assert notes.any("mm long") and len(viewer.layers) == n and w.result is None


def test_teach_widget_names_regions_as_the_cli_does(make_napari_viewer, qtbot, tmp_path):
    """Opened region files name areas in the widget as in ``cytowords teach``: Fiji's
    particle outlines (named only by ImageJ's position label) are no areas, counted in one
    note; a QuPath annotation is named by its class, not by the reader's ``ROI k``."""
    from cytowords.napari.teach.widget import named_regions, skipped_notes
    from tests.support.imagej_files import polygon_roi, write_roiset
    from tests.support.qupath_files import feature_v05, polygon, write_v05

    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((160, 360), np.uint8), scale=(PIXEL_UM, PIXEL_UM))
    rois = [polygon_roi(band_rect(k)[:, ::-1] / PIXEL_UM, name=n) for k, n in ((0, "A"), (1, "B"))]
    names = ["A", "B"]
    for k in range(12):
        x, y = 20 + 3 * k, 40 + k
        rois.append(polygon_roi(np.array([[x, y], [x + 2, y], [x + 1, y + 2]], float)))
        names.append(f"0001-{y:04d}-{x:04d}")
    viewer.open(str(write_roiset(tmp_path / "RoiSet.zip", rois, names)), plugin="napari-cytowords")
    qtbot.waitUntil(lambda: len(viewer.layers) == 2, timeout=60000)
    fiji = viewer.layers[-1]
    assert [a.name for a in named_regions(fiji, image, 0)] == ["A", "B"]
    (note,) = skipped_notes(fiji)
    assert "12 ROI(s) named only by ImageJ's position label" in note and "'0001-0040-0020'" in note

    ring = (band_rect(2)[:, ::-1] / PIXEL_UM).tolist()
    path = write_v05(
        tmp_path / "q.geojson",
        [
            feature_v05(polygon(ring), cls="L1"),
            feature_v05(polygon(ring)),
            feature_v05(polygon(ring), cls="Ignore*"),
            feature_v05(polygon(ring), cls="Ignore*"),
        ],
    )
    (qupath,) = viewer.open(str(path), plugin="napari-cytowords")
    assert list(qupath.features["name"]) == ["", "", "", ""]  # QuPath left them unnamed
    assert [a.name for a in named_regions(qupath, image, 0)] == ["L1"]
    # QuPath's special classes teach nothing, said as the CLI says it
    assert skipped_notes(qupath) == [
        f"layer {qupath.name!r}: 2 region(s) of QuPath's special class 'Ignore*' (no area); skipped"
    ]


def test_borders_result_is_shown_in_steps_bar_first(make_napari_viewer, qtbot) -> None:
    """A result holds the GUI thread in short steps, not one long stall: the progress bar
    is set before the new layers exist (``QProgressBar.setValue`` repaints at once, which
    would draw new layers too), the two layers and the plot each come in a later turn of
    the event loop."""
    from types import SimpleNamespace

    from qtpy.QtCore import QTimer

    from cytowords.napari.events import Done

    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((200, 300), np.uint8), scale=(PX, PX), name="crop")
    w = BordersWidget(viewer)
    viewer.window.add_dock_widget(w)
    path = np.array([[800.0, 400.0], [800.0, 4400.0]])  # section µm, 4 mm
    along = np.arange(0.0, 4001.0, 100.0)
    r = SimpleNamespace(
        path_um=path,
        spacing_um=100.0,
        path_length_um=4000.0,
        traverses_um=[np.zeros((2, 2))] * 41,
        positions_along_um=along[1:-1],
        distance=np.ones((3, 39)),
        border_along_um=np.array([2000.0]),
        border_um=np.array([[800.0, 2400.0]]),
        border_support=np.array([1.0]),
        segments_along_um=np.array([[0.0, 2000.0], [2000.0, 4000.0]]),
    )
    turn = [0]
    ticker = QTimer()
    ticker.timeout.connect(lambda: turn.__setitem__(0, turn[0] + 1))
    ticker.start(0)
    seen: dict[str, tuple[int, int]] = {}
    set_value, show_result = w.progress.bar.setValue, w.plot.show_result

    def record(what, real):
        def wrapped(*a):
            seen.setdefault(what, (turn[0], len(viewer.layers)))
            return real(*a)

        return wrapped

    w.progress.bar.setValue = lambda v: (record("bar", set_value) if v == 1000 else set_value)(v)
    w._add_borders = record("points", w._add_borders)
    w._add_segments = record("segments", w._add_segments)
    w.plot.show_result = record("plot", show_result)
    n = len(viewer.layers)
    w._on_event(Done(r), image)
    assert seen["bar"] == (turn[0], n), "the bar is set in the handler, before any layer"
    assert seen.keys() == {"bar"} and w.busy
    qtbot.waitUntil(lambda: not w.busy, timeout=10000)
    ticker.stop()
    turns = [seen[k][0] for k in ("bar", "points", "segments", "plot")]
    assert turns == sorted(set(turns)), f"one step per turn of the event loop: {seen}"
    assert seen["segments"][1] == n + 1  # the borders layer is there, the segments not yet
    assert len(viewer.layers) == n + 2 and len(w.last_layers[1].data) == 2
    assert w.progress.status.text().startswith("1 border(s) along 4.0 mm")


def test_teach_from_named_paths_says_they_enclose_no_cortex(make_napari_viewer, qtbot, tiny_bundle):
    """The Borders dock's segments renamed to areas are paths: Teach cannot read fields in
    them. It said "no named region (give shapes a name ...)" of shapes that were named; it
    now says that paths enclose no cortex and to draw polygons (once as an error when the
    layer holds nothing else, as a note beside named polygons)."""
    viewer = make_napari_viewer()
    w = TeachWidget(viewer)
    w.model.setText(str(tiny_bundle))
    image, _ = _add_pair(viewer, 1)
    segs = viewer.add_shapes(
        [np.array([[20.0, 20.0], [20.0, 100.0]]), np.array([[20.0, 140.0], [20.0, 220.0]])],
        shape_type="path",
        scale=(PIXEL_UM, PIXEL_UM),
        name="section 1 segments",
        features={"name": ["área 1", "Feld β"]},
    )
    w.image_choice.set_value(image)
    w.shapes_choice.set_value(segs)
    with Notes() as notes:
        w.fit()
        qtbot.waitUntil(lambda: not w.busy, timeout=60000)
    assert w.taught is None
    assert notes.any("2 named shape(s) are paths or lines", "draw a polygon")
    assert not notes.any("give shapes a name")


def test_teach_places_a_qupath_file_over_its_image(make_napari_viewer, qtbot, tmp_path):
    """A QuPath export opened from the viewer holds image pixels: *Add section* places it over
    the image (as Describe does; one note) so that the regions are read where they were
    drawn. They were read as µm: an 8 µm/px section's regions shrank to an eighth in its
    corner ("area ... has 0 field(s) of cortex")."""
    import json

    from cytowords.napari.teach.widget import named_regions
    from tests.support.teach_sections import qupath_geojson

    viewer = make_napari_viewer()
    path = tmp_path / "q.geojson"
    path.write_text(json.dumps(qupath_geojson([("A", band_rect(0)), ("B", band_rect(1))])))
    # opened before its image: the reader has no image to place it over
    (qupath,) = viewer.open(str(path), plugin="napari-cytowords")
    image = viewer.add_image(np.zeros((160, 360), np.uint8), scale=(PIXEL_UM, PIXEL_UM))
    w = TeachWidget(viewer)
    w.image_choice.set_value(image)
    w.shapes_choice.set_value(qupath)
    with Notes() as notes:
        w.add_pair()
        w.add_pair()  # once only
    assert [m for m in notes.messages if "placed over" in m] == [
        f"regions of {qupath.name!r} are in image pixels: placed over {image.name!r}"
    ]
    got = named_regions(qupath, image, 0)
    assert [a.name for a in got] == ["A", "B"]
    for a, k in zip(got, (0, 1)):
        np.testing.assert_allclose(a.roi.vertices, band_rect(k), atol=1e-6)


def test_teach_keeps_the_holes_of_a_named_region(make_napari_viewer, tmp_path):
    """A QuPath annotation with a hole (an area drawn around a vessel) is taught without the
    hole, as the CLI's ``teach`` reads it: no field is read in the hole. The napari path
    built each region from its outline alone, so the hole's pixels were taught as the area."""
    import json

    from cytowords.napari.teach.widget import named_regions
    from tests.support.teach_sections import qupath_geojson

    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((160, 360), np.uint8), scale=(PIXEL_UM, PIXEL_UM))
    (feature,) = qupath_geojson([("A", band_rect(0))])
    hole = [[60.0, 60.0], [80.0, 60.0], [80.0, 100.0], [60.0, 100.0], [60.0, 60.0]]  # x, y px
    feature["geometry"]["coordinates"].append(hole)
    path = tmp_path / "q.geojson"
    path.write_text(json.dumps([feature]))
    (qupath,) = viewer.open(str(path), plugin="napari-cytowords")
    (a,) = named_regions(qupath, image, 0)
    assert a.name == "A" and len(a.roi.holes) == 1
    np.testing.assert_allclose(
        sorted(map(tuple, a.roi.holes[0])),
        sorted((y * PIXEL_UM, x * PIXEL_UM) for x, y in hole[:-1]),
        atol=1e-6,
    )
    inside_hole = np.array([[80.0 * PIXEL_UM, 70.0 * PIXEL_UM]])  # y, x
    outside_hole = np.array([[80.0 * PIXEL_UM, 40.0 * PIXEL_UM]])
    assert not a.roi.contains(inside_hole)[0] and a.roi.contains(outside_hole)[0]


def test_a_cancelled_or_failed_fit_keeps_the_model_taught_before(
    make_napari_viewer, qtbot, tiny_bundle, tmp_path
):
    """Fit, then Fit again and cancel (or fail): the first, unsaved model stays, with its
    table and Save…; it was dropped at the second Fit's start (Save… disabled, the old
    table still shown) and the status said "no layer added" (Teach adds no layer)."""
    viewer = make_napari_viewer()
    w = TeachWidget(viewer)
    w.model.setText(str(tiny_bundle))
    for seed in (1, 2):
        image, shapes = _add_pair(viewer, seed)
        w.image_choice.set_value(image)
        w.shapes_choice.set_value(shapes)
        w.add_pair()
    w.fit()
    qtbot.waitUntil(lambda: not w.busy, timeout=180000)
    first, table = w.taught, w.table.toPlainText()
    assert first is not None and w.save_btn.isEnabled()
    w.fit()
    assert not w.save_btn.isEnabled()  # not while fitting
    w.cancel()
    qtbot.waitUntil(lambda: not w.busy, timeout=180000)
    assert w.taught is first and w.save_btn.isEnabled() and w.table.toPlainText() == table
    status = w.progress.status.text()
    assert status.startswith("cancelled: nothing new taught") and "taught before is kept" in status
    w.model.setText(str(tmp_path / "missing-model"))
    with Notes() as notes:
        w.fit()
        qtbot.waitUntil(lambda: not w.busy, timeout=60000)
    assert notes.messages and w.taught is first and w.save_btn.isEnabled()
    assert load_bundle(w.save(str(tmp_path / "kept"))).area_ids == ["área 1", "Feld β"]


def test_a_fit_that_ends_at_once_still_gives_save_back(
    make_napari_viewer, qtbot, tiny_bundle, tmp_path, monkeypatch
):
    """A fit that fails at once (a missing model folder) may end before ``fit`` returns:
    Save… of the model taught before still comes back when it ends."""
    from qtpy.QtCore import QThreadPool

    import cytowords.napari.teach.widget as tw

    viewer = make_napari_viewer()
    w = TeachWidget(viewer)
    w.model.setText(str(tiny_bundle))
    for seed in (1, 2):
        image, shapes = _add_pair(viewer, seed)
        w.image_choice.set_value(image)
        w.shapes_choice.set_value(shapes)
        w.add_pair()
    w.fit()
    qtbot.waitUntil(lambda: not w.busy, timeout=180000)
    assert w.taught is not None and w.save_btn.isEnabled()
    real = tw.run_job

    def ends_at_once(*args, **kwargs):  # the worker's thread ends before fit() goes on
        real(*args, **kwargs)
        assert QThreadPool.globalInstance().waitForDone(60000)

    monkeypatch.setattr(tw, "run_job", ends_at_once)
    w.model.setText(str(tmp_path / "missing-model"))
    with Notes() as notes:
        w.fit()
        qtbot.waitUntil(lambda: not w.busy, timeout=60000)
        qtbot.wait(100)
    assert notes.any("missing-model", "does not exist"), notes.messages
    assert w.save_btn.isEnabled()


def test_a_closed_layer_leaves_the_sections_to_teach_from(make_napari_viewer, qtbot) -> None:
    """A section whose image or regions layer was closed is taken off the list, with a
    note naming it: a later fit must not read a closed layer."""
    viewer = make_napari_viewer()
    w = TeachWidget(viewer)
    pairs = []
    for seed in (1, 2):
        image, shapes = _add_pair(viewer, seed)
        w.image_choice.set_value(image)
        w.shapes_choice.set_value(shapes)
        w.add_pair()
        pairs.append((image, shapes))
    assert w.pairs_list.count() == 2
    with Notes() as notes:
        viewer.layers.remove(pairs[0][0])  # the first section's image
    assert [p.image for p in w.pairs] == [pairs[1][0]]
    assert w.pairs_list.count() == 1 and w.pairs_list.item(0).text() == w.pairs[0].label()
    assert notes.any("taken off", "section 1")
    with Notes() as notes:
        viewer.layers.remove(pairs[1][1])  # the second section's regions
    assert w.pairs == [] and w.pairs_list.count() == 0
    assert notes.any("taken off", "regions 2")
