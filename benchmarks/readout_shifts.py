"""The model-free readout (cytowords.measure) on scans unlike ours: acquisition shifts.

The ROIs of ``benchmarks/measure_accuracy.py`` (the same selection and truth: 3 mm squares
across the ribbon, one per area, ``--rois`` per brain, the same random stream) are
measured at ``--profile-um`` µm/px on each brain's section as a scan whose finest level is
``--finest-um`` µm/px (16: no grain, layer IV from the profile alone, as on BigBrain's 20
µm/px), clean and under each shift below. A shift is applied to that finest level as a
lab's file would hold it (transmitted light ``t`` in [0, 1] of full scale, the slide's
glass ``g`` at its 99.5th percentile, stain optical density ``a = -log10(t / g)``), then
the shifted scan is written as a file and opened with ``open_section`` (the reader's own
normalisation: 12-bit data, RGB colour deconvolution, JPEG decoding; the coarser levels
derived by the reader), except the illumination gradient, which depends on the ROI and is
wrapped in memory (the same pyramid ``open_section`` derives):

- ``clean``: the level as is, 8-bit OME-Zarr (the reference of every other row);
- ``gamma 0.6``, ``gamma 1.6``: ``t ** gamma``;
- ``stain x0.5``, ``stain x1.6``: ``a`` times the factor;
- ``gradient``: light x0.8 at the ROI's left edge rising linearly to x1.0 at its right
  edge (3 mm), x0.8 / x1.0 beyond;
- ``glass 0.8``: ``t * 0.8 / g`` (the empty slide at 0.8 of full scale);
- ``stray light``: ``0.1 + 0.9 t`` (an offset: the darkest tissue is not black);
- ``blur 1 px``, ``blur 2 px``: Gaussian of that SD at the finest level;
- ``JPEG 50``: a grey JPEG of quality 50 (PIL), opened with ``--pixel-size-um``;
- ``noise``: additive Gaussian noise of SD 0.02 of full scale (seeded by the brain);
- ``12-bit``: ``round(4095 t)`` in uint16, OME-Zarr;
- ``RGB cresyl``: Beer–Lambert through one violet stain, RGB = slide x 10^(-a v / mean(v))
  with the unit OD vector ``v`` = :data:`CRESYL` (R, G, B) on a tinted slide, RGB TIFF
  read back through the colour deconvolution;
- ``RGB cresyl JPEG 75``: the same as an RGB JPEG of quality 75 (a lab's export);
- ``Merker-like``: ``a`` raised to 1.8 relative to the tissue's median OD (Otsu split of
  ``a``): the typical tissue as dark, the denser parts darker, the paler neuropil, layer I
  and white matter paler (white/grey OD ratio r becomes r^1.8);
- ``Merker-like + blur 1 px``: the Merker-like contrast, then a Gaussian of SD 1 px at the
  finest level (real Merker scans are 20 µm/px and not perfectly sharp: a narrow cleft
  mixes with the tissue beside it);
- ``soft contrast``: ``a`` raised to 0.6 relative to the tissue's median OD: the opposite
  regime, as on real sections, where white matter is closer to the grey matter than on
  ours (white/grey OD ratio r becomes r^0.6; layer I and pale glass noise darker too);
- ``tiles W mm, D %`` (and ``..., blended``): a widefield mosaic stitched without
  flat-field correction. Square camera tiles ``W`` mm wide overlap their neighbours by
  :data:`TILE_OVERLAP` of ``W`` (pitch ``P = W (1 - overlap)``, the grid's origin at the
  scan's top-left corner); each tile's light is vignetted radially as cos^4:
  ``v(r) = (1 + (r / f)^2)^-2`` about the tile's centre, ``f`` set so that the tile's
  corners get ``1 - D/100`` of its centre's light. Naive stitching (each tile written over
  the one before, Fiji's *overwrite*): a pixel takes the last tile covering it, the first
  ``P`` of that tile along x and y, so the light drops to the tile's corner level at each
  seam (a step each ``P``); ``blended``: across each overlap the two tiles' light mixes
  linearly (Fiji's *linear blending*), no step. The light multiplies the transmitted light
  (glass and tissue alike) on the finest level, before the pyramid (the pattern is in µm,
  the same whatever level is read);
- ``overexposed x1.3``: ``t * 1.3 / g`` (a bright-field exposure too long: the glass and
  the palest tissue, white matter and layer I, clip at full scale);
- ``masked white``: a lab's masked export (QuPath's or Fiji's *clear outside*): a
  ventricle-like hole (an ellipse three times as wide as high, :data:`VENTRICLE_SHARE` of
  the tissue's area, about the white matter's deepest point) cut from the generator's
  tissue (depth >= 0), and everything outside the tissue, the hole and the glass in the
  sulci, set to 255: the glass becomes a plateau at the top of the range, the hole with it;
  ``masked white x1.3``: the same mask on ``overexposed x1.3``;
- ``fluorescence``: a fluorescent Nissl scan of the same tissue (NeuroTrace-like: somata
  bright on a dark slide). The dye signal is ``(a / m) ** 1.3`` (``m``: the tissue's median
  OD; white matter, with little Nissl substance, darker relative to the grey matter than in
  bright field), plus tissue autofluorescence (0.04 of ``m``'s signal on tissue), light
  falling linearly to x0.75 towards the left edge, a camera offset of
  :data:`FLUOR_OFFSET` DN, shot noise (Poisson) and read noise (SD :data:`FLUOR_READ_SD`
  DN), the tissue's 99.9th percentile at about :data:`FLUOR_TOP` DN; 12-bit data in uint16,
  OME-Zarr, opened with the reader's own judgement of the slide (read inverted; with
  ``--fluorescence-dark`` as ``--slide dark`` opens it, whatever the judgement);
- ``fluorescence saturated``: the same with the gain turned up so that
  :data:`FLUOR_SAT_SHARE` of the tissue's pixels (the brightest somata) clip at 4095 DN.

Per slide: whether its glass is clipped and the share of its tissue at the plateau
(:func:`clipped_note`). Per shift: ROIs measured (and why not), the thickness's relative
change against the clean reading (median, 90th percentile over the ROIs measured in both)
and its relative error against the truth (the apparent thickness, as
``measure_accuracy``), layer I's |change| (µm) and |error| against the ROI's truth, layer
IV decision (shown / undecided) agreement with the clean reading, oblique flags and the
CPU time.

    PYTHONPATH=src python benchmarks/readout_shifts.py --brains 205 206 207 208 --rois 12
        [--shifts clean "gamma 0.6" ...] [--work DIR] [--per-roi]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from cytowords.measure import measure_roi
from cytowords.measure import slide as _slide
from cytowords.sections import open_section
from cytowords.synth import virtual_section

#: a cresyl-violet-like unit OD vector (R, G, B): violet somata absorb green most, red
#: less and blue least (the colour of cresyl-violet-stained Nissl bodies, transmitting blue
#: and some red); not a calibrated vector of one lab's stain
CRESYL = np.array([0.45, 0.80, 0.30]) / np.linalg.norm([0.45, 0.80, 0.30])
#: a slightly tinted empty slide (fractions of full scale, R, G, B)
SLIDE_TINT = np.array([0.97, 0.95, 0.98])
#: noise SD, fraction of full scale
NOISE_SD = 0.02
#: Merker-like contrast exponent on the optical density
MERKER_POWER = 1.8
#: soft-contrast exponent on the optical density (white matter closer to the grey matter)
SOFT_POWER = 0.6

#: the ``fluorescence`` shift's camera: offset and read noise SD (DN), the tissue's 99.9th
#: percentile signal (DN) in a 12-bit range
FLUOR_OFFSET, FLUOR_READ_SD, FLUOR_TOP = 100.0, 5.0, 3000.0
#: the ``fluorescence saturated`` shift's gain: this share of the tissue's pixels reach the
#: 12-bit top (4095 DN) and clip there
FLUOR_SAT_SHARE = 0.03

#: the ``masked white`` shifts' ventricle-like hole, a share of the tissue's area
VENTRICLE_SHARE = 0.15

#: the camera tiles' overlap, a share of the tile's width (the ``tiles`` shifts)
TILE_OVERLAP = 0.1

SHIFTS = (
    "clean", "gamma 0.6", "gamma 1.6", "stain x0.5", "stain x1.6", "gradient", "glass 0.8",
    "stray light", "blur 1 px", "blur 2 px", "JPEG 50", "noise", "12-bit", "RGB cresyl",
    "RGB cresyl JPEG 75", "Merker-like", "Merker-like + blur 1 px", "soft contrast",
    "tiles 1 mm, 15 %", "tiles 0.5 mm, 10 %", "tiles 1 mm, 15 %, blended", "fluorescence",
    "overexposed x1.2", "overexposed x1.3", "fluorescence saturated", "masked white",
    "masked white x1.3",
)


def _tile_axis(n: int, px: float, width_um: float, blended: bool):
    """Along one axis of ``n`` pixels (``px`` µm/px): per pixel, the position (µm from the
    tile's centre) in the last tile covering it and in the one before, and the weight of
    the last (1 when naive, rising linearly across the overlap when ``blended``)."""
    pitch = width_um * (1 - TILE_OVERLAP)
    x = (np.arange(n) + 0.5) * px
    k = np.floor(x / pitch)
    u1 = x - k * pitch  # in [0, pitch): the last tile's first part
    u0 = u1 + pitch  # the tile before, where it still covers (u0 < width)
    w1 = np.ones(n)
    if blended:
        over = (u1 < width_um - pitch) & (k > 0)
        w1[over] = u1[over] / (width_um - pitch)
    return u1 - width_um / 2, u0 - width_um / 2, w1


def tile_light(shape: tuple[int, int], px: float, width_um: float, corner: float,
               blended: bool) -> np.ndarray:
    """The light (share of a tile centre's) of a mosaic of vignetted tiles (see the
    ``tiles`` shifts): ``corner`` the share at a tile's corner."""
    half_diag2 = 2 * (width_um / 2) ** 2
    f2 = half_diag2 / (corner ** -0.5 - 1)
    ay1, ay0, wy = _tile_axis(shape[0], px, width_um, blended)
    ax1, ax0, wx = _tile_axis(shape[1], px, width_um, blended)
    out = np.zeros(shape, np.float32)
    for ay, wya in ((ay1, wy), (ay0, 1 - wy)):
        for ax, wxb in ((ax1, wx), (ax0, 1 - wx)):
            w = np.outer(wya, wxb)
            if not w.any():
                continue
            r2 = ay[:, None] ** 2 + ax[None, :] ** 2
            out += (w / (1 + r2 / f2) ** 2).astype(np.float32)
    return out


def finest_level(seed: int, finest_um: float) -> np.ndarray:
    """Brain ``seed``'s synthetic section at its first level of at least ``finest_um``
    µm/px, as uint8 (the pixels ``measure_accuracy.scan_from`` keeps)."""
    s = virtual_section(seed, pixel_size_um=2.0)
    k = next(i for i, p in enumerate(s.pixel_size_um) if p >= finest_um * 0.9999)
    return np.asarray(s.levels[k].compute()), float(s.pixel_size_um[k])


def _u8(t: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(t * 255.0), 0, 255).astype(np.uint8)


def _od(t: np.ndarray, g: float) -> np.ndarray:
    return np.maximum(-np.log10(np.maximum(t, 1e-4) / g), 0.0)


def shifted(name: str, base: np.ndarray, seed: int, px: float = 16.0) -> tuple[str, np.ndarray]:
    """``(kind, data)`` of shift ``name`` applied to ``base`` (uint8, ``px`` µm/px): ``kind`` is
    ``zarr`` (grey, any dtype), ``tiff`` (RGB), ``jpeg`` (grey or RGB)."""
    from scipy import ndimage as ndi

    t = base.astype(np.float32) / 255.0
    g = float(np.percentile(base, 99.5)) / 255.0
    if name == "clean":
        return "zarr", base
    if name.startswith("gamma"):
        return "zarr", _u8(t ** float(name.split()[1]))
    if name.startswith("stain"):
        k = float(name.split()[1].lstrip("x"))
        return "zarr", _u8(g * (t / g) ** k)
    if name == "glass 0.8":
        return "zarr", _u8(t * 0.8 / g)
    if name.startswith("masked white"):
        under = name.replace("masked white", "overexposed") if " x" in name else "clean"
        _, data = shifted(under, base, seed, px)
        return "zarr", np.where(masked_tissue(seed, base.shape, px), data, 255).astype(np.uint8)
    if name.startswith("overexposed"):
        return "zarr", _u8(t * float(name.split()[1].lstrip("x")) / g)
    if name == "stray light":
        return "zarr", _u8(0.1 + 0.9 * t)
    if name.startswith("blur"):
        return "zarr", _u8(ndi.gaussian_filter(t, float(name.split()[1])))
    if name == "JPEG 50":
        return "jpeg50", base
    if name == "noise":
        rng = np.random.default_rng(seed)
        return "zarr", _u8(t + rng.normal(0, NOISE_SD, t.shape).astype(np.float32))
    if name == "12-bit":
        return "zarr", np.clip(np.rint(t * 4095.0), 0, 4095).astype(np.uint16)
    if name.startswith("RGB cresyl"):
        a = _od(t, g) / CRESYL.mean()
        rgb = np.empty(t.shape + (3,), np.uint8)
        for c in range(3):
            rgb[..., c] = _u8(SLIDE_TINT[c] * 10.0 ** (-a * CRESYL[c]))
        return ("jpeg75" if "JPEG" in name else "tiff"), rgb
    if name.startswith("Merker-like + blur"):
        _, merker = shifted("Merker-like", base, seed)
        sd = float(name.split()[-2])
        return "zarr", _u8(ndi.gaussian_filter(merker.astype(np.float32) / 255.0, sd))
    if name.startswith("tiles"):
        parts = [p.strip() for p in name[len("tiles"):].split(",")]
        width_um = float(parts[0].split()[0]) * 1000.0
        corner = 1 - float(parts[1].split()[0]) / 100.0
        return "zarr", _u8(t * tile_light(t.shape, px, width_um, corner, "blended" in parts))
    if name == "fluorescence":
        return "zarr", fluorescent(base, seed)
    if name == "fluorescence saturated":
        return "zarr", fluorescent(base, seed, saturated=FLUOR_SAT_SHARE)
    if name in ("Merker-like", "soft contrast"):
        a = _od(t, g)
        from skimage.filters import threshold_otsu

        ref = float(np.median(a[a > threshold_otsu(a[::4, ::4])]))  # the tissue's median OD
        a2 = ref * (a / ref) ** (MERKER_POWER if name == "Merker-like" else SOFT_POWER)
        return "zarr", _u8(g * 10.0 ** (-a2))
    raise SystemExit(f"unknown shift {name!r}; expected one of {', '.join(SHIFTS)}")


def masked_tissue(seed: int, shape: tuple[int, int], px: float) -> np.ndarray:
    """Brain ``seed``'s tissue (the generator's, depth >= 0) on a grid of ``shape`` at ``px``
    µm/px, less a ventricle-like ellipse (the ``masked white`` shifts)."""
    from scipy import ndimage as ndi

    from cytowords.synth import section_geometry

    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    q = section_geometry(seed).query((xx.ravel() + 0.5) * px, (yy.ravel() + 0.5) * px)
    depth = np.asarray(q["depth"]).reshape(shape)
    tissue, wm = depth >= 0, depth > 1
    cy, cx = np.unravel_index(np.argmax(ndi.distance_transform_edt(wm)), shape)
    a = np.sqrt(3 * VENTRICLE_SHARE * tissue.sum() / np.pi)
    return tissue & ~(wm & (((xx - cx) / a) ** 2 + ((yy - cy) * 3 / a) ** 2 <= 1))


def fluorescent(base: np.ndarray, seed: int, saturated: float = 0.0) -> np.ndarray:
    """The ``fluorescence`` shift of the uint8 bright-field level ``base``: uint16, 12-bit.
    ``saturated`` > 0: the gain set instead so that this share of the tissue's pixels
    reaches 4095 DN (the ``fluorescence saturated`` shift)."""
    from skimage.filters import threshold_otsu

    rng = np.random.default_rng(seed + 1000)
    t = base.astype(np.float32) / 255.0
    a = _od(t, float(np.percentile(base, 99.5)) / 255.0).astype(np.float32)
    tissue = a > threshold_otsu(a[::4, ::4]) * 0.5
    sig = (a / float(np.median(a[tissue]))) ** 1.3 + 0.04 * tissue
    sig *= np.linspace(0.75, 1.0, sig.shape[1], dtype=np.float32)[None, :]
    if saturated > 0:
        gain = (4095.0 - FLUOR_OFFSET) / float(np.percentile(sig[tissue], 100 * (1 - saturated)))
    else:
        gain = FLUOR_TOP / float(np.percentile(sig[tissue], 99.9))
    electrons = sig * gain
    dn = rng.poisson(np.maximum(electrons, 0)).astype(np.float32) + FLUOR_OFFSET
    dn += rng.normal(0, FLUOR_READ_SD, dn.shape).astype(np.float32)
    return np.clip(np.rint(dn), 0, 4095).astype(np.uint16)


def gradient_section(base: np.ndarray, px: float, x0_um: float, x1_um: float):
    """``base`` with light x0.8 at ``x0_um`` rising to x1.0 at ``x1_um`` (x0.8 / x1.0
    beyond), as a section in memory with the pyramid ``open_section`` derives."""
    import dask.array as da

    from cytowords.sections import Section
    from cytowords.sections.pyramid import extend_pyramid

    x = (np.arange(base.shape[1]) + 0.5) * px
    f = 0.8 + 0.2 * np.clip((x - x0_um) / (x1_um - x0_um), 0.0, 1.0)
    arr = _u8(base.astype(np.float32) / 255.0 * f[None, :].astype(np.float32))
    levels, sizes = extend_pyramid([da.from_array(arr, chunks=1024)], [px])
    return Section(levels=levels, pixel_size_um=sizes, name="gradient")


def write_and_open(kind: str, data: np.ndarray, px: float, folder: Path, tag: str,
                   dark_field: bool | None = None):
    """Write ``data`` as a lab's file of ``kind`` under ``folder`` and open it
    (``dark_field``: as :func:`~cytowords.sections.open_section`'s, None its own judgement)."""
    import tifffile
    from PIL import Image

    from cytowords.sections.write import write_section

    if kind == "zarr":
        path = write_section(folder / f"{tag}.ome.zarr", data, pixel_size_um=px)
        return open_section(path, dark_field=dark_field)
    if kind == "tiff":
        path = folder / f"{tag}.tif"
        tifffile.imwrite(path, data, photometric="rgb", tile=(512, 512), compression="zlib")
        return open_section(path, pixel_size_um=px)
    if kind.startswith("jpeg"):
        path = folder / f"{tag}.jpg"
        Image.fromarray(data).save(path, quality=int(kind[4:]))
        return open_section(path, pixel_size_um=px)
    raise ValueError(kind)


def clipped_note(section) -> str:
    """The slide's overexposure figures: whether its glass is clipped
    (:func:`~cytowords.measure.slide.clipped_glass`) and, if so, the share of its tissue at
    the plateau (:func:`~cytowords.measure.slide.clipped_tissue`, refused from
    :data:`~cytowords.measure.readout.CLIPPED_TISSUE_MAX`)."""
    ref = _slide.slide_reference(section.levels)
    if ref is None or not _slide.clipped_glass(section.levels, ref[0]):
        return "glass not clipped"
    share = _slide.clipped_tissue(section.levels, [float(p) for p in section.pixel_size_um])
    return f"glass clipped, clipped tissue {share:.1%}"


def cpu_s() -> float:
    """CPU seconds of this process (user + system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def summarise(name: str, rows: dict, clean: dict) -> dict:
    """Per-shift figures from ``rows`` (ROI key -> reading) against ``clean``."""
    keys = [k for k in rows if k in clean]
    both = [k for k in keys if rows[k]["measured"] and clean[k]["measured"]]
    meas = [k for k in keys if rows[k]["measured"]]
    th_change = np.array([abs(rows[k]["th"] / clean[k]["th"] - 1) for k in both])
    th_err = np.array([abs(rows[k]["th"] / rows[k]["true_th"] - 1) for k in meas])
    l1_change = np.array([abs(rows[k]["l1"] - clean[k]["l1"]) for k in both])
    l1_change = l1_change[np.isfinite(l1_change)]  # layer I not read on one of the two
    l1_err = np.array([abs(rows[k]["l1"] - rows[k]["true_l1"]) for k in meas])
    l1_err = l1_err[np.isfinite(l1_err)]
    agree = [rows[k]["iv"] == clean[k]["iv"] for k in both]
    lost = sum(clean[k]["iv"] and not rows[k]["iv"] for k in both)
    gained = sum(rows[k]["iv"] and not clean[k]["iv"] for k in both)
    why: dict[str, int] = {}
    for k in keys:
        if not rows[k]["measured"]:
            for r in rows[k]["reasons"]:
                why[r] = why.get(r, 0) + 1

    def q(a: np.ndarray, p: float, fmt: str) -> str:
        return format(np.percentile(a, p), fmt) if a.size else "-"

    return {
        "shift": name,
        "measured": f"{len(meas)}/{len(keys)}",
        "lost": sum(clean[k]["measured"] and not rows[k]["measured"] for k in keys),
        "th_change": f"{q(th_change, 50, '.1%')} / {q(th_change, 90, '.1%')}",
        "th_change_max": q(th_change, 100, ".1%"),
        "th_err": f"{q(th_err, 50, '.1%')} / {q(th_err, 90, '.1%')}",
        "l1_change": f"{q(l1_change, 50, '.0f')} / {q(l1_change, 90, '.0f')}",
        "l1_err": f"{q(l1_err, 50, '.0f')} / {q(l1_err, 90, '.0f')}",
        "iv_agree": f"{sum(agree)}/{len(agree)} (lost {lost}, gained {gained})",
        "oblique": f"{sum(rows[k]['oblique'] for k in meas)}",
        "why": why,
    }


def reading(r, tr) -> dict:
    """The figures of one readout ``r`` of a ROI with truth ``tr``."""
    ok = bool(r.measured)
    return {
        "measured": ok,
        "reasons": (
            [x for x in r.reasons if x.startswith(("no ", "not cortex", "overexposed"))]
            if not ok else []
        ),
        "th": float(r.thickness_mm) if ok else float("nan"),
        "true_th": tr["apparent_thickness_um"] / 1000.0,
        "l1": float(r.layers.layer_i_width_um) if ok else float("nan"),
        "true_l1": float(tr["layer_i_width_um"]),
        "iv": bool(ok and r.layers.iv_present),
        "oblique": bool(ok and r.oblique),
    }


def main() -> None:
    from measure_accuracy import sample_rois

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brains", type=int, nargs="+", default=[205, 206, 207, 208])
    ap.add_argument("--rois", type=int, default=12, help="ROIs per brain (one per area)")
    ap.add_argument("--side-mm", type=float, default=3.0)
    ap.add_argument("--profile-um", type=float, default=16.0)
    ap.add_argument("--finest-um", type=float, default=16.0)
    ap.add_argument("--shifts", nargs="+", default=list(SHIFTS))
    ap.add_argument("--work", default=None, help="folder for the shifted files (default: a temporary one)")
    ap.add_argument("--per-roi", action="store_true", help="print every ROI's reading")
    ap.add_argument("--fluorescence-dark", action="store_true",
                    help="open the fluorescence shifts as --slide dark does (read inverted) "
                    "instead of by the reader's own judgement of the slide")
    args = ap.parse_args()
    shifts = ["clean"] + [s for s in args.shifts if s != "clean"]
    for s in shifts:
        if s not in SHIFTS:
            raise SystemExit(f"--shifts: unknown shift {s!r}; expected one of {', '.join(SHIFTS)}")
    rng = np.random.default_rng(0)  # the same stream as measure_accuracy: the same ROIs
    results: dict[str, dict] = {s: {} for s in shifts}
    cpu: dict[str, float] = {s: 0.0 for s in shifts}
    work = Path(args.work or tempfile.mkdtemp(prefix="readout_shifts_"))
    work.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.time(), cpu_s()
    for seed in args.brains:
        base, px = finest_level(seed, args.finest_um)
        rois = sample_rois(seed, args.rois, args.side_mm * 1000, rng)
        print(f"brain {seed}: {len(rois)} ROIs, finest level {px:g} µm/px, {cpu_s() - c0:.0f} s CPU", flush=True)
        for name in shifts:
            c1 = cpu_s()
            _slide._REF_CACHE.clear()
            _slide._MATTER_CACHE.clear()
            section = None
            if name != "gradient":
                kind, data = shifted(name, base, seed, px)
                dark = True if args.fluorescence_dark and name.startswith("fluorescence") else None
                section = write_and_open(kind, data, px, work, f"{seed}-{name.replace(' ', '_')}",
                                         dark_field=dark)
                del data
                print(f"  {seed} {name}: {clipped_note(section)}", flush=True)
            for i, (v, tr) in enumerate(rois):
                if name == "gradient":
                    _slide._REF_CACHE.clear()
                    section = gradient_section(base, px, float(v[:, 1].min()), float(v[:, 1].max()))
                r = measure_roi(section, v, cells=False, profile_um=args.profile_um)
                row = reading(r, tr)
                results[name][(seed, i)] = row
                if args.per_roi:
                    c = results["clean"].get((seed, i))
                    dth = f"{row['th'] / c['th'] - 1:+.1%}" if c and row["measured"] and c["measured"] else "-"
                    print(
                        f"  {seed} {tr['area']:>6} {name:>18}: "
                        + (f"{row['th']:.2f} mm ({dth} vs clean, truth {row['true_th']:.2f}), "
                           f"layer I {row['l1']:.0f} µm (truth {row['true_l1']:.0f}), IV {row['iv']}"
                           f"{', oblique' if row['oblique'] else ''}" if row["measured"]
                           else "not measured: " + "; ".join(row["reasons"] or r.reasons[:1])),
                        flush=True,
                    )
            cpu[name] += cpu_s() - c1
            for p in work.glob(f"{seed}-*"):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    n_brains = len(args.brains)
    print(
        f"\nbrains {' '.join(map(str, args.brains))}, {args.rois} ROIs each, {args.side_mm:g} mm "
        f"squares, profile {args.profile_um:g} µm/px, finest level {args.finest_um:g} µm/px; "
        f"{time.time() - t0:.0f} s wall, {cpu_s() - c0:.0f} s CPU"
    )
    head = ("shift", "measured", "thickness change vs clean med/90th", "thickness error vs truth "
            "med/90th", "layer I |change| µm med/90th", "layer I |error| µm med/90th",
            "layer IV as clean (shown/undecided)", "oblique", "CPU s/brain")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    clean = results["clean"]
    for name in shifts:
        s = summarise(name, results[name], clean)
        print(
            f"| {name} | {s['measured']} | {s['th_change']} (max {s['th_change_max']}) | "
            f"{s['th_err']} | {s['l1_change']} | {s['l1_err']} | {s['iv_agree']} | "
            f"{s['oblique']} | {cpu[name] / n_brains:.0f} |"
        )
    for name in shifts:
        s = summarise(name, results[name], clean)
        if s["why"]:
            print(f"{name}: not measured: " + "; ".join(f"{k} ({v})" for k, v in s["why"].items()))


if __name__ == "__main__":
    main()
