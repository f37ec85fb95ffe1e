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
        label_names: {1: hOc1, 2: hOc2}     # label value -> area, or `atlas` (atlas labels)
      - path: /data/brain03_s0300.ome.zarr
        brain: B03
        split: train
        rois: /data/brain03_s0300_rois.geojson        # polygons with area names
    new_areas: [myArea]       # optional: area names outside the atlas, declared
    label_names: atlas        # optional: default label_names of every section
    min_fields: 5             # optional: minimal training fields per area (default: 5, or
                              # what the preset samples per area and section if fewer)

Relative paths are relative to the YAML file. Brains never appear in two splits.
:func:`read_data_spec` refuses mistakes (unknown keys, unnamed label values, area names that
are neither atlas ids, aliases nor declared new areas) with one line per problem naming the
file and the entry; :mod:`cytowords.training.data.spec_check` adds the field counts.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from cytowords.atlas import NONE_ID, Atlas, load_atlas
from cytowords.regions.roi import Roi
from cytowords.sections import LabelImage, Section, open_section
from cytowords.sections.pyramid import extend_pyramid

SPLITS = ("train", "val", "test")
#: keys of a data spec and of its section entries
SPEC_KEYS = ("sections", "areas", "new_areas", "label_names", "min_fields")
SECTION_KEYS = (
    "path", "brain", "split", "labels", "label_store", "label_names", "rois", "pixel_size_um",
)  # fmt: skip
#: ``label_names: atlas``: the label values are the atlas's label numbers
ATLAS_LABELS = "atlas"
#: default minimal training fields per area (``min_fields`` in the spec)
MIN_FIELDS = 5
#: ROI names that mean "not a cortical area" (white matter, background, artefact)
NONE_NAMES = {NONE_ID, "none", "background", "white matter", "white_matter", "artefact", "artifact"}


@dataclass
class LabelledSection:
    """A section with area labels, its brain (subject) id and split.

    Exactly one of ``labels`` (a :class:`LabelImage` aligned with the section, value 0 =
    no area) and ``rois`` (list of ``(region, area name)``; a region is a polygon ``(N, 2)``
    ``(y, x)`` µm or a :class:`~cytowords.regions.roi.Roi` with holes and parts) is set.
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
        store = open_section(path, dark_field=False)  # labels, not a stain
    except ValueError as exc:
        if "pixel size" not in str(exc):
            raise
        probe = open_section(path, pixel_size_um=1.0, dark_field=False)
        store = open_section(
            path, pixel_size_um=section.shape_um[0] / probe.levels[0].shape[0], dark_field=False
        )
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
    from cytowords.regions.geojson import read_region_file

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"ROI file {p} does not exist")
    read = read_region_file(p, pixel_size_um=pixel_size_um)
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


class DataSpecError(ValueError):
    """A data spec with mistakes: ``problems`` holds one line per mistake, each naming the
    spec file and the entry."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass
class DataSpec:
    """A read and checked data spec.

    ``areas``: the spec's ``areas`` resolved to atlas ids (aliases replaced) or None;
    ``min_fields``: the spec's minimum of training fields per area, None for the default;
    ``entries``: per section, how messages name it (``sections[i] (path)``); ``notes``:
    what was resolved on the way (aliases), for the user."""

    path: Path
    sections: list[LabelledSection]
    areas: list[str] | None
    new_areas: list[str]
    min_fields: int | None
    entries: list[str]
    notes: list[str] = field(default_factory=list)


def _unknown_keys(d: dict, valid: tuple[str, ...]) -> list[str]:
    """One phrase per key of ``d`` not in ``valid``, with the closest valid key if any."""
    out = []
    for k in d:
        if str(k) in valid:
            continue
        close = difflib.get_close_matches(str(k), valid, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(valid)}"
        out.append(f"unknown key {str(k)!r} ({hint})")
    return out


def _suggest(name: str, atlas: Atlas, new_areas: list[str]) -> list[str]:
    """Atlas ids (and declared new areas) whose id or alias is close to ``name``."""
    from cytowords.atlas.catalogue import normalise_name

    names: dict[str, set[str]] = {}
    for a in atlas.areas.values():
        for n in (a.id, *a.aliases):
            names.setdefault(normalise_name(n), set()).add(a.id)
    for n in new_areas:
        names.setdefault(normalise_name(n), set()).add(n)
    close = difflib.get_close_matches(normalise_name(name), list(names), n=6, cutoff=0.6)
    out: list[str] = []
    for c in close:
        out += [i for i in sorted(names[c]) if i not in out]
    return out[:5]


def check_area_name(name: str, atlas: Atlas, new_areas: list[str]) -> tuple[str | None, str | None]:
    """``(area id, None)`` for an atlas id, a unique alias, a none-name (``__none__``) or a
    declared new area; ``(None, problem)`` otherwise (ambiguous alias; unknown name, with
    close matches)."""
    name = str(name)
    if name in new_areas:
        return name, None
    if name.strip().casefold() in NONE_NAMES:
        return NONE_ID, None
    ids = atlas.ids_for(name)
    if len(ids) == 1:
        return ids[0], None
    if ids:
        return None, f"area name {name!r} is ambiguous: it may mean {', '.join(ids)}; use one id"
    close = _suggest(name, atlas, new_areas)
    hint = f"did you mean {' / '.join(close)}? " if close else ""
    return None, (
        f"area {name!r} is not an atlas id or alias ({hint}areas outside the atlas must be "
        "listed under new_areas)"
    )


def _label_values(lab: LabelImage) -> list[int]:
    """The non-zero values of a label image (read at its coarsest level)."""
    return [int(v) for v in np.unique(lab.levels[-1].compute()) if int(v) != 0]


def read_data_spec(path: str | Path, atlas: Atlas | None = None) -> DataSpec:
    """Read and check a data spec YAML (see the module docstring).

    Every problem found is collected and raised together as :class:`DataSpecError`;
    FileNotFoundError when the spec itself is missing."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"data spec {p} does not exist")
    try:
        spec: Any = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"data spec {p}: not valid YAML ({exc})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("sections"), list):
        raise ValueError(f"data spec {p}: expected a mapping with a 'sections' list")
    atlas = atlas or load_atlas()
    problems: list[str] = []
    notes: list[str] = []

    def problem(where: str, msg: str) -> None:
        problems.append(f"data spec {p}: {where}: {msg}" if where else f"data spec {p}: {msg}")

    for msg in _unknown_keys(spec, SPEC_KEYS):
        problem("", msg)
    new_areas = _name_list(spec, "new_areas", problem)
    for i, n in enumerate(new_areas):
        if atlas.ids_for(n):
            problem(f"new_areas[{i}]", f"{n!r} is an atlas area ({', '.join(atlas.ids_for(n))}); "
                    "list only areas outside the atlas")  # fmt: skip
    min_fields = spec.get("min_fields")
    if min_fields is not None and (
        not isinstance(min_fields, int) or isinstance(min_fields, bool) or min_fields < 1
    ):
        problem("min_fields", f"{min_fields!r}; expected a positive whole number")
    areas = None
    if "areas" in spec:
        areas = []
        for i, a in enumerate(_name_list(spec, "areas", problem)):
            aid, msg = check_area_name(a, atlas, new_areas)
            if msg:
                problem(f"areas[{i}]", msg)
            elif aid == NONE_ID:
                problem(f"areas[{i}]", f"{a!r} means no area; list only areas to learn")
            else:
                if aid != a:
                    notes.append(
                        f"data spec {p}: areas[{i}]: {a!r} is an alias of {aid}; using {aid}"
                    )
                if aid not in areas:
                    areas.append(aid)
    default_names = spec.get("label_names")
    sections, entries = [], []
    for i, e in enumerate(spec["sections"]):
        where = f"sections[{i}]"
        if isinstance(e, dict) and "path" in e:
            where += f" ({e['path']})"
        if not isinstance(e, dict) or "path" not in e or "brain" not in e:
            problem(where, "needs at least 'path' and 'brain'")
            continue
        bad = _unknown_keys(e, SECTION_KEYS)
        for msg in bad:
            problem(where, msg)
        ls = _read_section(p, e, default_names, atlas, new_areas, lambda m, w=where: problem(w, m))
        if ls is not None and not bad:
            sections.append(ls)
            entries.append(where)
    try:
        check_brain_splits(sections)
    except ValueError as exc:
        problem("sections", str(exc))
    if problems:
        raise DataSpecError(problems)
    return DataSpec(p, sections, areas, new_areas, min_fields, entries, notes)


def _name_list(spec: dict, key: str, problem: Callable[[str, str], None]) -> list[str]:
    """``spec[key]`` as a list of names (YAML reads ids such as 44 as numbers)."""
    v = spec.get(key) or []
    if not isinstance(v, list) or not all(isinstance(a, (str, int, float)) for a in v):
        problem(key, "must be a list of area names")
        return []
    return [str(a) for a in v]


def _read_section(
    spec_path: Path,
    e: dict,
    default_names: Any,
    atlas: Atlas,
    new_areas: list[str],
    problem: Callable[[str], None],
) -> LabelledSection | None:
    """One section entry as a :class:`LabelledSection`, or None after reporting problems."""

    def rel(v: Any) -> Path:
        q = Path(str(v)).expanduser()
        return q if q.is_absolute() else spec_path.parent / q

    names_spec = e.get("label_names", default_names)
    atlas_labels = names_spec == ATLAS_LABELS
    names: dict[int, str] = {}
    if names_spec is not None and not atlas_labels:
        if not isinstance(names_spec, dict):
            problem(f"label_names {names_spec!r}: expected {{value: area}} or {ATLAS_LABELS!r}")
            return None
        try:
            names = {int(k): str(v) for k, v in names_spec.items()}
        except (TypeError, ValueError):
            problem("label_names: keys must be whole label values, e.g. {1: hOc1}")
            return None
    labels: Any = rel(e["label_store"]) if "label_store" in e else e.get("labels", "areas")
    try:
        ls = labelled_section(
            rel(e["path"]),
            brain=e["brain"],
            split=str(e.get("split", "train")),
            labels=labels,
            rois=rel(e["rois"]) if e.get("rois") else None,
            label_names=names,
            pixel_size_um=e.get("pixel_size_um"),
        )
    except (ValueError, FileNotFoundError, OSError) as exc:
        problem(str(exc))
        return None
    bad = []
    if ls.rois is not None:
        used = {n: "ROI" for _, n in ls.rois}
    else:
        present = _label_values(ls.labels)
        known = {**ls.labels.names, **ls.label_names}
        if atlas_labels:
            stray = [v for v in present if v not in atlas.label_names()]
            if stray:
                problem(f"label values {_values(stray)} are not atlas labels "
                        f"(1..{len(atlas)}; label_names: {ATLAS_LABELS})")  # fmt: skip
                return None
            ls.label_names = {v: atlas.area_of_label(v) for v in present}
            return ls
        unnamed = [v for v in present if v not in known]
        if unnamed:
            problem(
                f"label values {_values(unnamed)} have no area names (the label image has "
                "no NGFF label properties for them and the entry no label_names); give "
                f"label_names: {{{unnamed[0]}: <area>, ...}}, or label_names: {ATLAS_LABELS} "
                "if the values are the atlas's label numbers"
            )
            return None
        used = {known[v]: f"label value {v}" for v in present}
    for n, what in used.items():
        _, msg = check_area_name(n, atlas, new_areas)
        if msg:
            bad.append(f"{what}: {msg}")
    for msg in bad:
        problem(msg)
    return None if bad else ls


def _values(vals: list[int]) -> str:
    return ", ".join(map(str, vals[:8])) + (f" and {len(vals) - 8} more" if len(vals) > 8 else "")


def load_data_spec(path: str | Path) -> tuple[list[LabelledSection], list[str] | None]:
    """Read a data spec YAML (see the module docstring): ``(sections, areas or None)``.

    Raises :class:`DataSpecError` listing every mistake (:func:`read_data_spec`)."""
    spec = read_data_spec(path)
    return spec.sections, spec.areas


def resolve_name(name: str, atlas: Atlas) -> str:
    """Canonical area id of a label/ROI name (atlas id or unambiguous alias), NONE_ID for
    none-names, else the name itself (user areas outside the atlas are allowed)."""
    if name.strip().casefold() in NONE_NAMES:
        return NONE_ID
    ids = atlas.ids_for(name)
    return ids[0] if len(ids) == 1 else name
