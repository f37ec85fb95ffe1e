"""The resumable working store of a map written to disk (``compute_area_map(out=...)``).

Partial store ``OUT.partial/`` (beside the target ``OUT``)::

    run.json      what is being mapped (section, grid, model); a resume must match it
    map.zarr/     zarr v3 arrays on the tile grid, one chunk per block: area (int16 model
                  area index, -1 = not computed), probability, ood_score (float32),
                  rejected (uint8)
    blocks.done   journal: one line "ROW COL" per finished block, appended (and fsync'd)
                  only after the block's chunks are written

The final OME-Zarr is written by :mod:`.write` when every block is done.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from ..atomic import atomic_write_text
from .infer import BlockResult

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
