"""Atomic writes: nothing the user made is ever left half-written under its final name.

Files and folders are written beside the target under a temporary name, then moved into
place with one ``os.replace`` (atomic on POSIX for files; for folders the old folder, if any,
is first moved aside and removed only after the new one is in place).

Temporary files and folders are created private (``mkstemp`` 0600, ``mkdtemp`` 0700, and
safetensors writes 0600 files); at publish time :func:`umask_permissions` gives everything
the permissions an ordinary ``open`` / ``mkdir`` would have (0666 / 0777 minus the user's
umask), so colleagues can read what a user shares (a model bundle, an export) exactly as
the user's umask allows.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary file path beside ``path`` (the file exists, empty); on success
    it gets the umask's permissions and replaces ``path``; on any exception it is removed.
    ``suffix``: the temporary name's ending (``.npz`` for ``np.savez``, which appends it
    to names without it)."""
    path = Path(path)
    _check_parent(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask_permissions(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the final path."""
    path = Path(path)
    with atomic_file(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns the final path."""
    return atomic_write_bytes(path, text.encode(encoding))


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it becomes ``path``.

    On any exception (cancellation included) the temporary folder is removed and ``path`` is
    untouched. With ``overwrite=False`` an existing ``path`` is an error.
    """
    path = Path(path)
    _check_parent(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists (choose another name or allow overwrite)")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    umask_permissions(tmp)
    publish(tmp, path)


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Move the finished folder or file ``tmp`` to ``path``, replacing ``path`` if present
    (an existing folder is moved aside first and removed after the new one is in place)."""
    tmp, path = Path(tmp), Path(path)
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
    os.replace(tmp, path)
    if old is not None:
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    return path


def current_umask() -> int:
    """The process umask (read from /proc where possible, which changes nothing; else
    set and restored at once)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_permissions(path: str | os.PathLike) -> None:
    """Give a file, or a folder and everything in it, the permissions of an ordinary
    ``open``/``mkdir``: 0666 for files and 0777 for folders, minus the umask. ``mkstemp``,
    ``mkdtemp`` and some writers (safetensors) create private 0600/0700 entries instead."""
    mask = current_umask()
    path = Path(path)
    todo = [path, *path.rglob("*")] if path.is_dir() else [path]
    for p in todo:
        if not p.is_symlink():
            os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~mask)


def check_writable(path: str | os.PathLike[str]) -> None:
    """Fail fast, before long work, when ``path`` cannot be written (its folder is
    missing or not writable, or it is an existing read-only file): one line naming it."""
    path = Path(os.fspath(path)).expanduser()
    _check_parent(path)
    if path.is_file() and not os.access(path, os.W_OK):
        raise PermissionError(f"cannot write {path}: the file is read-only")


def _check_parent(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise NotADirectoryError(f"cannot write {path}: {parent} is not a folder")
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"cannot write {path}: folder {parent} is not writable")
