"""npe2 writer: an area-map Labels layer (from the Area map widget) to OME-Zarr, atomically.

Saved from the viewer (*File › Save Selected Layers*: Qt's event loop runs on the GUI
thread) the store is written in a background thread, so the viewer stays fluid: the path
is checked and the layer's arrays copied at once, the writer returns, a notification says
when the store is complete (or, in one line, why it was not written). The store is written
under a temporary folder and renamed into place, and the thread is not a daemon: closing
the image or the viewer meanwhile neither cuts the file short nor loses it (Python waits
for the thread before it exits). A script's ``layer.save`` writes before it returns.

Also :func:`write_area_map_geojson`: the map's areas as QuPath annotations (GeoJSON).
The store holds ``labels/areas`` (with the area table as NGFF properties/colours),
``labels/rejected``, ``probability`` and ``ood_score`` (see
:func:`cytowords.mapping.write_area_map`). The image is the probability map
(uint8), as the section itself is not part of the layer.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

#: stores being written in the background (resolved paths -> their threads)
_WRITING: dict[str, threading.Thread] = {}
_LOCK = threading.Lock()


def _area_map(path: str, data: Any, meta: dict):
    """The :class:`AreaMap` an area-map Labels layer (``data``, ``meta``) carries."""
    from ...mapping import AreaMap

    md = meta.get("metadata") or {}
    if not md.get("cytowords_area_map"):
        raise ValueError(
            f"{path}: layer {meta.get('name')!r} is not an area map made by the Area map "
            "widget; save plain label layers with napari's own writers"
        )
    # copies: the layer may be painted, updated (Follow view) or closed while it is written
    labels = np.array(data, dtype=np.int32)
    zeros = np.zeros(labels.shape, dtype=np.float32)
    return AreaMap(
        labels=labels,
        probability=np.array(md.get("probability", zeros), dtype=np.float32),
        ood_score=np.array(md.get("ood_score", zeros), dtype=np.float32),
        rejected=np.array(md.get("rejected", zeros), dtype=bool),
        no_cortex=None if md.get("no_cortex") is None else np.array(md["no_cortex"], bool),
        pixel_size_um=float(md["pixel_size_um"]),
        origin_um=tuple(float(v) for v in md["origin_um"]),
        area_table={int(k): tuple(v) for k, v in (md.get("area_table") or {}).items()},
    )


def write_area_map_zarr(path: str, data: Any, meta: dict) -> list[str]:
    """Write an area-map Labels layer as OME-Zarr at ``path`` (a new ``*.zarr`` folder);
    from the viewer's event loop in a background thread (module doc)."""
    from ...mapping import write_area_map
    from ...mapping.write import check_target
    from ..io.geojson_reader import _gui_viewer

    amap = _area_map(path, data, meta)
    # the layer's own placement: opened again (with the section where it was), it lies
    # where it was computed
    translate = meta.get("translate")
    where = None if translate is None else tuple(float(v) for v in list(translate)[-2:])
    if _gui_viewer() is None:  # a script (or a test) gets the store before it goes on
        return [str(write_area_map(path, amap, translation_um=where))]
    out = Path(path).expanduser()
    check_target(out, overwrite=False)  # refused at once, in one line, as before
    key = str(out.absolute())
    with _LOCK:
        if key in _WRITING:
            raise FileExistsError(f"{out}: is being written; choose another path")
        thread = threading.Thread(
            target=_write_in_background,
            args=(out, amap, where, key),
            name=f"cytowords: write {out.name}",
            daemon=False,  # Python waits for it: closing the viewer does not cut it short
        )
        _WRITING[key] = thread
    thread.start()
    return [str(out)]


def _write_in_background(out: Path, amap, where, key: str) -> None:
    from napari.utils.notifications import show_error, show_info

    from ...mapping import write_area_map

    try:
        write_area_map(out, amap, translation_um=where)
    except Exception as exc:  # noqa: BLE001 - any failure is one line to the user
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        _notify(show_error, f"area map not saved to {out}: {first}")
    else:
        _notify(show_info, f"area map saved: {out}")
    finally:
        with _LOCK:
            _WRITING.pop(key, None)


def _notify(show, text: str) -> None:
    """Show a notification from the writing thread (napari brings it to the GUI thread);
    the viewer may be closed by then: nothing to show it in, the store is written."""
    try:
        show(text)
    except Exception:  # noqa: BLE001
        pass


def wait_for_writes(timeout: float | None = None) -> bool:
    """Wait until the stores being written in the background are complete (True) or
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


def write_area_map_geojson(path: str, data: Any, meta: dict) -> list[str]:
    """Write an area-map Labels layer as QuPath GeoJSON: one annotation per connected
    piece of each area (and of rejected tiles), in the section's full-resolution pixels
    (:func:`cytowords.mapping.area_map_to_geojson`); atomic."""
    from ...describe.export import write_geojson
    from ...mapping import area_map_to_geojson

    amap = _area_map(path, data, meta)
    px = (meta.get("metadata") or {}).get("section_pixel_size_um")
    if not px:
        raise ValueError(
            f"{path}: layer {meta.get('name')!r} does not record its section's pixel size "
            "(made by an older version): compute the area map again, or save it as OME-Zarr"
        )
    shape = (meta.get("metadata") or {}).get("section_shape_px")
    gj = area_map_to_geojson(
        amap, image_pixel_size_um=float(px), image_shape_px=None if shape is None else tuple(shape)
    )
    return [str(write_geojson(path, gj))]
