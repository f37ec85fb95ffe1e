"""The demo viewer (``cytowords demo``) with real synthetic data and a real (tiny) bundle."""

from __future__ import annotations

import numpy as np
import pytest

from cytowords.cli import main
from cytowords.model import default_model_path
from cytowords.napari.demo import example_rois_um, open_demo
from tests.support.napari_helpers import Notes, wait_idle


def test_demo_opens_section_truth_rois_and_widgets(make_napari_viewer, tiny_bundle, qtbot):
    viewer = make_napari_viewer()
    describe, area_map = open_demo(viewer, size_mm=(12.0, 9.0), model=str(tiny_bundle))
    names = [ly.name for ly in viewer.layers]
    assert names == ["synthetic section 1", "ground truth areas", "ROIs"]
    image, truth, rois = viewer.layers
    assert image.multiscale and image.scale[-1] == 2.0
    assert not truth.visible, "ground truth is hidden by default"
    assert len(rois.data) == 2, "two example ROIs on cortex"
    # the example ROIs lie on cortex of one area each (ground truth under their centres)
    for d in rois.data:
        c = np.asarray(d).mean(axis=0) * rois.scale[-2:] / truth.scale[-2:]
        assert int(truth.data[0][int(c[0]), int(c[1])]) > 0
    describe.describe_all()
    wait_idle(qtbot, describe)
    assert list(rois.features["status"]) == ["done", "done"]
    assert area_map.image_choice.value() is image


@pytest.mark.skipif(default_model_path().is_dir(), reason="the default model is installed")
def test_demo_without_default_model_says_so(make_napari_viewer):
    viewer = make_napari_viewer()
    describe, area_map = open_demo(viewer, size_mm=(12.0, 9.0), model="default")
    assert "not installed" in describe.model.message.text()
    assert not describe.model.message.isHidden()
    with Notes() as notes:
        describe.describe_all()
        area_map.run()
    assert not describe.busy and not area_map.busy
    assert sum("default model is not installed" in m for m in notes.messages) == 2


def test_demo_cli_screenshot(tiny_bundle, tmp_path, capsys):
    out = tmp_path / "shot.png"
    args = ["demo", "--size-mm", "8", "6", "--model", str(tiny_bundle), "--rois", "1"]
    assert main([*args, "--no-show", "--screenshot", str(out)]) == 0
    assert out.stat().st_size > 10_000
    assert main(["demo", "--model", str(tmp_path / "none"), "--no-show"]) == 2
    assert "no such model bundle folder" in capsys.readouterr().err


def test_demo_process_describes_and_exits_cleanly(tiny_bundle, tmp_path):
    """The main job's code path as its own process: describe, screenshot, exit 0 with no
    traceback (the demo waits for the background pixel size check too) and no deprecation
    warning raised from cytowords' own code."""
    import os
    import re
    import subprocess
    import sys

    out = tmp_path / "shot.png"
    args = ["demo", "--size-mm", "8", "6", "--model", str(tiny_bundle), "--rois", "1"]
    cmd = [sys.executable, "-m", "cytowords", *args, "--describe", "--no-show"]
    env = {
        **os.environ,
        "CYTOWORDS_AUTOSAVE_DIR": str(tmp_path / "autosave"),
        "PYTHONWARNINGS": "default",
    }
    proc = subprocess.run(
        [*cmd, "--screenshot", str(out)], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.stat().st_size > 10_000 and "Traceback" not in proc.stderr
    own = re.compile(r"cytowords[/\\][^:]*\.py:\d+: \w*(Deprecation|Future)\w*Warning")
    assert not own.findall(proc.stderr), proc.stderr[-2000:]


def test_widgets_registered_in_plugin_menu(make_napari_viewer):
    viewer = make_napari_viewer()
    _, w1 = viewer.window.add_plugin_dock_widget("napari-cytowords", "Describe regions")
    _, w2 = viewer.window.add_plugin_dock_widget("napari-cytowords", "Area map")
    assert type(w1).__name__ == "DescribeWidget" and type(w2).__name__ == "AreaMapWidget"
    assert w1.roi_layer() is None, "no image yet: no ROI layer is created"
    viewer.add_image(np.zeros((20, 30), np.uint8), scale=(4.0, 4.0))
    assert w1.roi_layer() is not None and w1.roi_layer().name == "ROIs"
    assert tuple(w1.roi_layer().scale) == (4.0, 4.0)


@pytest.mark.skipif(not default_model_path().is_dir(), reason="the default model is missing")
def test_demo_with_bundled_model_describes_the_example_rois(make_napari_viewer, qtbot):
    """The real bundled model on the real sample section: every example ROI gets its
    features, its canvas label and a caption naming the reported area (or the rejection)."""
    from cytowords.atlas import NONE_ID, load_atlas
    from cytowords.training.mining import parse_area

    viewer = make_napari_viewer()
    describe, _ = open_demo(viewer, size_mm=(12.0, 9.0), model="default")
    rois = viewer.layers["ROIs"]
    describe.describe_all()
    wait_idle(qtbot, describe, timeout=120_000)
    feats = rois.features
    assert list(feats["status"]) == ["done"] * len(rois.data)
    atlas = load_atlas()
    for _, row in feats.iterrows():
        assert 0.0 <= row["probability"] <= 1.0 and row["caption"]
        expected = NONE_ID if row["rejected"] else row["area"]
        assert parse_area(row["caption"], atlas) == expected, row["caption"]
    text = list(rois.text.values)
    for t, (_, row) in zip(text, feats.iterrows()):
        assert t.startswith("✕") if row["rejected"] else t.startswith(row["area"]), t


def test_demo_rois_run_across_the_ribbon_as_a_region_should_be_drawn():
    """The example ROIs hold the pia and the white matter (the readout measures a thickness
    only between them); one area covers most of their cortex, a different one per ROI."""
    from cytowords.synth import truth_at, truth_in_roi, virtual_section

    section = virtual_section(1, size_mm=(80.0, 60.0), pixel_size_um=2.0)
    rois = example_rois_um(section, n=3)
    assert len(rois) == 3
    areas = set()
    for v in rois:
        assert np.allclose(v.max(axis=0) - v.min(axis=0), 4200.0)
        yy, xx = np.meshgrid(np.linspace(v[0, 0], v[2, 0], 31), np.linspace(v[0, 1], v[2, 1], 31))
        depth = truth_at(section, np.stack([yy.ravel(), xx.ravel()], 1))["rel_depth"]
        assert depth.min() < 0 and depth.max() > 1, "pia and white matter in the ROI"
        truth = truth_in_roi(section, v, step_um=100.0, trace=False)
        assert truth["area_share"] >= 0.8
        areas.add(truth["area"])
    assert len(areas) == 3
