"""Plain 8-bit images (PNG, JPEG) as users export them from viewers or papers.

They carry no usable physical calibration (a PNG's or JPEG's dots per inch is a screen or
print setting, not the scan's), so opening one always needs the µm per pixel from the user
(``pixel_size_um=``, CLI ``--pixel-size-um``). Grey images are read as they are; RGB(A)
and palette images as RGB, which :mod:`.colour` turns into grey like any colour scan. The
JPEG EXIF orientation is applied (the image as viewers show it). The file is decoded whole
(with Pillow, which scikit-image and imageio already need): such exports are small.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from .errors import fail

#: dask chunk side (px) of the decoded image
CHUNK_PX = 1024


#: why a 1-bit (black-and-white) image is no section, and what is read instead
ONE_BIT = "a 1-bit (black-and-white) image: no grey levels of a stain to read"
ONE_BIT_EXPECTED = "the scan itself (8 bits or more), not a mask or a thresholded export"


def open_plain_levels(path: Path) -> tuple[list[da.Array], dict[str, Any]]:
    """``([level], meta)`` of a PNG or JPEG file: one ``(y, x)`` grey or ``(y, x, 3|4)``
    colour level (uint8, or uint16 for a 16-bit grey PNG); ``meta["format"]`` names the
    format."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None  # a section export is legitimately large
        with Image.open(path) as im:
            fmt = (im.format or path.suffix.lstrip(".")).lower()
            im = ImageOps.exif_transpose(im)
            one_bit = im.mode == "1"  # a mask or a thresholded export: no stain to read
            if im.mode in ("1", "P", "PA", "LA", "CMYK", "YCbCr", "I", "F"):
                rgb = im.mode in ("P", "PA", "CMYK", "YCbCr")
                im = im.convert("RGB" if rgb else ("I;16" if im.mode == "I" else "L"))
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise fail(path, f"cannot read image ({first})", "a PNG or JPEG image") from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    if one_bit:
        raise fail(path, ONE_BIT, ONE_BIT_EXPECTED)
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise fail(path, f"image of shape {arr.shape}", "a 2D grey or RGB image")
    chunks = (CHUNK_PX, CHUNK_PX) + ((arr.shape[2],) if arr.ndim == 3 else ())
    level = da.from_array(arr, chunks=chunks, name=f"cytowords-plain-{path}-{path.stat().st_mtime}")
    return [level], {"format": fmt}
