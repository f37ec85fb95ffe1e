"""A progress row (bar, status text, cancel button) fed from worker threads.

Core functions report progress through plain callbacks ``on_progress(done, total)`` called in
the worker thread; :class:`ProgressRelay` turns them into a Qt signal delivered on the main
thread, so the bar updates without touching widgets from another thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget


class ProgressRelay(QObject):
    """Callable ``(done, total)`` usable from any thread; emits :attr:`progressed`."""

    progressed = Signal(int, int)

    def __call__(self, done: int, total: int) -> None:
        self.progressed.emit(int(done), int(total))


class ProgressRow(QWidget):
    """Progress bar + status label + Cancel; holds the cancel event of the running job."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cancel_event = threading.Event()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setTextVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.status)
        self.relay = ProgressRelay()
        self.relay.progressed.connect(self.set_fraction_counts)

    def start(self, text: str) -> threading.Event:
        """Begin a job: fresh cancel event, bar at zero, Cancel enabled."""
        self.cancel_event = threading.Event()
        self.bar.setValue(0)
        self.status.setText(text)
        self.cancel_btn.setEnabled(True)
        return self.cancel_event

    def set_fraction(self, fraction: float, text: str | None = None) -> None:
        """Bar at ``fraction`` (0–1); optional status text."""
        self.bar.setValue(int(1000 * max(0.0, min(1.0, fraction))))
        if text is not None:
            self.status.setText(text)

    def set_fraction_counts(self, done: int, total: int) -> None:
        """Bar at ``done / total``."""
        self.set_fraction(done / total if total else 0.0)

    def finish(self, text: str) -> None:
        """End a job (done, cancelled or failed)."""
        self.cancel_btn.setEnabled(False)
        self.status.setText(text)

    def cancel(self) -> None:
        """Ask the running job to stop at its next check."""
        self.cancel_event.set()
        self.status.setText("cancelling…")
        self.cancel_btn.setEnabled(False)

    @property
    def busy(self) -> bool:
        """True while a job runs (Cancel enabled)."""
        return self.cancel_btn.isEnabled()


def deleted(obj: object) -> bool:
    """True once the C++ object of the Qt ``obj`` was deleted (its viewer was closed)."""
    try:
        from qtpy import sip

        return bool(sip.isdeleted(obj))
    except Exception:  # noqa: BLE001 - PySide has no sip
        try:
            import shiboken6

            return not shiboken6.isValid(obj)
        except ImportError:
            return False


def while_alive(owner: QWidget, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, doing nothing once ``owner`` was deleted: for a job's signal connected to a
    closure (Qt breaks the connections of a deleted widget's own methods, not of closures),
    so a job ending after its viewer closed touches no deleted widget."""

    def call(*args: Any) -> Any:
        return None if deleted(owner) else fn(*args)

    return call


def run_job(
    widget,
    worker,
    button,
    on_event,
    what: str,
    on_finished: Callable[[], Any] | None = None,
) -> None:
    """Start ``worker`` (a napari thread worker) as ``widget``'s job: its yielded events
    (:mod:`._events`) go to ``on_event``, a failure becomes one notification naming
    ``what``, ``button`` is disabled until it finishes; ``widget._worker`` holds it meanwhile and
    ``widget.progress`` (:class:`ProgressRow`) says how it ended; then ``on_finished`` runs
    (connected here, before the worker starts: one that fails at once may end first)."""
    from napari.utils.notifications import show_error

    def finished() -> None:
        widget._worker = None
        button.setEnabled(True)
        if widget.progress.cancel_event.is_set():
            widget.progress.finish("cancelled: no layer added")
        elif widget.progress.busy:
            widget.progress.finish("stopped")
        if on_finished is not None:
            on_finished()

    worker.yielded.connect(while_alive(widget, on_event))
    worker.errored.connect(lambda exc: show_error(f"{what} failed: {exc}"))
    worker.finished.connect(while_alive(widget, finished))
    widget._worker = worker
    button.setEnabled(False)
    worker.start()
