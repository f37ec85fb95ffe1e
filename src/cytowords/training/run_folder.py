"""The run folder of :func:`cytowords.training.pipeline.train`: which stages are done
(``run.json``) and cached tensors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .presets import Preset
from .stage_vision import save_tensors, write_json

STAGES = ("data", "encoder", "head", "scorer", "cortex", "captioner", "bundle")


class Run:
    """The run folder: ``run.json`` records finished stages and their wall times."""

    def __init__(self, out: Path, preset: Preset, resume: bool) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
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
