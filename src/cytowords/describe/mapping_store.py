"""Where area maps go on disk: a resumable partial store and the final OME-Zarr.

Partial store ``OUT.partial/`` (beside the target ``OUT``)::

    run.json      what is being mapped (section, grid, model); a resume must match it
    map.zarr/     zarr v3 arrays on the tile grid, one chunk per block: area (int16 model
                  area index, -1 = not computed), probability, ood_score (float32),
                  rejected (uint8)
    blocks.done   journal: one line "ROW COL" per finished block, appended (and fsync'd)
                  only after the block's chunks are written

Final store ``OUT`` (OME-Zarr, written complete under the partial folder, then renamed into
place, so ``OUT`` never exists half-written): the section at map resolution as the image,
``labels/areas`` (atlas label values, area table as NGFF ``properties``/``colors``),
``labels/rejected`` (1 = rejected by the open-set scorer), and the single-scale images
``probability`` and ``ood_score``. ``attrs["cytowords"]["area_map"]`` holds the area table
(label -> [area id, name, colour]), map pixel size, origin and stats.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from ..atomic import atomic_write_text
from .mapping_tasks import BlockResult

JOURNAL = "blocks.done"
RUN_FILE = "run.json"
ARRAYS = {
    "area": (np.int16, -1),
    "probability": (np.float32, 0.0),
    "ood_score": (np.float32, 0.0),
    "rejected": (np.uint8, 0),
}


def partial_path(out: Path) -> Path:
    """``OUT.partial`` beside ``OUT``."""
    return out.parent / (out.name + ".partial")


class PartialStore:
    """A resumable, block-wise written area map under ``path`` (see module docstring)."""

    def __init__(self, path: Path, shape: tuple[int, int], block_tiles: int, run: dict) -> None:
        self.path = Path(path)
        self.shape, self.block = tuple(shape), int(block_tiles)
        self.run = json.loads(json.dumps(run))
        self._journal: Any = None
        self.n_written = 0

    def open(self, restart: bool = False) -> set[tuple[int, int]]:
        """Create or reopen the store; returns the finished blocks.

        A store started with other parameters raises ValueError (unless ``restart``,
        which discards it).
        """
        if self.path.exists() and restart:
            shutil.rmtree(self.path)
        run_file = self.path / RUN_FILE
        if self.path.exists() and run_file.is_file():
            old = json.loads(run_file.read_text(encoding="utf-8"))
            if old != self.run:
                diff = sorted(k for k in set(old) | set(self.run) if old.get(k) != self.run.get(k))
                raise ValueError(
                    f"{self.path}: an unfinished map with different parameters "
                    f"({', '.join(diff)}) is here; remove it or restart the map to discard it"
                )
            root = zarr.open_group(str(self.path / "map.zarr"), mode="r+")
            self.arrays = {k: root[k] for k in ARRAYS}
            done = self._read_journal()
        else:
            if self.path.exists():
                shutil.rmtree(self.path)  # started but never initialised
            self.path.mkdir(parents=True)
            root = zarr.open_group(str(self.path / "map.zarr"), mode="w", zarr_format=3)
            chunks = (min(self.block, self.shape[0]), min(self.block, self.shape[1]))
            self.arrays = {
                k: root.create_array(k, shape=self.shape, dtype=dt, chunks=chunks, fill_value=fv)
                for k, (dt, fv) in ARRAYS.items()
            }
            atomic_write_text(run_file, json.dumps(self.run, indent=1))
            done = set()
        self._journal = open(self.path / JOURNAL, "a", encoding="utf-8")  # noqa: SIM115
        return done

    def _read_journal(self) -> set[tuple[int, int]]:
        done = set()
        jp = self.path / JOURNAL
        if jp.is_file():
            text = jp.read_text(encoding="utf-8")
            if text and not text.endswith("\n"):  # killed mid-line: drop the partial line
                text = text[: text.rfind("\n") + 1]
                jp.write_text(text, encoding="utf-8")
            for line in text.splitlines():
                parts = line.split()
                if len(parts) == 2 and all(p.isdigit() for p in parts):
                    done.add((int(parts[0]), int(parts[1])))
        return done

    def write_block(self, res: BlockResult, rows: slice, cols: slice) -> None:
        """Write one block's chunks, then record it in the journal (fsync'd)."""
        self.arrays["area"][rows, cols] = res.area
        self.arrays["probability"][rows, cols] = res.probability
        self.arrays["ood_score"][rows, cols] = res.ood_score
        self.arrays["rejected"][rows, cols] = res.rejected.astype(np.uint8)
        self._journal.write(f"{res.index[0]} {res.index[1]}\n")
        self._journal.flush()
        os.fsync(self._journal.fileno())
        self.n_written += 1

    def read_all(self) -> dict[str, np.ndarray]:
        """All arrays in memory (the map is small: one value per tile)."""
        return {k: np.asarray(a[...]) for k, a in self.arrays.items()}

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None


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
    area_map: Any,
    image: np.ndarray,
    section_px_um: float,
    translation_um: tuple[float, float] | None = None,
) -> None:
    """Write the final OME-Zarr of ``area_map`` at ``path`` (not atomic by itself).
    ``translation_um``: NGFF translation of map pixel (0, 0) (default: its centre in the
    section's NGFF space, from ``origin_um`` and ``section_px_um``)."""
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
