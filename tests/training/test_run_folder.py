"""The run folder's lock (``.run.lock``): the platform's lock is chosen once, and the
Windows branch (``msvcrt.locking``) refuses a second process as ``flock`` does on POSIX."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import pytest

from cytowords.training import run_folder
from cytowords.training.presets import get_preset

fcntl = pytest.importorskip("fcntl")


def _fake_msvcrt(calls: list[tuple[int, int, int]]) -> types.ModuleType:
    """A stand-in for Windows' ``msvcrt``: ``locking(fd, mode, n)`` records where it locks
    and, like Windows, refuses a second handle on the same file (here via ``flock``)."""

    mod = types.ModuleType("msvcrt")
    mod.LK_NBLCK = 2
    mod.LK_UNLCK = 0

    def locking(fd: int, mode: int, nbytes: int) -> None:
        calls.append((os.lseek(fd, 0, os.SEEK_CUR), mode, nbytes))
        if mode == mod.LK_NBLCK:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    mod.locking = locking
    return mod


def test_windows_picks_msvcrt_and_posix_keeps_flock(monkeypatch):
    """Without ``fcntl`` (Windows) the lock is ``msvcrt.locking``; with it, ``flock``;
    with neither, none."""
    assert run_folder.pick_lock() is run_folder._flock
    monkeypatch.setitem(sys.modules, "fcntl", None)  # import fcntl -> ImportError
    monkeypatch.setitem(sys.modules, "msvcrt", _fake_msvcrt([]))
    assert run_folder.pick_lock() is run_folder._msvcrt_lock
    monkeypatch.setitem(sys.modules, "msvcrt", None)
    assert run_folder.pick_lock() is None


def test_windows_lock_refuses_a_second_process_and_lets_the_same_one_resume(tmp_path, monkeypatch):
    """On Windows (``msvcrt`` stood in for): a run folder another process holds is refused
    naming that process, whose id stays readable beside the locked byte; the holder's own
    process may open the folder again; once the holder ends, the folder is free."""
    calls: list[tuple[int, int, int]] = []
    monkeypatch.setitem(sys.modules, "msvcrt", _fake_msvcrt(calls))
    monkeypatch.setattr(run_folder, "_LOCK", run_folder._msvcrt_lock)
    preset = get_preset("smoke")
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys\n"
            f"f = open({str(out / run_folder.LOCK_FILE)!r}, 'a+')\n"
            "fcntl.flock(f.fileno(), fcntl.LOCK_EX)\n"
            "f.write(str(os.getpid()).ljust(32)); f.flush(); print('held', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ValueError, match=f"another cytowords train \\(process {holder.pid}\\)"):
            run_folder.Run(out, preset, resume=True)
        assert calls and calls[0][1:] == (2, 1)  # LK_NBLCK on one byte ...
        assert calls[0][0] >= 32  # ... past the id field, which stays readable
    finally:
        holder.communicate("")
    run = run_folder.Run(out, preset, resume=True)
    again = run_folder.Run(out, preset, resume=True)  # the same process: a resumed run
    assert run._lock is not None and again._lock is None
    pid = (out / run_folder.LOCK_FILE).read_bytes()[:32].decode().strip()
    assert pid == str(os.getpid())
