"""Colours as GeoJSON files (QuPath) and napari write them: ``#rrggbb`` strings, ``[r, g, b]``
lists and packed ARGB ints."""

from __future__ import annotations

from typing import Any


def hex_to_rgb(color: str) -> list[int]:
    """``"#rrggbb"`` -> ``[r, g, b]`` (0–255), the form of a QuPath classification colour."""
    c = color.lstrip("#")
    return [int(c[i : i + 2], 16) for i in (0, 2, 4)]


def color_hex(value: Any) -> str | None:
    """``#rrggbb`` of a QuPath colour: a packed (signed 32-bit ARGB) int, ``[r, g, b]`` or
    ``[r, g, b, a]``, or a ``#rrggbb`` string; None when it is none of these."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return f"#{value & 0xFFFFFF:06x}"
    if isinstance(value, (list, tuple)) and len(value) in (3, 4):
        if all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in value):
            r, g, b = (min(255, max(0, int(c))) for c in value[:3])
            return f"#{r:02x}{g:02x}{b:02x}"
    if isinstance(value, str):
        s = value.strip().lstrip("#")
        if len(s) == 6 and all(c in "0123456789abcdefABCDEF" for c in s):
            return f"#{s.lower()}"
    return None
