"""Synthetic labelled sections for the synthetic presets (train / validation brains).

Each brain seed gives one virtual section (folded cortical ribbon, in-scope areas only, area
label image ``labels["areas"]``) which the pipeline then handles exactly like a user's
labelled section (``cytowords.training.data``). Uses ``cytowords.synth.virtual_section`` when
the generator provides it; otherwise a lazily rendered section is assembled here from the
generator's public ribbon geometry and window renderer (chunks rendered on demand by dask,
coarser levels rendered directly at their own resolution).
"""

from __future__ import annotations

import math

import dask.array as da
import numpy as np

from cytowords.sections import LabelImage, Section

from .spec import LabelledSection

CHUNK_PX = 512
CELL_TILE_UM = 1000.0


def _blocks(shape: tuple[int, int], fn, dtype) -> da.Array:
    chunks = tuple(tuple(min(CHUNK_PX, n - i) for i in range(0, n, CHUNK_PX)) for n in shape)

    def block(block_info=None):
        info = block_info[None]
        (r0, r1), (c0, c1) = info["array-location"]
        return fn(r0, r1, c0, c1)

    return da.map_blocks(block, chunks=chunks, dtype=dtype, meta=np.empty((0, 0), dtype))


def _fallback_virtual_section(
    seed: int, size_um: tuple[float, float], pixel_size_um: float
) -> Section:
    from cytowords.synth.brain import Brain, stable_seed
    from cytowords.synth.render import render_window
    from cytowords.synth.ribbon import ribbon_geometry

    h_um, w_um = size_um
    geom = ribbon_geometry(int(seed), (float(w_um), float(h_um)), False)
    brain = Brain(int(seed))
    levels, labels, sizes = [], [], []
    p = float(pixel_size_um)
    while True:
        shape = (max(1, int(h_um // p)), max(1, int(w_um // p)))

        def sources(bbox, _seed=seed):
            x0, y0, x1, y1 = bbox
            for ti in range(math.floor(y0 / CELL_TILE_UM), math.floor(y1 / CELL_TILE_UM) + 1):
                for tj in range(math.floor(x0 / CELL_TILE_UM), math.floor(x1 / CELL_TILE_UM) + 1):
                    tb = (
                        tj * CELL_TILE_UM,
                        ti * CELL_TILE_UM,
                        (tj + 1) * CELL_TILE_UM,
                        (ti + 1) * CELL_TILE_UM,
                    )
                    yield tb, np.random.default_rng(stable_seed("vcells", _seed, ti, tj))

        def img(r0, r1, c0, c1, _p=p):
            return render_window(
                geom,
                brain,
                origin_um=(c0 * _p, r0 * _p),
                shape=(r1 - r0, c1 - c0),
                pixel_um=_p,
                cell_sources=sources,
                noise_key=stable_seed("vnoise", seed, round(_p, 3)) % 2**62,
                row0=r0,
                col0=c0,
            )

        def lab(r0, r1, c0, c1, _p=p):
            ys = (np.arange(r0, r1) + 0.5) * _p
            xs = (np.arange(c0, c1) + 0.5) * _p
            gx, gy = np.meshgrid(xs, ys)
            return geom.query(gx, gy)["label"].astype(np.int32)

        levels.append(_blocks(shape, img, np.uint8))
        labels.append(_blocks(shape, lab, np.int32))
        sizes.append(p)
        if max(shape) <= 1024:
            break
        p *= 2
    from cytowords.atlas import load_atlas

    atlas = load_atlas()
    lab_img = LabelImage(labels, list(sizes), atlas.label_names(), atlas.label_colors())
    meta = {"generator": "cytowords.training.synthetic", "seed": int(seed)}
    return Section(levels, sizes, f"synth-brain{seed}", meta, {"areas": lab_img})


def virtual_labelled_section(
    seed: int, split: str, *, size_um: tuple[float, float], pixel_size_um: float
) -> LabelledSection:
    """One synthetic brain as a :class:`LabelledSection` (brain id ``synth-<seed>``)."""
    sec = None
    try:
        from cytowords.synth import virtual_section  # type: ignore[attr-defined]

        sec = virtual_section(int(seed), size_um=size_um, pixel_size_um=pixel_size_um)
    except (ImportError, TypeError):
        sec = None
    if sec is None or "areas" not in sec.labels:
        sec = _fallback_virtual_section(seed, size_um, pixel_size_um)
    return LabelledSection(sec, f"synth-{seed}", split, sec.labels["areas"])
