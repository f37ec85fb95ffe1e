"""npe2 writers: an area-map Labels layer (from the Area map widget) to OME-Zarr, atomically.

Also :func:`write_area_map_geojson`: the map's areas as QuPath annotations (GeoJSON).
The store holds ``labels/areas`` (with the area table as NGFF properties/colours),
``labels/rejected``, ``probability`` and ``ood_score`` (see
:func:`cytowords.mapping.write_area_map`), and records how the section's slide was read
(the layer's ``section_slide``, in the store's attributes and the GeoJSON's properties).
The image is the probability map (uint8), as the section itself is not part of the layer.

Saved from the viewer (*File › Save Selected Layers…*: Qt's event loop runs on the GUI
thread) a map is written in a background thread, so the viewer stays fluid: on the GUI
thread the layer is checked and its arrays copied (no import of the mapping code, which
imports torch), the writer returns, and a notification says when the file is complete
(or, in one line, why it was not written). Files are written under a temporary name and
renamed into place, and quitting the application or Python waits for the writes: closing
the layer or the viewer meanwhile neither cuts the file short nor loses it.
A script's ``layer.save`` (no running event loop) writes before it returns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: files being written in the background (absolute paths -> their threads)
_WRITING: dict[str, threading.Thread] = {}
_LOCK = threading.Lock()


def _area_map_fields(path: str, data: Any, meta: dict) -> dict[str, Any]:
    """The fields of the :class:`~cytowords.mapping.AreaMap` an area-map Labels layer
    (``data``, ``meta``) carries, copied: the layer may be painted, updated (*Follow
    view*) or closed while they are written."""
    md = meta.get("metadata") or {}
    if not md.get("cytowords_area_map"):
        raise ValueError(
            f"{path}: layer {meta.get('name')!r} is not an area map made by the Area map "
            "widget; save plain label layers with napari's own writers"
        )
    labels = np.array(data, dtype=np.int32)
    zeros = np.zeros(labels.shape, dtype=np.float32)
    return dict(
        labels=labels,
        probability=np.array(md.get("probability", zeros), dtype=np.float32),
        ood_score=np.array(md.get("ood_score", zeros), dtype=np.float32),
        rejected=np.array(md.get("rejected", zeros), dtype=bool),
        no_cortex=None if md.get("no_cortex") is None else np.array(md["no_cortex"], bool),
        pixel_size_um=float(md["pixel_size_um"]),
        origin_um=tuple(float(v) for v in md["origin_um"]),
        area_table={int(k): tuple(v) for k, v in (md.get("area_table") or {}).items()},
    )


def _slide(meta: dict) -> str | None:
    """How the slide of the section the map was computed on was read (the layer's
    ``section_slide``, :mod:`cytowords.slide_reading`; None when not recorded)."""
    slide = (meta.get("metadata") or {}).get("section_slide")
    return slide if isinstance(slide, str) and slide else None


def write_area_map_zarr(path: str, data: Any, meta: dict) -> list[str]:
    """Write an area-map Labels layer as OME-Zarr at ``path`` (a new ``*.zarr`` folder);
    from the viewer's event loop in a background thread (module doc)."""
    fields = _area_map_fields(path, data, meta)
    # the layer's own placement: opened again (with the section where it was), it lies
    # where it was computed
    translate = meta.get("translate")
    where = None if translate is None else tuple(float(v) for v in list(translate)[-2:])
    slide = _slide(meta)

    def write() -> str:
        from ...mapping import AreaMap, write_area_map

        return str(write_area_map(path, AreaMap(**fields), translation_um=where, slide=slide))

    return _written(path, write)


def write_area_map_geojson(path: str, data: Any, meta: dict) -> list[str]:
    """Write an area-map Labels layer as QuPath GeoJSON: one annotation per connected
    piece of each area (and of rejected tiles), in the section's full-resolution pixels
    (:func:`cytowords.mapping.area_map_to_geojson`); atomic; from the viewer's event loop
    in a background thread (module doc)."""
    fields = _area_map_fields(path, data, meta)
    px = (meta.get("metadata") or {}).get("section_pixel_size_um")
    if not px:
        raise ValueError(
            f"{path}: layer {meta.get('name')!r} does not record its section's pixel size "
            "(made by an older version): compute the area map again, or save it as OME-Zarr"
        )
    shape = (meta.get("metadata") or {}).get("section_shape_px")
    slide = _slide(meta)

    def write() -> str:
        from ...describe.export import write_geojson
        from ...mapping import AreaMap, area_map_to_geojson

        gj = area_map_to_geojson(
            AreaMap(**fields),
            image_pixel_size_um=float(px),
            image_shape_px=None if shape is None else tuple(shape),
            slide=slide,
        )
        return str(write_geojson(path, gj))

    return _written(path, write)


def _written(path: str, write: Callable[[], str]) -> list[str]:
    """``[path]`` of the file ``write()`` makes: written now, or, called from the viewer's
    running event loop, in a background thread started here (module doc)."""
    from ..io.geojson_reader import _gui_viewer

    if _gui_viewer() is None:  # a script (or a test) gets the file before it goes on
        return [write()]
    out = Path(path).expanduser()
    key = str(out.absolute())
    _wait_before_exit()
    with _LOCK:
        if key in _WRITING:
            raise FileExistsError(f"{out}: is being written; choose another path")
        thread = threading.Thread(
            target=_write_in_background,
            args=(out, write, key),
            name=f"cytowords: write {out.name}",
            daemon=False,  # Python waits for it: closing the viewer does not cut it short
        )
        _WRITING[key] = thread
    thread.start()
    return [str(out)]


def _write_in_background(out: Path, write: Callable[[], str], key: str) -> None:
    from napari.utils.notifications import show_error, show_info

    try:
        write()
    except Exception as exc:  # noqa: BLE001 - any failure is one line to the user
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        _notify(show_error, f"area map not saved to {out}: {first}")
    else:
        _notify(show_info, f"area map saved: {out}")
    finally:
        with _LOCK:
            _WRITING.pop(key, None)


def _notify(show: Callable[[str], Any], text: str) -> None:
    """Show a notification from the writing thread (napari brings it to the GUI thread);
    the viewer may be closed by then: nothing to show it in, the file is written."""
    try:
        show(text)
    except Exception:  # noqa: BLE001
        pass


_HOOKED: list[bool] = []


def _wait_before_exit() -> None:
    """Make the application's quit and Python's exit wait for the files being written
    (once). Waiting for the thread alone is not enough: at exit Python shuts the thread
    pools down (zarr's among them) before it joins the threads, and the write would fail."""
    if _HOOKED:
        return
    _HOOKED.append(True)
    import concurrent.futures.thread  # noqa: F401 - its exit hook registered before ours

    try:  # threading's exit hooks run last registered first: ours before the pools stop
        threading._register_atexit(wait_for_writes)  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):
        pass
    from qtpy.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(lambda: wait_for_writes())


def wait_for_writes(timeout: float | None = None) -> bool:
    """Wait until the files being written in the background are complete (True) or
    ``timeout`` seconds passed (False)."""
    import time

    end = None if timeout is None else time.monotonic() + timeout
    while True:
        with _LOCK:
            threads = list(_WRITING.values())
        if not threads:
            return True
        for t in threads:
            t.join(None if end is None else max(0.0, end - time.monotonic()))
            if t.is_alive():
                return False
