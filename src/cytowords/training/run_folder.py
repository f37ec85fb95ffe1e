"""The run folder of :func:`cytowords.training.pipeline.train`: which stages are done
(``run.json``), cached tensors, and the atomic JSON and tensor writes every stage uses."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch
from safetensors.torch import save_file

from .presets import Preset

#: the file a run holds locked while it trains (see _lock_run_folder)
LOCK_FILE = ".run.lock"
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
        self._lock = _lock_run_folder(out)
        self.path = out / "run.json"
        state: dict[str, Any] = {}
        if resume and self.path.is_file():
            try:
                state = json.loads(self.path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ValueError(
                    f"{self.path}: not readable JSON ({exc}); restore it, or start over "
                    "with --no-resume"
                ) from None
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


#: where the Windows lock sits in ``.run.lock``: one byte past the process id written at
#: its start, so that a second process can still read whose lock it is
_WINDOWS_LOCK_OFFSET = 64


def _flock(fh: IO[bytes]) -> None:
    """Lock the whole open file ``fh`` for this process (POSIX ``flock``, not waiting);
    OSError when another holds it."""
    import fcntl

    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _msvcrt_lock(fh: IO[bytes]) -> None:
    """Lock one byte of the open file ``fh`` past the process id (Windows
    ``msvcrt.locking``, not waiting); OSError when another handle holds it. Windows
    releases the lock when the handle is closed or the process ends."""
    import msvcrt

    fh.seek(_WINDOWS_LOCK_OFFSET)
    msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)


def pick_lock() -> Callable[[IO[bytes]], None] | None:
    """The run folder's lock for this platform: ``flock`` where ``fcntl`` exists,
    ``msvcrt.locking`` on Windows, None where neither does (nothing is locked)."""
    try:
        import fcntl  # noqa: F401
    except ImportError:
        pass
    else:
        return _flock
    try:
        import msvcrt  # noqa: F401
    except ImportError:
        return None
    return _msvcrt_lock


#: the lock :func:`_lock_run_folder` takes (chosen once; tests replace it)
_LOCK = pick_lock()


def _lock_run_folder(out: Path) -> IO[bytes] | None:
    """Hold an exclusive lock on ``out`` (``.run.lock``, with this process's id) while the
    run lives, so that a second ``cytowords train`` on the same folder is refused instead
    of writing the same files. The same process may open the folder again (a resumed run
    in a notebook). The lock is ``flock`` on POSIX and ``msvcrt.locking`` on Windows
    (:func:`pick_lock`); the system drops it when the process ends, so a killed run leaves
    no stale lock."""
    if _LOCK is None:
        return None
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    fh = open(fd, "r+b", buffering=0)  # held while the Run lives
    try:
        _LOCK(fh)
    except OSError:
        fh.seek(0)
        pid = fh.read(32).decode("ascii", "replace").strip()
        fh.close()
        if pid == str(os.getpid()):
            return None
        raise ValueError(
            f"run folder {out}: another cytowords train (process {pid or '?'}) is running "
            "in it; wait for it to end or stop it, then run again"
        ) from None
    fh.seek(0)
    fh.write(str(os.getpid()).ljust(32).encode("ascii"))  # the whole id field: no truncation
    return fh


def _check_run_folder(out: Path) -> None:
    """Make ``out`` the run folder, or refuse it in one line: a file, a folder that cannot
    be made, or a folder holding other files (a bundle, a section, your data) that the
    run's stage folders would mix with or overwrite."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"run folder {out}: this is a file; give --out a new or empty folder")
    others = out.is_dir() and any(f.name != LOCK_FILE for f in out.iterdir())
    if others and not (out / "run.json").is_file():
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
