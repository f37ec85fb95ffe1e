"""The headline test set: fields read from whole held-out sections, as a user meets them.

Per test brain one virtual section (``cytowords.synth.virtual_section``, 80 × 60 mm by
default) holds every in-scope **and** every unseen area side by side along a folded
ribbon, with gradual borders and sulci. Field centres are chosen on a grid of cells
(``patch / 16`` wide, centres on the model's pixel grid) over the section's ground truth
(``section_geometry(...).query``): per area and brain ``per_area`` cells at random inside
that area's cortex (any depth, at borders and in folds alike), plus non-cortex cells (white
matter, and background within half a field of the tissue). The fields are then read by the
describer's field reader (``cytowords.sections.read_fields``) at the model's resolution.

Label = the true area at the field centre; ``purity`` = the share of the cortex in the
field's footprint that belongs to that area (the training pipeline's rule,
:func:`cytowords.training.data.grid.purity`; unseen cortex counts as another area).

A set is cached as ``.npz`` (no pickles, atomic write) keyed by the generator (a hash of
the source of ``cytowords.synth`` and ``cytowords.atlas``, plus
``synth.sampling.GENERATOR_VERSION``), the seeds and every parameter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from importlib import import_module
from pathlib import Path

import numpy as np

from cytowords.atlas import NONE_ID, load_atlas

from ..data.grid import purity as footprint_purity
from .testset import PatchSet, _load_npz, _save_npz

#: default section size (width, height) in mm: that of the training sections and the sample
SECTION_MM = (80.0, 60.0)
#: grid cells across one field (the training pipeline's class grid)
CELLS_PER_FIELD = 16


def source_hash(*packages: str) -> str:
    """SHA-1 (12 hex digits) over the source and data files of ``packages`` (import
    names): changes whenever the generator or the atlas changes."""
    h = hashlib.sha1()
    for name in packages:
        root = Path(import_module(name).__file__).parent
        for f in sorted(root.rglob("*")):
            if f.is_file() and f.suffix in (".py", ".yaml", ".yml", ".json", ".npz", ".txt"):
                h.update(str(f.relative_to(root)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:12]


def generator_key() -> dict:
    """What a cached section set depends on in the generator (see module docstring)."""
    version = getattr(import_module("cytowords.synth.sampling"), "GENERATOR_VERSION", None)
    return {
        "generator_version": version,
        "synth_atlas_source": source_hash("cytowords.synth", "cytowords.atlas"),
    }


def _grid(size_mm: tuple[float, float], cell_um: float, pixel_size_um: float):
    """Cell centres (µm, on the model pixel grid) of a section of ``size_mm``."""
    w_um, h_um = size_mm[0] * 1000.0, size_mm[1] * 1000.0
    xs = np.round((np.arange(int(w_um // cell_um)) + 0.5) * cell_um / pixel_size_um)
    ys = np.round((np.arange(int(h_um // cell_um)) + 0.5) * cell_um / pixel_size_um)
    return np.meshgrid(xs * pixel_size_um, ys * pixel_size_um)


def choose_fields(
    geom,
    areas: Sequence[str],
    *,
    per_area: int,
    n_none: int,
    patch_um: float,
    pixel_size_um: float,
    size_mm: tuple[float, float],
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Field centres of one section: ``centres_um`` ``(N, 2)`` ``(y, x)``, ``labels``,
    ``sub`` (tissue / white_matter / background) and ``purity`` (nan off cortex).

    ``geom`` is the section's ``section_geometry``; ``areas`` the area ids to sample
    (others present on the section still count in the purity as other cortex)."""
    atlas = load_atlas()
    cell = patch_um / CELLS_PER_FIELD
    gx, gy = _grid(size_mm, cell, pixel_size_um)
    q = geom.query(gx, gy)
    ids = list(geom.area_ids)
    by_label = {atlas.label_of(a): i for i, a in enumerate(ids)}
    lab = q["label"]
    cls = np.full(lab.shape, -1, np.int64)
    cortex = lab > 0
    cls[cortex] = [by_label[int(v)] for v in lab[cortex]]
    n_ids = len(ids)
    wm = ~cortex & (q["depth_um"] >= 0)
    bg = (q["depth_um"] < 0) & (q["depth_um"] >= -patch_um / 2)
    cls[wm | bg] = n_ids
    half = CELLS_PER_FIELD // 2
    picks: list[tuple[int, int, str, str]] = []
    for a in areas:
        if a not in ids:
            continue
        ii, jj = np.nonzero(cls == ids.index(a))
        for k in rng.permutation(len(ii))[:per_area]:
            picks.append((int(ii[k]), int(jj[k]), a, "tissue"))
    ii, jj = np.nonzero(cls == n_ids)
    for k in rng.permutation(len(ii))[:n_none]:
        picks.append(
            (int(ii[k]), int(jj[k]), NONE_ID, "white_matter" if wm[ii[k], jj[k]] else "background")
        )
    if not picks:
        return {
            "centres_um": np.zeros((0, 2)),
            "labels": np.zeros(0, str),
            "sub": np.zeros(0, str),
            "purity": np.zeros(0),
        }
    i, j = (np.array([p[k] for p in picks]) for k in (0, 1))
    pur = np.array(
        [
            footprint_purity(cls, a, b, half, n_ids) if lbl != NONE_ID else np.nan
            for a, b, lbl in zip(i, j, (p[2] for p in picks))
        ]
    )
    return {
        "centres_um": np.stack([gy[i, j], gx[i, j]], axis=1),
        "labels": np.array([p[2] for p in picks], dtype=str),
        "sub": np.array([p[3] for p in picks], dtype=str),
        "purity": pur,
    }


def materialise(section, levels: list[np.ndarray] | None = None):
    """The same section with every level in memory (computed, or ``levels`` when given):
    a whole section at a model resolution of 16-64 µm/px is a few MB, and many fields and
    readouts then read it without rendering its chunks again; pixels are identical."""
    import dask.array as da

    from cytowords.sections import Section

    arrays = levels if levels is not None else [np.asarray(lv.compute()) for lv in section.levels]
    return Section(
        levels=[da.from_array(a, chunks=1024) for a in arrays],
        pixel_size_um=list(section.pixel_size_um),
        name=section.name,
        metadata=dict(section.metadata),
        labels=section.labels,
    )


def section_for(
    seed: int,
    pixel_size_um: float,
    size_mm=SECTION_MM,
    include_unseen: bool = True,
    cache_dir: str | Path | None = None,
    variation: str = "realistic",
    realism_off: Iterable[str] = (),
):
    """The held-out brain's virtual section at ``pixel_size_um``, materialised; its levels
    are cached as ``.npz`` in ``cache_dir`` (keyed by the generator and every argument),
    so the readout baseline does not render a section the test set already rendered.
    ``variation`` and ``realism_off`` as in ``virtual_section`` (ablations)."""
    from cytowords.synth import virtual_section

    sec = virtual_section(
        int(seed),
        size_mm=size_mm,
        pixel_size_um=pixel_size_um,
        include_unseen=include_unseen,
        variation=variation,
        realism_off=realism_off,
    )
    if cache_dir is None:
        return materialise(sec)
    parts = [generator_key(), int(seed), pixel_size_um, list(size_mm), bool(include_unseen)]
    if variation != "realistic" or realism_off:
        parts.append([variation, sorted(realism_off)])
    key = json.dumps(parts)
    path = Path(cache_dir) / f"section_{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return materialise(sec, [z[f"level{k}"] for k in range(len(sec.levels))])
    mem = materialise(sec)
    from cytowords.atomic import atomic_file

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, suffix=".npz") as tmp:
        np.savez(tmp, **{f"level{k}": np.asarray(lv) for k, lv in enumerate(mem.levels)})
    return mem


def build_section_set(
    brains: Sequence[int],
    *,
    patch_px: int,
    pixel_size_um: float,
    per_area: int,
    read_px: int | None = None,
    in_scope: Sequence[str] | None = None,
    unseen: Sequence[str] | None = None,
    none_share: float = 0.1,
    size_mm: tuple[float, float] = SECTION_MM,
    rng_seed: int = 0,
    cache_dir: str | Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    variation: str = "realistic",
    realism_off: Iterable[str] = (),
) -> PatchSet:
    """Render (or load from ``cache_dir``) the section-read test set.

    Args:
        brains: brain seeds (one section each; unseen areas on it when ``unseen``).
        patch_px, pixel_size_um: the model's field (px) and resolution (µm/px); the field
            is the footprint of the label's purity.
        per_area: fields per area and brain (fewer where an area's cortex has fewer cells).
        read_px: side (px) of what is read around each centre (default ``patch_px``; a
            dense-encoder bundle's ``read_px``: the field plus the encoder's context).
        in_scope, unseen: area ids (default: the atlas's); ``unseen=[]`` gives sections
            without unseen areas (as the training sections).
        none_share: non-cortex fields per brain as a share of its in-scope fields.
        size_mm: section (width, height) in mm.
        rng_seed: choice of the field centres.
        variation, realism_off: the generator's variation model and the realistic
            components switched off (``virtual_section``; ablations of the test set).
    """
    if per_area < 1:
        raise ValueError(f"fields per area must be at least 1, got {per_area}")
    atlas = load_atlas()
    ins = list(atlas.in_scope_ids if in_scope is None else in_scope)
    uns = list(atlas.unseen_ids if unseen is None else unseen)
    key = json.dumps(
        [
            generator_key(),
            list(map(int, brains)),
            patch_px,
            read_px or patch_px,
            pixel_size_um,
            per_area,
            ins,
            uns,
            none_share,
            list(size_mm),
            rng_seed,
        ]
        + ([[variation, sorted(realism_off)]] if variation != "realistic" or realism_off else []),
        sort_keys=True,
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    path = Path(cache_dir) / f"sections_{digest}.npz" if cache_dir else None
    if path is not None and path.is_file():
        return _load_npz(path)
    from cytowords.sections import read_fields
    from cytowords.synth import section_geometry

    patch_um = patch_px * pixel_size_um
    n_none = int(round(none_share * per_area * len(ins)))
    parts: list[PatchSet] = []
    for n, b in enumerate(brains):
        geom = section_geometry(
            int(b),
            size_mm=size_mm,
            include_unseen=bool(uns),
            variation=variation,
            realism_off=realism_off,
        )
        rng = np.random.default_rng([int(rng_seed), int(b)])
        f = choose_fields(
            geom,
            ins + uns,
            per_area=per_area,
            n_none=n_none,
            patch_um=patch_um,
            pixel_size_um=pixel_size_um,
            size_mm=size_mm,
            rng=rng,
        )
        sec = section_for(
            int(b), pixel_size_um, size_mm, bool(uns), cache_dir, variation, realism_off
        )
        patches = read_fields(
            sec, f["centres_um"], pixel_size_um, read_px or patch_px, as_uint8=True
        )
        lab = f["labels"]
        kind = np.where(lab == NONE_ID, "none", np.where(np.isin(lab, uns), "unseen", "in_scope"))
        part = PatchSet(
            patches, lab, kind, np.full(len(lab), int(b)), f["sub"], f["purity"], f["centres_um"]
        )
        parts.append(part)
        if on_progress is not None:
            on_progress(n + 1, len(brains))
    ps = PatchSet(
        *(
            np.concatenate([getattr(q, k) for q in parts])
            for k in ("patches", "labels", "kind", "brain", "sub", "purity", "centres_um")
        )
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _save_npz(path, ps)
    return ps
