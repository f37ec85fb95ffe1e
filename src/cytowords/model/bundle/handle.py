"""The one model handle: a model reference -> its bundle folder -> the loaded bundle.

A reference is ``"default"`` (the bundle shipped in the package) or the folder of a bundle
(trained, or taught from the user's annotations). :func:`get_bundle` loads a bundle once per
process for each (folder, device, language-model folder, file stamps) and keeps the
:data:`CACHE_SIZE` most recently used; a bundle rewritten in place (its files changed) is
loaded anew. Every process (each dask.distributed worker too) has its own cache, filled on
first use. Thread-safe: two threads asking for the same bundle load it once.

Cached bundles are shared by everyone in the process: never change one (``set_views``...);
pass per-call choices (``views=``) to its methods instead.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from ... import default_model_path
from .device import resolve_device
from .folder import load_bundle
from .inference import ModelBundle
from .lm import LM_PATH_ENV

#: the reference of the bundle shipped in the package
DEFAULT_MODEL = "default"
#: loaded bundles kept per process (least recently used dropped first)
CACHE_SIZE = 4
#: files whose size and modification time stamp a bundle folder's content
_STAMP_FILES = ("config.json", "weights.safetensors", "hashes.json")

# key: (folder, device, language-model folder, stamp, with captioner)
_CACHE: OrderedDict[tuple, ModelBundle] = OrderedDict()
_REGISTERED: dict[tuple[str, str], ModelBundle] = {}
_LOCK = threading.Lock()  # guards the dicts above and _KEY_LOCKS
_KEY_LOCKS: dict[tuple, threading.Lock] = {}
_LOADS = [0]


def resolve_model_path(model: str | Path) -> Path:
    """``"default"`` or a bundle folder -> the existing folder; ``FileNotFoundError`` (one
    line) when none is chosen, the folder does not exist or holds no ``config.json``, or the
    default is not installed. The files are checked when it is loaded (:func:`load_bundle`)."""
    if not str(model).strip():
        raise FileNotFoundError("no model bundle folder chosen; pick the folder of a bundle")
    path = default_model_path() if str(model) == DEFAULT_MODEL else Path(model)
    if not path.is_dir():
        if str(model) == DEFAULT_MODEL:
            raise FileNotFoundError(
                f"the default model is not installed at {path}; rebuild it with "
                "`cytowords train --preset default --out DIR` and pass --model DIR/bundle"
            )
        if path.is_file():
            raise FileNotFoundError(
                f"model bundle folder {path} is a file; choose the folder that holds the "
                "bundle (its config.json)"
            )
        raise FileNotFoundError(f"model bundle folder {path} does not exist")
    if not (path / "config.json").is_file():
        if (path / "run.json").is_file():  # a run folder of ``cytowords train``
            inner = path / "bundle"
            where = (
                f"its bundle is {inner}"
                if (inner / "config.json").is_file()
                else f"the run has not finished; its bundle will be {inner}"
            )
            raise FileNotFoundError(
                f"{path} is the run folder of cytowords train, not a model bundle: {where}"
            )
        raise FileNotFoundError(
            f"{path} is not a model bundle (no config.json); choose the bundle's folder"
        )
    return path


def _stamp(folder: Path) -> tuple:
    out = []
    for name in _STAMP_FILES:
        try:
            st = (folder / name).stat()
        except OSError:
            out.append((name, None))
        else:
            out.append((name, st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(out)


def get_bundle(
    model: str | Path,
    device: str = "auto",
    *,
    captioner: bool = True,
    lm_path: str | Path | None = None,
) -> ModelBundle:
    """The loaded bundle of ``model`` (``"default"`` or a bundle folder) on ``device``
    (``"auto"``, ``"cpu"``, ``"cuda[:N]"``), from this process's cache or loaded now.

    captioner: False needs the vision parts only (a cached bundle with its language model
    serves as well; none is read otherwise). lm_path: where the bundle's language model
    lives when it is outside the bundle and has moved (None: as recorded, or
    ``CYTOWORDS_LM_PATH``). A bundle put here with :func:`register_bundle` is returned as
    is. Raises ``FileNotFoundError`` / :class:`BundleError` (one line) for a bad reference.
    """
    dev = str(resolve_device(device))
    with _LOCK:
        registered = _REGISTERED.get((str(model), dev))
    if registered is not None:
        return registered
    folder = resolve_model_path(model).resolve()
    lm = str(lm_path or os.environ.get(LM_PATH_ENV, ""))
    key = (str(folder), dev, lm, _stamp(folder), captioner)
    with _LOCK:
        key_lock = _KEY_LOCKS.setdefault(key[:4], threading.Lock())
    with key_lock:  # one load per bundle; other bundles load meanwhile
        with _LOCK:
            hit = _lookup(key)
            if hit is not None:
                return hit
        bundle = load_bundle(folder, dev, lm_path=lm_path or None, captioner=captioner)
        bundle.channels_last()  # inference only: the faster layout on the CPU
        with _LOCK:
            for k in [k for k in _CACHE if k[:2] == key[:2] and k[3] != key[3]]:
                del _CACHE[k]  # the folder was rewritten: the old bundle is stale
            _CACHE[key] = bundle
            _LOADS[0] += 1
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
        return bundle


def _lookup(key: tuple) -> ModelBundle | None:
    """The cached bundle for ``key`` (a vision-only request is served by any bundle of the
    same folder, device and files), marked as the most recently used."""
    for k in reversed(_CACHE):
        if k == key or (not key[4] and k[:2] == key[:2] and k[3] == key[3]):
            _CACHE.move_to_end(k)
            return _CACHE[k]
    return None


def register_bundle(name: str, device: str, bundle: ModelBundle) -> None:
    """Make :func:`get_bundle` ``(name, device)`` return ``bundle`` in this process (a
    bundle that has no folder, or a variant of one that stands in for it), until
    :func:`forget_bundle`."""
    with _LOCK:
        _REGISTERED[(str(name), str(device))] = bundle


def forget_bundle(name: str, device: str) -> None:
    """Undo :func:`register_bundle`."""
    with _LOCK:
        _REGISTERED.pop((str(name), str(device)), None)


def clear_cache() -> None:
    """Drop every cached bundle of this process (registered ones stay)."""
    with _LOCK:
        _CACHE.clear()
        _KEY_LOCKS.clear()


def load_count() -> int:
    """Bundles loaded by :func:`get_bundle` in this process so far (one per worker, not one
    per task)."""
    return _LOADS[0]
