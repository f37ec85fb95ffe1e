"""Whole-slide scanner files as the scanners lay them out, written with tifffile:

- Aperio SVS: tiled JPEG RGB baseline with Aperio's ImageDescription (``MPP = ...``), a
  stripped thumbnail, tiled reduced levels, an LZW label (subfile type 1) and a JPEG macro
  (subfile type 9), every page described "Aperio Image Library ...";
- Hamamatsu NDPI: JPEG pyramid pages in YCbCr with 2 × 2 chroma subsampling (JFIF's
  default, as Hamamatsu's JPEGs are), with the NDPI tags (65420 format flag, 65421
  magnification; -1 for the macro) and X/YResolution in pixels per cm. Written as BigTIFF:
  real NDPI files are classic TIFFs with 64-bit offsets, a layout only tifffile's reader
  knows (tifffile's job, not ours); the tags and series are as in a real file;
- Leica SCN: the SCN XML (collection > image > pixels/dimension, view in nm) in the first
  page's ImageDescription, a slide overview ("macro") image and the scan's pyramid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

#: Aperio's ImageDescription of the baseline image (format from real .svs files)
SVS_DESCRIPTION = (
    "Aperio Image Library v12.0.15 \r\n{w}x{h} [0,0 {w}x{h}] (256x256) JPEG/RGB Q=70"
    "|AppMag = 20|StripeWidth = 2040|ScanScope ID = CPAPERIOCS|Filename = 1234"
    "|Date = 12/05/26|Time = 10:11:12|Time Zone = GMT+00:00|User = 0000"
    "|MPP = {mpp}|Left = 25.5|Top = 18.2|LineCameraSkew = -0.000424|LineAreaXOffset = 0.0"
    "|Focus Offset = 0.000000|ImageID = 1234|OriginalWidth = {w}|Originalheight = {h}"
)


def nissl_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A violet-stained (cresyl violet) RGB image on white glass: dots of stain."""
    rng = np.random.default_rng(seed)
    stain = rng.random((h, w)) < 0.2
    img = np.full((h, w, 3), (236, 234, 238), np.uint8)
    img[stain] = (122, 78, 160)
    img[: h // 5] = (240, 240, 240)  # empty glass on top
    return img


def write_svs(path: Path, img: np.ndarray, mpp: str | None = "0.2520") -> Path:
    """An Aperio SVS file of ``img`` (RGB) with levels /4 and /16."""
    h, w = img.shape[:2]
    desc = SVS_DESCRIPTION.format(w=w, h=h, mpp=mpp)
    if mpp is None:
        desc = desc.replace("|MPP = None", "")
    kw = {"photometric": "rgb", "metadata": None}
    with tifffile.TiffWriter(path) as tw:
        tw.write(img, tile=(256, 256), compression="jpeg", description=desc, **kw)
        thumb = img[::8, ::8].copy()
        tw.write(
            thumb,
            compression="jpeg",
            description=f"Aperio Image Library v12.0.15 \r\n{w}x{h} -> {thumb.shape[1]}x{thumb.shape[0]} - |AppMag = 20",
            **kw,
        )
        for f in (4, 16):
            lev = img[::f, ::f].copy()
            tw.write(
                lev,
                tile=(256, 256),
                compression="jpeg",
                description=f"Aperio Image Library v12.0.15 \r\n{w}x{h} -> {lev.shape[1]}x{lev.shape[0]} - |AppMag = 20",
                **kw,
            )
        label = np.zeros((120, 130, 3), np.uint8)
        tw.write(
            label,
            compression="lzw",
            subfiletype=1,
            description="Aperio Image Library v12.0.15\r\nlabel 130x120",
            **kw,
        )
        macro = np.full((300, 900, 3), 200, np.uint8)
        tw.write(
            macro,
            compression="jpeg",
            subfiletype=9,
            description="Aperio Image Library v12.0.15\r\nmacro 900x300",
            **kw,
        )
    return path


def _ycbcr(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` (uint8) in JFIF's YCbCr: tifffile's JPEG writer takes a YCbCr page's samples
    as they are, so that a reader decodes the original RGB."""
    x = rgb.astype(np.float32)
    y = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    cb = 128 - 0.168736 * x[..., 0] - 0.331264 * x[..., 1] + 0.5 * x[..., 2]
    cr = 128 + 0.5 * x[..., 0] - 0.418688 * x[..., 1] - 0.081312 * x[..., 2]
    return np.clip(np.round(np.stack([y, cb, cr], axis=-1)), 0, 255).astype(np.uint8)


def write_ndpi(path: Path, img: np.ndarray, um_per_px: float = 0.4545) -> Path:
    """A Hamamatsu NDPI-like file of ``img`` (RGB) with levels /4 and /16 and a macro, JPEG
    in YCbCr 4:2:0."""
    kw = {
        "photometric": "ycbcr",
        "subsampling": (2, 2),
        "metadata": None,
        "compression": "jpeg",
        "resolutionunit": "CENTIMETER",
    }
    make = (271, 2, 0, "Hamamatsu", True)
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        for f in (1, 4, 16):
            per_cm = 1e4 / (um_per_px * f)
            tags = [make, (65420, 4, 1, 1, True), (65421, 11, 1, 20.0, True)]
            lev = _ycbcr(img[::f, ::f])
            tw.write(lev, resolution=(per_cm, per_cm), extratags=tags, **kw)
        macro = _ycbcr(np.full((300, 900, 3), 200, np.uint8))
        tags = [make, (65420, 4, 1, 1, True), (65421, 11, 1, -1.0, True)]
        tw.write(macro, resolution=(1e4 / 40.0, 1e4 / 40.0), extratags=tags, **kw)
    return path


def write_scn(path: Path, img: np.ndarray, um_per_px: float = 0.5) -> Path:
    """A Leica SCN-like file: an overview image (coarse) then the scan with a /4 level."""
    h, w = img.shape[:2]
    macro = np.full((200, 600, 3), 200, np.uint8)
    view_nm = (round(w * um_per_px * 1000), round(h * um_per_px * 1000))
    xml = f"""<?xml version="1.0" encoding="utf-8"?>
<scn xmlns="http://www.leica-microsystems.com/scn/2010/10/01">
 <collection name="slide" uuid="1" sizeX="76000000" sizeY="25000000">
  <image name="" uuid="2">
   <device model="Leica SCN400;Leica SCN" version="1.4"/>
   <pixels sizeX="600" sizeY="200"><dimension sizeX="600" sizeY="200" r="0" ifd="0"/></pixels>
   <view sizeX="76000000" sizeY="25333333" offsetX="0" offsetY="0"/>
  </image>
  <image name="section" uuid="3">
   <device model="Leica SCN400;Leica SCN" version="1.4"/>
   <pixels sizeX="{w}" sizeY="{h}">
    <dimension sizeX="{w}" sizeY="{h}" r="0" ifd="1"/>
    <dimension sizeX="{w // 4}" sizeY="{h // 4}" r="1" ifd="2"/>
   </pixels>
   <view sizeX="{view_nm[0]}" sizeY="{view_nm[1]}" offsetX="1000000" offsetY="2000000"/>
  </image>
 </collection>
</scn>"""
    kw = {"photometric": "rgb", "metadata": None, "tile": (256, 256), "compression": "jpeg"}
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        tw.write(macro, description=xml, **kw)
        tw.write(img, **kw)
        tw.write(img[::4, ::4][: h // 4, : w // 4].copy(), **kw)
    return path
