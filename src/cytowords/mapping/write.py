"""The final OME-Zarr of an area map, published atomically.

Layout of ``OUT``: the section at map resolution as the image, ``labels/areas`` (atlas label
values, area table as NGFF ``properties``/``colors``), ``labels/rejected`` (1 = not a known
area, 2 = no cortex), and the single-scale images ``probability`` and ``ood_score``.
``attrs["cytowords"]["area_map"]`` holds the area table (label -> [area id, name,
colour]), map pixel size, origin, the section's pixel size, how its slide was read
(``slide``, :mod:`cytowords.slide_reading`; when said) and stats. A store is written
complete under a temporary or partial folder, then renamed into place, so ``OUT`` never
exists half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr

from ..sections import Section, section_background

if TYPE_CHECKING:
    from .compute import AreaMap


def check_target(out: Path, overwrite: bool) -> None:
    """Refuse (one line) an output path that cannot be written, or exists without
    ``overwrite``."""
    parent = out.parent
    if not parent.exists():
        raise FileNotFoundError(f"{out}: the parent folder {parent} does not exist")
    if not parent.is_dir():
        raise ValueError(f"{out}: cannot write there, {parent} is not a folder")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"{out}: cannot write there, {parent} is not writable")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: already exists; choose another path or overwrite it")
    if out.exists() and not is_area_map_store(out):
        what = "a folder that is not an area map" if out.is_dir() else "a file"
        raise FileExistsError(
            f"{out}: exists and is {what}; writing the map would replace it, so it is left "
            "as it is: choose another path"
        )


def is_area_map_store(path: Path) -> bool:
    """Whether ``path`` is an area map written by :func:`write_area_map` (its root's
    ``cytowords`` attributes hold ``area_map``): the only existing output an overwrite
    replaces."""
    if not path.is_dir():
        return False
    try:
        attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    except Exception:  # not a zarr store at all
        return False
    return isinstance(attrs.get("cytowords"), dict) and "area_map" in attrs["cytowords"]


def section_image(section: Section | None, amap: AreaMap) -> tuple[np.ndarray, float]:
    """The section at map resolution (same grid as the map) and the section's µm/px."""
    if section is None:
        return (np.clip(amap.probability, 0, 1) * 255).astype(np.uint8), amap.pixel_size_um
    h, w = amap.labels.shape
    p = amap.pixel_size_um
    img = section.read_window(
        amap.origin_um[0], amap.origin_um[1], h * p, w * p, p, fill=section_background(section)
    )
    dt = np.dtype(section.dtype)
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        img = np.clip(np.round(img), info.min, info.max).astype(dt)
    return img, float(section.pixel_size_um[0])


def write_area_map(
    path: str | os.PathLike[str],
    area_map: AreaMap,
    *,
    section: Section | None = None,
    overwrite: bool = False,
    translation_um: tuple[float, float] | None = None,
    slide: str | None = None,
) -> Path:
    """Write ``area_map`` as OME-Zarr at ``path`` atomically (layout: module doc).

    With ``section`` the image is the section at map resolution and the map's NGFF
    translation aligns it with the section; without it the image is the probability
    (uint8) and the translation assumes a section pixel of the map's size, unless
    ``translation_um`` gives it (µm: where the centre of map pixel (0, 0) lies, e.g. a
    napari layer's ``translate``, so that the map opens again where it was). ``slide``: how
    the section's slide was read (default: as ``section`` records it,
    :func:`cytowords.slide_reading.section_slide`).
    """
    from ..slide_reading import section_slide

    slide = slide or section_slide(section)
    out = Path(os.fspath(path)).expanduser()
    check_target(out, overwrite)
    image, sec_px = section_image(section, area_map)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        write_final(tmp, area_map, image, sec_px, translation_um, slide)
        publish(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _shift_translations(group: zarr.Group, offset: tuple[float, float]) -> None:
    """Add ``offset`` (µm, y/x) to every dataset translation of a group's multiscales."""
    attrs = dict(group.attrs)
    ome = attrs.get("ome", attrs)
    for ms in ome.get("multiscales", []):
        for ds in ms.get("datasets", []):
            for t in ds.get("coordinateTransformations", []):
                if t.get("type") == "translation":
                    t["translation"] = [float(a + b) for a, b in zip(t["translation"], offset)]
    if "ome" in attrs:
        group.attrs["ome"] = ome
    else:
        group.attrs["multiscales"] = ome["multiscales"]


def write_final(
    path: Path,
    area_map: AreaMap,
    image: np.ndarray,
    section_px_um: float,
    translation_um: tuple[float, float] | None = None,
    slide: str | None = None,
) -> None:
    """Write the final OME-Zarr of ``area_map`` at ``path`` (not atomic by itself).
    ``translation_um``: NGFF translation of map pixel (0, 0) (default: its centre in the
    section's NGFF space, from ``origin_um`` and ``section_px_um``); ``slide``: how the
    section's slide was read (None: not said)."""
    import dask.array as da

    from ..sections import LabelImage, write_section
    from ..sections.ngff import multiscale_metadata

    am = area_map
    px = float(am.pixel_size_um)
    names = {lab: aid for lab, (aid, _n, _c) in am.area_table.items()}
    colors = {lab: col for lab, (_a, _n, col) in am.area_table.items()}
    labels = {
        "areas": LabelImage([da.from_array(am.labels)], [px], names, colors),
        "rejected": LabelImage(
            [da.from_array(am.rejection_codes())],
            [px],
            {1: "not a known area", 2: "no cortex"},
            {1: "#ff00ff", 2: "#808080"},
        ),
    }
    write_section(path, da.from_array(image), pixel_size_um=px, labels=labels, name="area map")
    root = zarr.open_group(str(path), mode="r+")
    version = "0.5" if "ome" in dict(root.attrs) else "0.4"
    for key, arr in (("probability", am.probability), ("ood_score", am.ood_score)):
        g = root.create_group(key)
        kw: dict[str, Any] = {"dimension_names": ["y", "x"]} if version == "0.5" else {}
        g.create_array("0", data=arr.astype(np.float32), chunks=(512, 512), **kw)
        ms = {"multiscales": [multiscale_metadata([px], key, version)]}
        if version == "0.5":
            g.attrs["ome"] = {"version": "0.5", **ms}
        else:
            g.attrs.update(ms)
    # map pixel (0, 0) covers [origin, origin + px); in the section's NGFF space (level-0
    # pixel centres at 0) its centre lies at origin + px/2 - section_px/2
    off = tuple(o + px / 2 - section_px_um / 2 for o in am.origin_um)
    if translation_um is not None:
        off = tuple(float(v) for v in translation_um)
    groups = [root, root["probability"], root["ood_score"], root["labels/areas"]]
    for g in [*groups, root["labels/rejected"]]:
        _shift_translations(g, off)
    meta = dict(root.attrs.get("cytowords", {}))
    meta["area_map"] = {
        "area_table": {str(k): list(v) for k, v in am.area_table.items()},
        "pixel_size_um": px,
        "origin_um": [float(v) for v in am.origin_um],
        "section_pixel_size_um": float(section_px_um),
        **({"slide": slide} if slide else {}),
        "stats": json.loads(json.dumps(am.stats, default=str)),
        "arrays": {
            "labels": "labels/areas/0",
            "rejected": "labels/rejected/0",
            "probability": "probability/0",
            "ood_score": "ood_score/0",
        },
    }
    root.attrs["cytowords"] = meta


def publish(src: Path, target: Path, overwrite: bool) -> None:
    """Move the finished store ``src`` onto ``target`` (an old one is moved aside first)."""
    old = None
    if target.exists():
        if not overwrite:
            raise FileExistsError(f"{target}: already exists; use another path or overwrite")
        old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
    os.replace(src, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
