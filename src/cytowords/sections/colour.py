"""Colour (RGB) bright-field scans as one grey channel, through optical density.

Cresyl-violet (Nissl) slides are violet and Merker/silver slides brownish-grey; the models
and the readout work on one grey channel that looks like a bright-field grayscale scan
(bright slide, dark cells). The conversion, per pixel and channel ``c``:

1. optical density ``OD_c = -log10((I_c + 1) / (I0_c + 1))`` (clipped at 0), with ``I0`` the
   white level of the empty slide (99.5th percentile per channel of a coarse sample);
2. colour deconvolution with one stain: the stain's unit OD vector ``v`` is the dominant
   direction of the OD of the stained pixels (``|OD| > 0.15``; first eigenvector of their
   OD second-moment matrix, as Macenko et al. 2009 do for two stains). Without enough stained
   pixels, or when that direction is not a plausible absorber (a negative component), the
   mean OD over the channels is used instead (``v = (1, 1, 1) / √3``);
3. the stain amount ``a = OD · v`` back to a grey transmitted image of the same white level:
   ``grey = (mean(I0) + 1) · 10^(-a · mean(v)) - 1`` (a pure-stain pixel gets exactly its mean
   OD over channels), in the input's data type.

RGBA keeps RGB (alpha is dropped). The parameters are estimated once from the coarsest
level; every level is converted lazily chunk by chunk (``dask.array.map_blocks``).

A **fluorescence image saved as RGB** (NeuroTrace or DAPI exported by Fiji, ZEN or a slide
viewer: somata bright in one channel on a black slide, the other channels near 0) is no
stain to take the optical density of: where the brightest of its channels shows a dark
slide (:func:`~.intensity.judge_slide` on the coarse image), or where the slide is given as
dark, the channel with the largest range (0.5th–99.5th percentile) in the coarse image, the
signal, is read as a grey fluorescent image (:func:`signal_channel`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import dask.array as da
import numpy as np

#: OD above which a pixel counts as stained (Macenko's beta)
STAINED_OD = 0.15
#: fewest stained pixels from which a stain vector is estimated
MIN_STAINED = 200
#: at most this many px per side of the coarsest level are read to estimate the parameters
SAMPLE_MAX_PX = 2048
#: at most this many of the sampled pixels (evenly strided) enter the estimate
ESTIMATE_MAX_PIXELS = 1 << 20


@dataclass(frozen=True)
class StainModel:
    """White level ``i0`` per channel (raw units), unit stain OD vector ``vector`` (RGB),
    and ``method`` (how it was found, in words)."""

    i0: tuple[float, float, float]
    vector: tuple[float, float, float]
    method: str
    offset: float = 1.0  # added to I and I0 (one count; 1/255 for float RGB in [0, 1])

    def describe(self) -> str:
        """What ``Section.metadata["colour"]`` says."""
        return f"RGB converted to grey by optical density: {self.method}"


def optical_density(rgb: np.ndarray, i0: np.ndarray, offset: float = 1.0) -> np.ndarray:
    """``(..., 3)`` raw RGB -> OD per channel (float32, >= 0)."""
    rgb = np.asarray(rgb, dtype=np.float32)[..., :3]
    od = -np.log10((rgb + offset) / (np.asarray(i0, dtype=np.float32) + offset))
    return np.maximum(od, 0.0)


def estimate_stain(sample: np.ndarray, offset: float = 1.0) -> StainModel:
    """White level and stain vector from a coarse ``(h, w, 3|4)`` RGB sample."""
    px = np.asarray(sample)[..., :3].reshape(-1, 3)
    px = px[:: max(1, len(px) // ESTIMATE_MAX_PIXELS)].astype(np.float32)
    i0 = np.percentile(px, 99.5, axis=0) if len(px) else np.full(3, 255.0)
    od = optical_density(px, i0, offset)
    stained = od[np.linalg.norm(od, axis=1) > STAINED_OD]
    i0t = tuple(float(v) for v in i0)
    if len(stained) >= MIN_STAINED:
        _, vecs = np.linalg.eigh(stained.T.astype(np.float64) @ stained / len(stained))
        v = vecs[:, -1] * np.sign(vecs[:, -1].sum())
        if (v > 0).all():
            vt = tuple(float(x) for x in v / np.linalg.norm(v))
            return StainModel(
                i0t,
                vt,
                "stain vector ({:.2f}, {:.2f}, {:.2f}), the dominant OD direction of {} "
                "stained pixels".format(*vt, len(stained)),
                offset,
            )
    flat = tuple(float(x) for x in np.full(3, 1.0 / np.sqrt(3.0)))
    return StainModel(
        i0t, flat, "mean OD over R, G, B (no clear stain colour in the sample)", offset
    )


def grey_from_rgb(rgb: np.ndarray, model: StainModel, dtype: np.dtype) -> np.ndarray:
    """``(h, w, 3|4)`` raw RGB -> ``(h, w)`` grey of ``dtype`` (module docstring)."""
    v = np.asarray(model.vector, dtype=np.float32)
    white = float(np.mean(model.i0)) + model.offset
    rgb = np.asarray(rgb)
    luts = _channel_factors(model, str(rgb.dtype))
    if luts is not None:  # 10^(-a·mean(v)) = product over channels of 10^(-OD_c·v_c·mean(v))
        f = luts[0][rgb[..., 0]] * luts[1][rgb[..., 1]] * luts[2][rgb[..., 2]]
        grey = white * f - model.offset
    else:
        a = optical_density(rgb, np.asarray(model.i0), model.offset) @ v
        grey = white * np.power(10.0, -a * float(v.mean()), dtype=np.float32) - model.offset
    dt = np.dtype(dtype)
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        return np.clip(np.rint(grey), info.min, info.max).astype(dt)
    return grey.astype(dt)


@functools.lru_cache(maxsize=8)
def _channel_factors(model: StainModel, dtype: str) -> list[np.ndarray] | None:
    """Per channel, ``10^(-OD_c(I) · v_c · mean(v))`` for every value ``I`` of an 8- or
    16-bit integer type (None for other types): the conversion as three table look-ups."""
    dt = np.dtype(dtype)
    if not (np.issubdtype(dt, np.unsignedinteger) and dt.itemsize <= 2):
        return None
    values = np.arange(2 ** (8 * dt.itemsize), dtype=np.float32)
    v = np.asarray(model.vector, dtype=np.float32)
    out = []
    for c in range(3):
        od = optical_density(np.repeat(values[:, None], 3, axis=1), np.asarray(model.i0), 1.0)[:, c]
        out.append(np.power(10.0, -od * v[c] * v.mean(), dtype=np.float32).astype(np.float32))
    return out


def coarse_sample(level: da.Array | np.ndarray, max_px: int = SAMPLE_MAX_PX) -> np.ndarray:
    """A level when it is small; else ``4 × 4`` windows of ``max_px / 4`` px spread over it
    (bounded reading even when a file has a single huge level)."""
    h, w = level.shape[:2]
    if max(h, w) <= max_px:
        return np.asarray(level[:, :].compute() if hasattr(level, "compute") else level)
    s = max_px // 4
    parts = []
    for y in np.linspace(0, max(0, h - s), 4).astype(int):
        for x in np.linspace(0, max(0, w - s), 4).astype(int):
            part = level[y : y + s, x : x + s]
            parts.append(np.asarray(part.compute() if hasattr(part, "compute") else part))
    return np.concatenate([p.reshape(-1, p.shape[-1]) for p in parts])[None]


#: names of an RGB image's channels, in order
CHANNEL_NAMES = ("red", "green", "blue")


def coarse_rgb(level: da.Array | np.ndarray, max_px: int = SAMPLE_MAX_PX) -> np.ndarray:
    """The ``(h, w, c)`` colour level as a whole image of at most ``max_px`` px per side:
    every ``f``-th pixel along both axes, ``f`` the smallest step that fits."""
    h, w = level.shape[:2]
    f = max(1, -(-max(h, w) // max_px))
    part = level[::f, ::f]
    return np.asarray(part.compute() if hasattr(part, "compute") else part)


def signal_channel(levels: list, dark_field: bool | None = None) -> int | None:
    """The channel (0 red, 1 green, 2 blue) of RGB(A) levels ``(y, x, c)`` (finest first)
    that carries a fluorescence image's signal, or ``None`` for a bright-field stain (module
    docstring): ``dark_field`` ``None`` judges the slide on the brightest channel of the
    coarsest level, ``True`` takes the slide as dark, ``False`` as bright (``None``)."""
    from .intensity import judge_slide

    if dark_field is False:
        return None
    small = coarse_rgb(levels[-1])[..., :3]
    if dark_field is None and judge_slide(small.max(axis=2)) != "dark":
        return None
    lo, hi = np.nanpercentile(small.reshape(-1, 3), [0.5, 99.5], axis=0)
    return int(np.argmax(hi - lo))


def grey_levels(levels: list) -> tuple[list[da.Array], StainModel]:
    """RGB(A) levels ``(y, x, c)`` (dask or numpy, finest first) -> lazy grey ``(y, x)`` levels
    and the :class:`StainModel` estimated from the coarsest one."""
    floating = np.issubdtype(np.dtype(levels[0].dtype), np.floating)
    model = estimate_stain(coarse_sample(levels[-1]), 1.0 / 255.0 if floating else 1.0)
    out = []
    for lev in levels:
        d = lev if isinstance(lev, da.Array) else da.from_array(lev, chunks=(1024, 1024, -1))
        if d.numblocks[2] != 1:
            d = d.rechunk({2: -1})
        out.append(
            d.map_blocks(
                grey_from_rgb,
                model,
                d.dtype,
                drop_axis=2,
                dtype=d.dtype,
                meta=np.empty((0, 0), d.dtype),
            )
        )
    return out, model
