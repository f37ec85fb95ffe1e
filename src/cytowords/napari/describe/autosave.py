"""Autosave of the drawn and described ROIs, and their restore in a later session.

napari keeps ROIs and their descriptions only in memory: a crash, or closing the window
without saving the layer, would lose hours of work. The "Describe regions" widget therefore
writes its ROI layer (shapes and results, as the plugin's GeoJSON) to an autosave file a
moment after every change, atomically. The file belongs to the image: its source path (or
its name) and level-0 shape. When that image is opened again, the widget offers to restore
the ROIs; if new ROIs are drawn instead, or another ROI layer of the image is saved to its
file, the ROIs the file holds are kept beside, renamed ``<name>-<hash>-<date>-<time>.geojson``
(the plugin's reader opens it): a file is only ever replaced by the layer it was written from.

Files live in ``$CYTOWORDS_AUTOSAVE_DIR`` if set, else ``$XDG_CACHE_HOME/cytowords/autosave``
(``~/.cache/cytowords/autosave``); they are small (a few kB per hundred ROIs).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import weakref
from pathlib import Path

from napari.layers import Image, Shapes
from napari.utils.notifications import show_warning
from qtpy.QtCore import QTimer, Signal
from qtpy.QtWidgets import QHBoxLayout, QPushButton, QWidget

from ..io.geojson_reader import read_region_layer
from ..io.writers import write_shapes_geojson

ENV = "CYTOWORDS_AUTOSAVE_DIR"
#: quiet time (ms) after the last change before the ROIs are written
DELAY_MS = 1000


def autosave_dir() -> Path:
    """The folder of the autosave files (see module docstring)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "cytowords" / "autosave"


def autosave_path(image: Image) -> Path:
    """The autosave file of ``image``'s ROIs (keyed by its source path or name and shape)."""
    source = getattr(getattr(image, "source", None), "path", None)
    shape = tuple(int(v) for v in image.level_shapes[0][-2:])
    key = f"{source or image.name}|{shape}"
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", image.name)[:40] or "image"
    return autosave_dir() / f"{name}-{digest}.geojson"


def saved_rois(path: Path) -> tuple[int, float] | None:
    """``(number of ROIs, modification time)`` of an autosave file, None if there is none."""
    try:
        n = len(json.loads(path.read_text(encoding="utf-8")).get("features") or [])
        return n, path.stat().st_mtime
    except (OSError, ValueError, AttributeError):
        return None


def keep_beside(path: Path) -> Path:
    """Rename the autosave file ``path`` to ``<name>-<date>-<time>.geojson`` (its
    modification time; ``-2``, ``-3``... when that name is taken); the new name."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(path.stat().st_mtime))
    new, k = path.with_name(f"{path.stem}-{stamp}.geojson"), 1
    while new.exists():
        k += 1
        new = path.with_name(f"{path.stem}-{stamp}-{k}.geojson")
    path.replace(new)
    return new


class AutosaveRow(QWidget):
    """The *Restore* button (shown when the chosen image has autosaved ROIs and the ROI
    layer is empty) and the debounced saver of the bound ROI layer.

    ``restored`` is emitted with the new Shapes layer after a restore."""

    restored = Signal(object)

    def __init__(self, viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.button = QPushButton()
        self.button.setToolTip("Add the ROIs and descriptions autosaved for this image")
        self.button.clicked.connect(self.restore)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.button)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DELAY_MS)
        self._timer.timeout.connect(self.save_now)
        self.image: Image | None = None
        self.layer: Shapes | None = None
        #: where the bound layer is saved: its image's autosave file, kept when the image
        #: is closed (the ROIs and results that come later still belong to it)
        self.path: Path | None = None
        #: the image whose pixels the file counts (kept, like the path, when it is closed)
        self._over: Image | None = None
        self._unrestored = False  # the file at self.path holds ROIs not restored here
        #: ``(layer, path)``: the file this row last wrote, and the layer it holds
        self._wrote: tuple[weakref.ref, Path] | None = None
        self._warned = False
        self._changed = False  # the bound layer changed since it was last written
        self.setVisible(False)

    def bind(self, image: Image | None, layer: Shapes | None) -> None:
        """Save ``layer`` (the ROI layer over ``image``) from now on; offer a restore.

        With no image (it was closed), the same layer goes on being saved to the file of
        the image it was bound to before."""
        image = image if isinstance(image, Image) else None
        old = self.layer
        # a layer whose last change its file holds is not written again (500 ROIs: 0.1 s)
        unsaved = self._changed or not (self.path is not None and self._holds(old, self.path))
        if self._timer.isActive() or (old is not None and old is not layer and unsaved):
            self.save_now()  # changes not written yet go to the file they belong to
        if layer is not old:
            self._changed = False
        if self.layer is not None and self.layer is not layer:
            self.layer.events.data.disconnect(self.schedule)
            self.layer.events.features.disconnect(self.schedule)
        if layer is not None and layer is not self.layer:
            layer.events.data.connect(self.schedule)
            layer.events.features.connect(self.schedule)
        if image is not None:
            self.path, self._over = autosave_path(image), image
        elif layer is not self.layer:
            self.path = self._over = None
        self.image = image
        self.layer = layer
        self.refresh()

    def schedule(self, *_) -> None:
        """Save a moment after the last change (restarts the timer)."""
        if self.path is not None and self.layer is not None:
            self._timer.start()
        self._changed = True

    def save_now(self) -> Path | None:
        """Write the ROI layer to its autosave file now (atomic); its path."""
        self._timer.stop()
        path, layer = self.path, self.layer
        if path is None or layer is None or (not len(layer.data) and self._unrestored):
            return None  # an empty new layer must not overwrite ROIs not yet restored
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not self._holds(layer, path) and (saved_rois(path) or (0,))[0] > 0:
                # ROIs of another layer or session (not restored here): kept beside
                keep_beside(path)
                self._unrestored = False
                self.setVisible(False)
            data, meta, _ = layer.as_layer_data_tuple()
            write_shapes_geojson(str(path), data, meta, image=self._over)
            self._wrote = (weakref.ref(layer), path)
            self._changed = False
        except (OSError, ValueError) as exc:
            if not self._warned:  # once per session: autosave is a safety net, not a job
                show_warning(f"ROI autosave to {path} failed ({exc}); save the layer yourself")
                self._warned = True
            return None
        return path

    def _holds(self, layer: Shapes, path: Path) -> bool:
        """True when the file at ``path`` was last written here, from ``layer``."""
        return self._wrote is not None and self._wrote[0]() is layer and self._wrote[1] == path

    def offered(self) -> bool:
        """True while the *Restore* button is shown."""
        return not self.isHidden()

    def refresh(self) -> None:
        """Show the button when the image has autosaved ROIs and the ROI layer is empty
        (hidden while no image is chosen)."""
        if self.image is None:
            self.setVisible(False)
            return
        saved = saved_rois(autosave_path(self.image))
        empty = self.layer is None or not len(self.layer.data)
        show = bool(saved and saved[0] > 0 and empty)
        self._unrestored = show
        if show:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(saved[1]))
            self.button.setText(f"Restore {saved[0]} autosaved ROI(s) of {when}")
        self.setVisible(show)

    def restore(self) -> Shapes | None:
        """Add the autosaved ROIs as a new Shapes layer (emits :attr:`restored`)."""
        if self.image is None:
            return None
        path = autosave_path(self.image)
        try:
            data, meta, _ = read_region_layer(str(path), self.image)
        except (ValueError, OSError) as exc:
            show_warning(f"cannot restore the autosaved ROIs: {exc}")
            return None
        meta["name"] = "ROIs (restored)"
        layer = self.viewer.add_shapes(data, **meta)
        self._wrote = (weakref.ref(layer), path)  # the file holds its ROIs
        self.setVisible(False)
        self.restored.emit(layer)  # the empty layer it replaces is not saved over the file
        self._unrestored = False
        return layer
