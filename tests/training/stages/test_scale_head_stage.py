"""The ``scale_head`` stage on your data: which label values count as cortex, and a run
on sections labelled by ROIs only (no scale head, recorded, not redone)."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np

from cytowords.sections import LabelImage, Section
from cytowords.training.data.spec import LabelledSection
from cytowords.training.presets import PRESETS
from cytowords.training.stages.scale_head import _cortex, run_scale_head, stage_sections


def _section() -> Section:
    return Section([da.from_array(np.zeros((2, 3), np.uint8))], [64.0], "s", {}, {})


def test_values_named_as_no_area_are_not_cortex():
    lab = np.array([[0, 1, 2], [3, 1, 0]], np.int32)
    li = LabelImage([da.from_array(lab)], [64.0], {1: "hOc1", 2: "white matter"})
    ls = LabelledSection(_section(), "B0", "train", li, label_names={3: "__none__"})
    np.testing.assert_array_equal(_cortex(ls).levels[0].compute(), [[0, 1, 0], [0, 1, 0]])
    plain = LabelledSection(_section(), "B0", "train", LabelImage([da.from_array(lab)], [64.0]))
    assert _cortex(plain) is plain.labels


class _Run:
    def __init__(self) -> None:
        self.finished: list[str] = []

    def done(self, stage: str) -> bool:
        return stage in self.finished

    def finish(self, stage: str, seconds: float) -> None:
        self.finished.append(stage)


def test_sections_labelled_by_rois_only_give_no_scale_head(tmp_path):
    square = np.array([[0.0, 0.0], [0.0, 100.0], [100.0, 100.0], [100.0, 0.0]])
    data = [
        LabelledSection(_section(), f"B{i}", split, rois=[(square, "hOc1")])
        for i, split in enumerate(("train", "val"))
    ]
    sections, train, val, _ = stage_sections(PRESETS["smoke"], data)
    assert sections == {} and train == [] and val == []
    run = _Run()

    def no_bundle(folder):
        raise AssertionError("nothing to fit: the vision bundle is not saved")

    assert run_scale_head(PRESETS["smoke"], run, tmp_path, no_bundle, data) is None
    note = json.loads((tmp_path / "scale_head" / "scale_head.json").read_text())
    assert note["fitted"] is False and "label image" in note["reason"]
    assert run.finished == ["scale_head"]
    assert run_scale_head(PRESETS["smoke"], run, tmp_path, no_bundle, data) is None
    assert run.finished == ["scale_head"]  # finished: not redone
