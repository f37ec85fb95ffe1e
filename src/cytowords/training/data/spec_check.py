"""Is a data spec fit to train on? Fields per area and split, counted as training samples them.

:func:`check_data_spec` reads a spec (:func:`cytowords.training.data.spec.read_data_spec`: keys,
names, label values), then chooses the training and validation fields exactly as the data
stage will (:func:`cytowords.training.data.patches.choose_centres` with the preset's patch
settings, nothing read at model resolution) and refuses areas with fewer than
``min_fields`` training fields (default :data:`~cytowords.training.data.spec.MIN_FIELDS`, or
the preset's fields per area and section if fewer) and splits with fewer than that in all. A pixel size stated
far too small shrinks a section and its areas, so such a mistake shows here as too few
fields (the message gives each section's size in mm to compare with the slide). With a
model, :func:`pixel_size_problems` also runs the model-based pixel size check
(:func:`cytowords.sections.scale_check.check_pixel_size`) on every section.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from cytowords.atlas import NONE_ID, load_atlas

from ..presets import Preset
from .grid import class_grid
from .patches import PatchConfig, areas_in, choose_centres
from .spec import MIN_FIELDS, DataSpec, DataSpecError, read_data_spec

#: the splits training reads (test sections are listed but never read by ``train``)
READ_SPLITS = ("train", "val")
#: an area labelled on less than this many field footprints (patch side squared) in all the
#: train sections is refused: however many fields are drawn, they are the same tissue and
#: mostly something else (a pixel size stated ×3 too small shrinks an area ×9)
MIN_FOOTPRINTS = 1.0


def patch_configs(p: Preset) -> dict[str, PatchConfig]:
    """How the data stage samples the train and val splits under preset ``p``."""
    cfg = PatchConfig(
        pixel_size_um=p.pixel_size_um,
        patch_px=p.patch_px,
        context_px=(p.read_px - p.patch_px) // 2,
        n_per_area=p.n_per_area,
        none_share=p.none_share,
        min_purity=p.min_purity,
    )
    # validation fields calibrate the open-set threshold: read at the true scale
    val = {**cfg.__dict__, "n_per_area": p.n_per_area_val, "seed": 1}
    return {"train": replace(cfg, scale_jitter=p.scale_jitter), "val": PatchConfig(**val)}


@dataclass
class CheckedSpec:
    """A data spec that passed :func:`check_data_spec`: the spec, the areas training will
    learn and the fields each split gives per area (``counts[split][area]``, ``__none__``
    included)."""

    spec: DataSpec
    areas: list[str]
    counts: dict[str, dict[str, int]]
    brains: dict[str, list[str]] = field(default_factory=dict)

    @property
    def notes(self) -> list[str]:
        return self.spec.notes

    def table(self) -> str:
        """Fields per area and split as a plain-text table (what training will sample)."""
        rows = [*self.areas, NONE_ID]
        w = max(len(r) for r in [*rows, "brains"])
        lines = [f"{'area':<{w}}" + "".join(f"{s:>8}" for s in READ_SPLITS)]
        for a in rows:
            lines.append(
                f"{a:<{w}}" + "".join(f"{self.counts[s].get(a, 0):>8}" for s in READ_SPLITS)
            )
        lines.append(
            f"{'total':<{w}}" + "".join(f"{sum(self.counts[s].values()):>8}" for s in READ_SPLITS)
        )
        lines.append(
            f"{'brains':<{w}}" + "".join(f"{len(self.brains.get(s, [])):>8}" for s in READ_SPLITS)
        )
        return "\n".join(lines)


def count_fields(spec: DataSpec, areas: list[str], cfg: PatchConfig, split: str) -> dict[str, int]:
    """Fields per area (and ``__none__``) that the data stage samples from ``split``."""
    atlas = load_atlas()
    out: dict[str, int] = {}
    for ls in spec.sections:
        if ls.split != split:
            continue
        names, _ = choose_centres(ls, areas, cfg, atlas)
        for n in names.tolist():
            out[n] = out.get(n, 0) + 1
    return out


def labelled_footprints(spec: DataSpec, areas: list[str], cfg: PatchConfig) -> dict[str, float]:
    """Per area, its labelled extent in the train split in field footprints (``patch_um²``):
    below :data:`MIN_FOOTPRINTS`, its fields overlap and are mostly something else."""
    atlas = load_atlas()
    out = dict.fromkeys(areas, 0.0)
    per_field = (cfg.patch_um / cfg.cell_um) ** 2
    for ls in spec.sections:
        if ls.split == "train":
            cls = class_grid(ls, areas, atlas, cfg.cell_um, none_margin_um=cfg.patch_um / 2)
            cells = np.bincount(cls[cls >= 0].ravel(), minlength=len(areas) + 1)
            for i, a in enumerate(areas):
                out[a] += float(cells[i]) / per_field
    return out


def check_data_spec(path: str | Path | DataSpec, preset: Preset) -> CheckedSpec:
    """Read ``path`` and count its fields under ``preset``; :class:`DataSpecError` with
    every problem (spec mistakes, then areas and splits with too few fields)."""
    spec = path if isinstance(path, DataSpec) else read_data_spec(path)
    cfgs = patch_configs(preset)
    train_secs = [s for s in spec.sections if s.split == "train"]
    areas = spec.areas if spec.areas is not None else areas_in(train_secs)
    counts = {s: count_fields(spec, areas, cfgs[s], s) for s in READ_SPLITS}
    brains = {s: sorted({ls.brain for ls in spec.sections if ls.split == s}) for s in READ_SPLITS}
    problems = []
    for s in READ_SPLITS:
        if not brains[s]:
            problems.append(
                f"data spec {spec.path}: sections: no {s} brain; training needs at least one "
                "train and one val brain (the validation brains calibrate the rejection threshold)"
            )
    lowest = spec.min_fields or min(MIN_FIELDS, cfgs["train"].n_per_area)
    for a in areas:
        n = counts["train"].get(a, 0)
        if n < lowest:
            problems.append(
                f"data spec {spec.path}: area {a!r}: {n} training fields, fewer than the minimum "
                f"of {lowest}{_where(spec, a, cfgs['train'])}"
            )
    for a, k in labelled_footprints(spec, areas, cfgs["train"]).items():
        if 0 < k < MIN_FOOTPRINTS and counts["train"].get(a, 0) >= lowest:
            problems.append(
                f"data spec {spec.path}: area {a!r}: labelled on {k:.2g} field footprints in "
                "all, so its training fields overlap almost entirely and reach outside it"
                f"{_where(spec, a, cfgs['train'])}"
            )
    for s in READ_SPLITS:
        n = sum(v for k, v in counts[s].items() if k != NONE_ID)
        least = spec.min_fields or min(MIN_FIELDS, cfgs[s].n_per_area)
        if brains[s] and n < least:
            problems.append(
                f"data spec {spec.path}: split {s!r}: {n} area fields in all, fewer than the "
                f"minimum of {least}{_sizes(spec, s, cfgs[s])}"
            )
    if problems:
        raise DataSpecError(problems)
    return CheckedSpec(spec, list(areas), counts, brains)


def _sizes(spec: DataSpec, split: str, cfg: PatchConfig) -> str:
    """Each section of ``split`` with its size in mm: a wrong pixel size shows there."""
    parts = []
    for ls, entry in zip(spec.sections, spec.entries):
        if ls.split == split:
            h, w = (v / 1000.0 for v in ls.section.shape_um)
            parts.append(
                f"{entry} is {h:.3g} × {w:.3g} mm at {ls.section.pixel_size_um[0]:g} µm/px"
            )
    return (
        f" (fields are {cfg.patch_um / 1000.0:.3g} mm wide; {'; '.join(parts)}: check the "
        "pixel sizes and the labels)"
        if parts
        else ""
    )


def _size(ls) -> str:
    """A section's size in mm and its level-0 pixel size."""
    h, w = (v / 1000.0 for v in ls.section.shape_um)
    return f"{h:.3g} × {w:.3g} mm at {ls.section.pixel_size_um[0]:g} µm/px"


def _where(spec: DataSpec, area: str, cfg: PatchConfig) -> str:
    """Why an area has few fields: the train sections that carry it, with their size."""
    from .spec import resolve_name

    atlas = load_atlas()
    parts = []
    for ls, entry in zip(spec.sections, spec.entries):
        if ls.split != "train":
            continue
        if ls.rois is not None:
            names = {resolve_name(n, atlas) for _, n in ls.rois}
        else:
            names = {resolve_name(n, atlas) for n in {**ls.labels.names, **ls.label_names}.values()}
        if area in names:
            parts.append(f"{entry}, {_size(ls)}")
    if not parts:
        return " (no train section is labelled with it: check the name, or drop it from areas)"
    return (
        f" (fields are {cfg.patch_um / 1000.0:.3g} mm wide and must lie in the area; labelled in "
        f"{'; '.join(parts)}: check the pixel size and the labels, or label more sections)"
    )


def pixel_size_problems(
    spec: DataSpec, model: Any, on_progress: Callable[[int, int], None] | None = None
) -> tuple[list[str], list[str]]:
    """The model-based pixel size check on every train/val section with ``model`` (a loaded
    bundle, or a describer): ``(problems, notes)`` (a suspect pixel size is a problem; an
    inconclusive check a note)."""
    from cytowords.sections.scale_check import check_pixel_size

    problems, notes = [], []
    todo = [(ls, e) for ls, e in zip(spec.sections, spec.entries) if ls.split in READ_SPLITS]
    for k, (ls, entry) in enumerate(todo):
        try:
            res = check_pixel_size(ls.section, model)
        except ValueError as exc:  # no tissue
            problems.append(f"data spec {spec.path}: {entry}: {exc}")
            continue
        line = f"data spec {spec.path}: {entry}: {res.message}"
        if res.verdict == "suspect":
            problems.append(line)
        elif res.verdict == "inconclusive":
            notes.append(line)
        if on_progress is not None:
            on_progress(k + 1, len(todo))
    return problems, notes


__all__ = [
    "CheckedSpec",
    "check_data_spec",
    "count_fields",
    "patch_configs",
    "pixel_size_problems",
]
