"""The run folder of :func:`cytowords.training.pipeline.train`: which stages are done
(``run.json``), cached tensors, and the atomic JSON and tensor writes every stage uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from .presets import Preset

STAGES = (
    "data",
    "encoder",
    "head",
    "scorer",
    "cortex",
    "domain",
    "scale_head",
    "captioner",
    "bundle",
)


def write_json(path: Path, obj: object) -> None:
    """Write JSON atomically."""
    from cytowords.atomic import atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=1))


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Write ``tensors`` to ``path`` (safetensors) atomically, via a ``.tmp`` sibling."""
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    tmp.replace(path)


class Run:
    """The run folder: ``run.json`` records finished stages and their wall times."""

    def __init__(self, out: Path, preset: Preset, resume: bool) -> None:
        self.out = out
        _check_run_folder(out)
        self.path = out / "run.json"
        state: dict[str, Any] = {}
        if resume and self.path.is_file():
            state = json.loads(self.path.read_text(encoding="utf-8"))
            if state.get("preset") != json.loads(json.dumps(preset.to_dict())):
                raise ValueError(
                    f"{out}: the run folder was started with different settings (preset "
                    f"{state.get('preset', {}).get('name')!r}); use a new --out or --no-resume"
                )
        elif not resume and self.path.is_file():
            import shutil

            for s in STAGES:
                shutil.rmtree(out / s, ignore_errors=True)
        self.state = state or {"preset": preset.to_dict(), "done": {}, "seconds": {}}
        self.save()

    def done(self, stage: str) -> bool:
        return bool(self.state["done"].get(stage))

    def finished_bundle(self) -> Path | None:
        """``out/bundle`` when a previous run of this folder wrote it, else None."""
        done = self.done("bundle") and (self.out / "bundle" / "config.json").is_file()
        return self.out / "bundle" if done else None

    def finish(self, stage: str, seconds: float) -> None:
        self.state["done"][stage] = True
        self.state["seconds"][stage] = round(self.state["seconds"].get(stage, 0) + seconds, 2)
        self.save()

    def save(self) -> None:
        write_json(self.path, self.state)


def _check_run_folder(out: Path) -> None:
    """Make ``out`` the run folder, or refuse it in one line: a file, a folder that cannot
    be made, or a folder holding other files (a bundle, a section, your data) that the
    run's stage folders would mix with or overwrite."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"run folder {out}: this is a file; give --out a new or empty folder")
    if out.is_dir() and not (out / "run.json").is_file() and any(out.iterdir()):
        raise ValueError(
            f"run folder {out}: the folder holds other files and is not a run folder of "
            "cytowords train (no run.json); give a new or empty folder"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(
            f"run folder {out}: cannot be made ({exc.strerror or exc}); give a folder you "
            "can write to"
        ) from None


def cached_tensors(
    path: Path, compute: Callable[[], dict[str, torch.Tensor]]
) -> dict[str, torch.Tensor]:
    """The tensors saved at ``path`` (safetensors), or ``compute()`` saved there first."""
    if path.is_file():
        from safetensors.torch import load_file

        return load_file(str(path))
    tensors = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_tensors(path, tensors)
    return tensors
