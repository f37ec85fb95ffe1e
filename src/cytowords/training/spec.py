"""Labelled sections for training: what a section is labelled with, which brain, which split.

A :class:`LabelledSection` couples a :class:`~cytowords.sections.Section` with either an
area label image (``section.labels["areas"]``, another named label image, or a separate
label store) or labelled ROIs (polygons in µm with an area id each), plus the id of the
brain (subject) it comes from and its split (``train``, ``val`` or ``test``).

A data spec (YAML) lists the sections of a user::

    areas: [hOc1, hOc2, 4a, 4p, 44, 45]   # optional; default: every area found
    sections:
      - path: /data/brain01_s0100.ome.zarr  # OME-Zarr / zarr / TIFF
        brain: B01
        split: train                        # train | val | test
        labels: areas                       # label image name inside the store (default)
      - path: /data/brain02_s0200.tif
        pixel_size_um: 2.0                  # only if the file has no pixel size
        brain: B02
        split: val
        label_store: /data/brain02_s0200_areas.zarr   # separate integer label image
        label_names: {1: hOc1, 2: hOc2}     # label value -> area (default: the atlas labels)
      - path: /data/brain03_s0300.ome.zarr
        brain: B03
        split: train
        rois: /data/brain03_s0300_rois.geojson        # polygons with area names

Relative paths are relative to the YAML file. Brains never appear in two splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from cytowords.atlas import NONE_ID, Atlas
from cytowords.describe.roi import Roi
from cytowords.sections import LabelImage, Section, open_section
from cytowords.sections.pyramid import extend_pyramid

SPLITS = ("train", "val", "test")
#: ROI names that mean "not a cortical area" (white matter, background, artefact)
NONE_NAMES = {NONE_ID, "none", "background", "white matter", "white_matter", "artefact", "artifact"}


@dataclass
class LabelledSection:
    """A section with area labels, its brain (subject) id and split.

    Exactly one of ``labels`` (a :class:`LabelImage` aligned with the section, value 0 =
    no area) and ``rois`` (list of ``(region, area name)``; a region is a polygon ``(N, 2)``
    ``(y, x)`` µm or a :class:`~cytowords.describe.roi.Roi` with holes and parts) is set.
    ``label_names`` maps label values to area names when the label image carries none.
    """

    section: Section
    brain: str
    split: str = "train"
    labels: LabelImage | None = None
    rois: list[tuple[np.ndarray | Roi, str]] | None = None
    label_names: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(
                f"section {self.section.name!r}: split {self.split!r}; expected one of {SPLITS}"
            )
        if (self.labels is None) == (self.rois is None):
            raise ValueError(
                f"section {self.section.name!r}: give either an area label image or labelled "
                "ROIs (exactly one)"
            )
        self.brain = str(self.brain)

    @property
    def name(self) -> str:
        return self.section.name


def _label_store(path: Path, section: Section) -> LabelImage:
    """A separate integer label image (zarr/TIFF, or an OME-Zarr with ``labels/areas``).

    Without a stored pixel size the label image is assumed to span the whole section."""
    try:
        store = open_section(path)
    except ValueError as exc:
        if "pixel size" not in str(exc):
            raise
        probe = open_section(path, pixel_size_um=1.0)
        store = open_section(path, pixel_size_um=section.shape_um[0] / probe.levels[0].shape[0])
    if "areas" in store.labels:
        return store.labels["areas"]
    lev0 = store.levels[0]
    if not np.issubdtype(lev0.dtype, np.integer):
        raise ValueError(f"label store {path}: dtype {lev0.dtype}; expected integer labels")
    levels, sizes = extend_pyramid([lev0], [store.pixel_size_um[0]], labels=True)
    return LabelImage(levels, sizes)


def read_rois(path: str | Path, pixel_size_um: float) -> list[tuple[Roi, str]]:
    """Labelled regions from a GeoJSON file (ours or QuPath's, any form QuPath writes):
    ``(Roi in µm with its holes and parts, area name)``.

    QuPath coordinates are level-0 pixels: ``pixel_size_um`` is that of the section's level
    0 unless the file records its own. The area name is the annotation's classification
    (QuPath), else the described area (the plugin's files); features without one are
    skipped, as are points and lines."""
    from cytowords.describe.geojson import read_geojson_rois

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"ROI file {p} does not exist")
    read = read_geojson_rois(p, pixel_size_um=pixel_size_um)
    out = []
    for f in read.rois:
        area = f.classification or f.results.get("area")
        if area:
            out.append((f.roi, str(area)))
    if not out:
        raise ValueError(f"ROI file {p}: no polygon with an area name (classification) found")
    return out


def labelled_section(
    source: Section | str | Path,
    *,
    brain: str | int,
    split: str = "train",
    labels: str | Path | LabelImage | None = "areas",
    rois: str | Path | list[tuple[np.ndarray | Roi, str]] | None = None,
    label_names: dict[int, str] | None = None,
    pixel_size_um: float | None = None,
) -> LabelledSection:
    """Build a :class:`LabelledSection` from a Section or a path (``open_section``).

    labels: the name of a label image of the section (default ``"areas"``), a path to a
    separate label store, or a :class:`LabelImage`; ignored when ``rois`` (GeoJSON path or
    polygon list) is given."""
    section = (
        source if isinstance(source, Section) else open_section(source, pixel_size_um=pixel_size_um)
    )
    lab: LabelImage | None = None
    roi_list = None
    if rois is not None:
        roi_list = (
            read_rois(rois, section.pixel_size_um[0])
            if isinstance(rois, (str, Path))
            else list(rois)
        )
    elif isinstance(labels, LabelImage):
        lab = labels
    elif isinstance(labels, str) and labels in section.labels:
        lab = section.labels[labels]
    elif isinstance(labels, (str, Path)) and Path(labels).exists():
        lab = _label_store(Path(labels), section)
    else:
        have = ", ".join(section.labels) or "none"
        raise ValueError(
            f"section {section.name!r}: no label image {labels!r} (label images in the file: "
            f"{have}); give labels=<name or label store path> or rois=<GeoJSON>"
        )
    names = {int(k): str(v) for k, v in (label_names or {}).items()}
    return LabelledSection(section, str(brain), split, lab, roi_list, names)


def check_brain_splits(sections: list[LabelledSection]) -> dict[str, list[str]]:
    """Brains per split; ValueError if a brain appears in two splits."""
    seen: dict[str, str] = {}
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for ls in sections:
        prev = seen.setdefault(ls.brain, ls.split)
        if prev != ls.split:
            raise ValueError(
                f"brain {ls.brain!r} appears in splits {prev!r} and {ls.split!r} (section "
                f"{ls.name!r}); train, val and test must never share a brain"
            )
        if ls.brain not in out[ls.split]:
            out[ls.split].append(ls.brain)
    return out


def load_data_spec(path: str | Path) -> tuple[list[LabelledSection], list[str] | None]:
    """Read a data spec YAML (see the module docstring): ``(sections, areas or None)``."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"data spec {p} does not exist")
    try:
        spec: Any = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"data spec {p}: not valid YAML ({exc})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("sections"), list):
        raise ValueError(f"data spec {p}: expected a mapping with a 'sections' list")
    base = p.parent
    out = []
    for i, e in enumerate(spec["sections"]):
        if not isinstance(e, dict) or "path" not in e or "brain" not in e:
            raise ValueError(f"data spec {p}: sections[{i}] needs at least 'path' and 'brain'")

        def rel(v: Any) -> Path:
            q = Path(str(v)).expanduser()
            return q if q.is_absolute() else base / q

        labels: Any = e.get("labels", "areas")
        if "label_store" in e:
            labels = rel(e["label_store"])
        try:
            out.append(
                labelled_section(
                    rel(e["path"]),
                    brain=e["brain"],
                    split=str(e.get("split", "train")),
                    labels=labels,
                    rois=rel(e["rois"]) if e.get("rois") else None,
                    label_names=e.get("label_names"),
                    pixel_size_um=e.get("pixel_size_um"),
                )
            )
        except (ValueError, FileNotFoundError) as exc:
            raise type(exc)(f"data spec {p}: sections[{i}]: {exc}") from None
    check_brain_splits(out)
    areas = spec.get("areas")
    if areas is not None:
        if not isinstance(areas, list) or not all(isinstance(a, (str, int, float)) for a in areas):
            raise ValueError(f"data spec {p}: 'areas' must be a list of area ids")
        areas = [str(a) for a in areas]  # YAML reads ids such as 44 as numbers
    return out, areas


def resolve_name(name: str, atlas: Atlas) -> str:
    """Canonical area id of a label/ROI name (atlas id or unambiguous alias), NONE_ID for
    none-names, else the name itself (user areas outside the atlas are allowed)."""
    if name.strip().casefold() in NONE_NAMES:
        return NONE_ID
    ids = atlas.ids_for(name)
    return ids[0] if len(ids) == 1 else name
