"""NGFF (OME-Zarr 0.4 / 0.5) metadata: parse axes, units and scales; build what we write.

Reading tolerates older layouts (0.1-0.3: no or string axes). Pixel size is taken from the
``scale`` coordinate transformations of the ``y``/``x`` axes (dataset-level times
multiscale-level) and converted to µm from the axis ``unit``.
"""

from __future__ import annotations

import colorsys
import math
import re
from typing import Any

from .errors import fail

#: Factor from an NGFF / UDUNITS length unit to micrometres.
UNIT_TO_UM: dict[str, float] = {
    "angstrom": 1e-4,
    "picometer": 1e-6,
    "nanometer": 1e-3,
    "nm": 1e-3,
    "micrometer": 1.0,
    "micron": 1.0,
    "microns": 1.0,
    "um": 1.0,
    "µm": 1.0,
    "μm": 1.0,
    "millimeter": 1e3,
    "mm": 1e3,
    "centimeter": 1e4,
    "cm": 1e4,
    "inch": 25400.0,
    "in": 25400.0,
    "meter": 1e6,
    "m": 1e6,
}


def unit_factor(unit: str | None) -> float | None:
    """µm per ``unit`` (None when the unit is missing or not a length).

    Escaped characters as ImageJ writes them (``\\u00B5m`` for µm) are decoded first."""
    if not unit:
        return None
    u = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), str(unit))
    return UNIT_TO_UM.get(u.strip().lower().replace("micrometre", "micrometer"))


def _scale_of(transforms: Any, ndim: int, where: str) -> list[float]:
    """Product of the ``scale`` entries of a coordinateTransformations list (1 if none)."""
    scale = [1.0] * ndim
    for t in transforms or []:
        if isinstance(t, dict) and t.get("type") == "scale":
            s = t.get("scale")
            if not isinstance(s, list) or len(s) != ndim:
                raise fail(where, f"scale transform {s!r} does not match {ndim} axes")
            try:
                scale = [a * float(b) for a, b in zip(scale, s)]
            except (TypeError, ValueError) as e:
                raise fail(where, f"non-numeric scale {s!r}") from e
    return scale


def _translation_of(transforms: Any, ndim: int) -> list[float]:
    """Sum of the ``translation`` entries of a coordinateTransformations list (0 if none;
    malformed entries are ignored: a translation only places the image)."""
    out = [0.0] * ndim
    for t in transforms or []:
        if isinstance(t, dict) and t.get("type") == "translation":
            v = t.get("translation")
            try:
                if isinstance(v, list) and len(v) == ndim:
                    out = [a + float(b) for a, b in zip(out, v)]
            except (TypeError, ValueError):
                continue
    return out


def parse_multiscale(ms: Any, ndim: int, where: str) -> dict[str, Any]:
    """Parse one ``multiscales`` entry.

    Returns ``{"paths": [...], "yx": (iy, ix), "scales": [[sy, sx] per level],
    "translation": [ty, tx] of level 0 (the centre of its first pixel, in axis units),
    "um_per_unit": float | None, "axes": [names], "name": str | None}``.
    """
    if not isinstance(ms, dict) or not isinstance(ms.get("datasets"), list) or not ms["datasets"]:
        raise fail(where, "'multiscales' entry has no 'datasets' list", "NGFF multiscales metadata")
    axes = ms.get("axes")
    if axes is None:
        names = ["t", "c", "z", "y", "x"][-ndim:] if ndim <= 5 else []
        units: list[Any] = [None] * ndim
    elif isinstance(axes, list):
        names = [str(a.get("name") if isinstance(a, dict) else a).lower() for a in axes]
        units = [a.get("unit") if isinstance(a, dict) else None for a in axes]
    else:
        raise fail(where, f"'axes' is {type(axes).__name__}", "a list of axes")
    if len(names) != ndim:
        raise fail(where, f"{len(names)} axes {names} for {ndim}-D arrays")
    if "y" in names and "x" in names:
        iy, ix = names.index("y"), names.index("x")
    else:
        iy, ix = ndim - 2, ndim - 1
    global_transforms = ms.get("coordinateTransformations")
    global_scale = _scale_of(global_transforms, ndim, where)
    t0 = _translation_of(ms["datasets"][0].get("coordinateTransformations"), ndim)
    t0 = [t * g + u for t, g, u in zip(t0, global_scale, _translation_of(global_transforms, ndim))]
    paths, scales = [], []
    for ds in ms["datasets"]:
        if not isinstance(ds, dict) or "path" not in ds:
            raise fail(where, f"dataset entry {ds!r} has no 'path'")
        s = _scale_of(ds.get("coordinateTransformations"), ndim, where)
        s = [a * b for a, b in zip(s, global_scale)]
        paths.append(str(ds["path"]))
        scales.append([s[iy], s[ix]])
    fy, fx = unit_factor(units[iy]), unit_factor(units[ix])
    um = fy if (fy is not None and fx is not None and fy == fx) else None
    return {
        "paths": paths,
        "yx": (iy, ix),
        "scales": scales,
        "translation": [t0[iy], t0[ix]],
        "um_per_unit": um,
        "axes": names,
        "name": ms.get("name"),
    }


def iso(sy: float, sx: float) -> float:
    """One isotropic pixel size from possibly slightly anisotropic y/x sizes (geometric mean)."""
    return math.sqrt(abs(sy * sx))


#: the largest ratio of a pixel's height to its width (or width to height) read as a square
#: pixel (:func:`iso`): a scanner's x and y calibrations differ by well under 1 % (NDPI:
#: 0.2265 / 0.2267 µm); beyond this one µm per pixel would measure the tissue wrongly across
MAX_PIXEL_ASPECT = 1.02


def non_square(sy: float, sx: float) -> bool:
    """Whether pixels of ``sy`` × ``sx`` (any one unit) are further from square than
    :data:`MAX_PIXEL_ASPECT`."""
    lo, hi = sorted((abs(sy), abs(sx)))
    return lo <= 0 or hi / lo > MAX_PIXEL_ASPECT


def level_factor(h0: int, w0: int, h: int, w: int) -> float:
    """Downsample factor of a stored level of ``h × w`` px under a level 0 of ``h0 × w0``:
    the whole number ``F`` when each side is level 0's divided by ``F`` and rounded either
    way (pyramids of odd sizes, as QuPath, Bio-Formats, scanners and :func:`extend_pyramid`
    make them: 3750 px → 937 at ×4 is 16 µm/px under 4 µm/px, not 16.004), else the ratio
    of the sizes (geometric mean of y and x)."""
    f = iso(h0 / h, w0 / w)
    k = round(f)
    if k >= 1 and abs(h - h0 / k) < 1 and abs(w - w0 / k) < 1:
        return float(k)
    return f


def multiscale_metadata(pixel_size_um: list[float], name: str, version: str) -> dict[str, Any]:
    """The ``multiscales[0]`` entry we write: y/x axes in micrometres, scale + translation.

    Coarse pixels are aligned to the corner of level 0, so the centre of level ``k``'s first
    pixel sits at ``(p_k - p_0) / 2`` µm in level-0 pixel-centre coordinates.
    """
    p0 = pixel_size_um[0]
    datasets = []
    for k, p in enumerate(pixel_size_um):
        t = (p - p0) / 2.0
        datasets.append(
            {
                "path": str(k),
                "coordinateTransformations": [
                    {"type": "scale", "scale": [float(p), float(p)]},
                    {"type": "translation", "translation": [float(t), float(t)]},
                ],
            }
        )
    ms: dict[str, Any] = {
        "axes": [
            {"name": "y", "type": "space", "unit": "micrometer"},
            {"name": "x", "type": "space", "unit": "micrometer"},
        ],
        "datasets": datasets,
        "name": name,
    }
    if version == "0.4":
        ms["version"] = "0.4"
    return ms


def hex_to_rgba(color: str) -> list[int]:
    """``#rrggbb`` or ``#rrggbbaa`` -> ``[r, g, b, a]`` (0-255)."""
    c = color.lstrip("#")
    if len(c) not in (6, 8):
        raise ValueError(f"colour {color!r} is not #rrggbb or #rrggbbaa")
    vals = [int(c[i : i + 2], 16) for i in range(0, len(c), 2)]
    return vals + [255] * (4 - len(vals))


def rgba_to_hex(rgba: Any) -> str | None:
    """``[r, g, b(, a)]`` (0-255) -> ``#rrggbb`` (None if malformed)."""
    try:
        r, g, b = (max(0, min(255, int(v))) for v in list(rgba)[:3])
    except (TypeError, ValueError):
        return None
    return f"#{r:02x}{g:02x}{b:02x}"


def _palette(value: int) -> str:
    """A deterministic distinct colour for a label value without one (golden-ratio hues)."""
    h = (value * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.65, 0.95)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def image_label_metadata(
    names: dict[int, str], colors: dict[int, str], version: str
) -> dict[str, Any]:
    """NGFF ``image-label``: colours + properties (area names) for the same label values."""
    values = sorted(set(names) | set(colors))
    il: dict[str, Any] = {"source": {"image": "../../"}}
    if version == "0.4":
        il["version"] = "0.4"
    if values:
        il["colors"] = [
            {"label-value": int(v), "rgba": hex_to_rgba(colors.get(v) or _palette(int(v)))}
            for v in values
        ]
        il["properties"] = [
            {"label-value": int(v), **({"name": str(names[v])} if v in names else {})}
            for v in values
        ]
    return il
