"""What every long job shares: one cancellation exception, one way to read a cancel flag and
one progress callback type.

Jobs (describing ROIs, area maps, writing a section, measuring, training) take
``cancel`` (``None``, a ``threading.Event``-like object with ``is_set()``, or a callable
returning True to stop) and ``on_progress(done, total)``; a cancelled job raises
:class:`Cancelled`, so ``except Cancelled`` catches the cancellation of any job.
Nothing here imports Qt, torch or napari.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

#: ``on_progress(done, total)``: ``done`` of ``total`` units of work are finished.
Progress = Callable[[int, int], None]


#: What a job accepts as its cancel flag: a ``threading.Event`` (or any object with
#: ``is_set()``), a callable returning True to stop, or None.
CancelFlag = threading.Event | Callable[[], bool] | None


class Cancelled(RuntimeError):
    """A job stopped because its cancel flag was set; each job says what it left behind."""


def is_cancelled(cancel: CancelFlag) -> bool:
    """True if ``cancel`` (``None``, an object with ``is_set()``, or a callable) says stop."""
    if cancel is None:
        return False
    return bool(cancel.is_set()) if hasattr(cancel, "is_set") else bool(cancel())


__all__ = ["CancelFlag", "Cancelled", "Progress", "is_cancelled"]
