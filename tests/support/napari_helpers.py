"""Shared fixtures and helpers for the napari widget tests (tiny bundle, section image)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from napari.utils.notifications import notification_manager

from tests.support.tiny_bundle import PIXEL_UM

#: section pixel size (µm/px) of the test image; the tiny model reads 16 µm/px patches
SECTION_UM = 8.0


def section_array(h: int = 400, w: int = 500, seed: int = 0) -> np.ndarray:
    """A cortex-like uint8 image: bright background, dark laminar bands with noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(h)[:, None]
    bands = 190 + 40 * np.sin(y / 7.0) - 30 * (y > h // 2)
    img = bands + rng.normal(0, 12, (h, w))
    img[:, : w // 5] = 240 + rng.normal(0, 3, (h, w // 5))  # bright glass: no tissue
    return img.clip(0, 255).astype(np.uint8)


def add_section(viewer, name: str = "section"):
    """Add the test section as an image layer in µm (scale = SECTION_UM)."""
    return viewer.add_image(section_array(), scale=(SECTION_UM, SECTION_UM), name=name)


def area_map_widget(make_napari_viewer, model_path) -> tuple:
    """``(viewer, widget, image)``: a viewer with the test section and the Area map widget
    docked, its model set to ``model_path``."""
    from cytowords.napari.area_map.widget import AreaMapWidget

    viewer = make_napari_viewer()
    image = add_section(viewer)
    w = AreaMapWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.model.set_value(str(model_path))
    return viewer, w, image


def rect(y0: float, x0: float, y1: float, x1: float) -> np.ndarray:
    """Rectangle corners (data coordinates of an 8 µm/px layer)."""
    return np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]], dtype=float)


def wait_idle(qtbot, widget, timeout: int = 60000) -> None:
    """Wait until the widget's worker finished."""
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)


class Notes:
    """Collects napari notifications (messages) shown while it is active."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __call__(self, notification) -> None:
        self.messages.append(str(notification.message))

    def __enter__(self):
        notification_manager.notification_ready.connect(self)
        return self

    def __exit__(self, *exc):
        notification_manager.notification_ready.disconnect(self)

    def any(self, *words: str) -> bool:
        """True if one message contains all ``words`` (case-insensitive)."""
        return any(all(w.lower() in m.lower() for w in words) for m in self.messages)


__all__ = [
    "PIXEL_UM",
    "SECTION_UM",
    "Notes",
    "add_section",
    "area_map_widget",
    "held_describe",
    "rect",
]


@contextmanager
def held_describe() -> Iterator[tuple[threading.Event, threading.Event, list[str]]]:
    """``(entered, release, read)``: each ROI's description sets ``entered`` on starting, then
    waits for ``release`` before it is computed; ``read`` lists the ROIs read, by name."""
    from cytowords.describe import Describer

    entered, release, read = threading.Event(), threading.Event(), []
    real = Describer.describe_roi

    def held(self, section, roi, **kw):
        read.append(roi.name)
        entered.set()
        assert release.wait(60), "the test never released the description"
        return real(self, section, roi, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Describer, "describe_roi", held)
        try:
            yield entered, release, read
        finally:
            release.set()
