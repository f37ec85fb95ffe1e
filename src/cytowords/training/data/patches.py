"""Labelled patch datasets from labelled sections (real or synthetic, handled alike).

>>> from cytowords.training.data.patches import PatchConfig, build_patch_set
>>> ps = build_patch_set(sections, areas, PatchConfig(pixel_size_um=16, patch_px=128),
...                      cache="run/data/train.npz")               # doctest: +SKIP

For each :class:`~cytowords.training.data.spec.LabelledSection`: choose patch centres on a coarse
class grid (label at the centre; optional purity of the footprint), add ``__none__`` patches
(white matter, unlabelled tissue, background near tissue), then read the chosen patches at
the model resolution with :func:`cytowords.sections.read_fields` in big windows (one per tile
of ``window_px`` model pixels that holds patches), never patch by patch. Patches are stored as
uint8 in [0, 255] (the fields' [0, 1] scaling times 255) with their area label, centre
position in µm (for the spatial contrastive objective), brain and section name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cytowords.atlas import NONE_ID, Atlas, load_atlas
from cytowords.atomic import atomic_file
from cytowords.jobs import Cancelled, Progress
from cytowords.sections import read_fields

from .grid import IGNORE, class_grid, purity
from .spec import LabelledSection

ProgressFn = Progress


@dataclass(frozen=True)
class PatchConfig:
    """How patches are sampled.

    pixel_size_um, patch_px: model resolution and patch side (px); context_px: pixels of
    context read around each patch on every side (the dense encoder's halo; patches are
    stored at :attr:`read_px`, the footprint and labels stay the patch's). n_per_area: patches per
    area and section (fewer when the area is small). none_share: ``__none__`` patches as a
    fraction of the area patches of the section. min_purity: minimal share of the
    cortex in the patch footprint carrying the centre's label (white matter and background are
    not counted; 0 = only the centre counts). grid_um: class grid
    cell (default patch side / 16). window_px: side of the read windows (model pixels).
    seed: sampling seed (combined with the section name). scale_jitter: each field is read
    at ``pixel_size_um × s`` with ``s`` log-uniform in ``[exp(-scale_jitter),
    exp(scale_jitter)]`` (:func:`jitter_factors`; 0.25: about ×0.78 to ×1.28), the same
    centre, so the model sees tissue as a scan with a mis-stated pixel size shows it; 0:
    every field at the model's pixel size."""

    pixel_size_um: float = 16.0
    patch_px: int = 128
    context_px: int = 0
    n_per_area: int = 20
    none_share: float = 0.1
    min_purity: float = 0.0
    grid_um: float | None = None
    window_px: int = 1024
    seed: int = 0
    scale_jitter: float = 0.0

    @property
    def patch_um(self) -> float:
        return self.pixel_size_um * self.patch_px

    @property
    def read_px(self) -> int:
        """Side (px) of a stored patch: ``patch_px + 2 * context_px``."""
        return self.patch_px + 2 * self.context_px

    @property
    def cell_um(self) -> float:
        return float(self.grid_um or self.patch_um / 16.0)


@dataclass
class PatchSet:
    """Patches ``(N, H, W)`` uint8, ``labels`` (N,) area ids or ``__none__``,
    ``positions_um`` (N, 2) ``(y, x)`` centres, ``brains`` and ``sections`` (N,) str."""

    patches: np.ndarray
    labels: np.ndarray
    positions_um: np.ndarray
    brains: np.ndarray
    sections: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> PatchSet:
        return PatchSet(*(getattr(self, k)[mask] for k in _FIELDS))

    @staticmethod
    def concat(parts: list[PatchSet], patch_px: int) -> PatchSet:
        if not parts:
            e = np.zeros(0, dtype="<U32")
            return PatchSet(np.zeros((0, patch_px, patch_px), np.uint8), e, np.zeros((0, 2)), e, e)
        return PatchSet(*(np.concatenate([getattr(p, k) for p in parts]) for k in _FIELDS))

    def save(self, path: str | Path, meta: dict | None = None) -> Path:
        """Write an ``.npz`` atomically (uncompressed; ``meta`` stored as JSON)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path, suffix=".npz") as tmp:
            arrays = {k: getattr(self, k) for k in _FIELDS}
            np.savez(tmp, meta=np.array(json.dumps(meta or {})), **arrays)
        return path

    @staticmethod
    def load(path: str | Path) -> tuple[PatchSet, dict]:
        with np.load(path, allow_pickle=False) as z:
            ps = PatchSet(*(z[k] for k in _FIELDS))
            meta = json.loads(str(z["meta"]))
        return ps, meta


_FIELDS = ("patches", "labels", "positions_um", "brains", "sections")


def _choose(
    cls: np.ndarray, n_areas: int, cfg: PatchConfig, rng: np.random.Generator
) -> list[tuple[int, int, int]]:
    """``(class, i, j)`` grid cells: up to ``n_per_area`` per area, plus the none share."""
    half = max(1, int(round(cfg.patch_um / cfg.cell_um / 2)))
    chosen: list[tuple[int, int, int]] = []
    n_area_patches = 0
    for c in range(n_areas + 1):
        ii, jj = np.nonzero(cls == c)
        if len(ii) == 0:
            continue
        if c == n_areas:
            want = int(round(cfg.none_share * n_area_patches))
        else:
            want = cfg.n_per_area
        order = rng.permutation(len(ii))
        got = 0
        for k in order:
            if got >= want:
                break
            i, j = int(ii[k]), int(jj[k])
            if (
                c < n_areas
                and cfg.min_purity > 0
                and purity(cls, i, j, half, n_areas) < cfg.min_purity
            ):
                continue
            chosen.append((c, i, j))
            got += 1
        if c < n_areas:
            n_area_patches += got
    return chosen


def _rng(cfg: PatchConfig, ls: LabelledSection, stream: str = "") -> np.random.Generator:
    """The sampling generator of one section (``stream`` names an independent one)."""
    key = f"{cfg.seed}/{ls.name}/{ls.brain}" + (f"/{stream}" if stream else "")
    seed = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
    return np.random.default_rng(seed)


def choose_centres(
    ls: LabelledSection, areas: list[str], cfg: PatchConfig, atlas: Atlas | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The fields training samples from one section, before reading them: ``(labels (N,)
    area ids or __none__, centres (N, 2) (y, x) µm)``."""
    atlas = atlas or load_atlas()
    g = cfg.cell_um
    cls = class_grid(ls, areas, atlas, g, none_margin_um=cfg.patch_um / 2)
    rng = _rng(cfg, ls)
    chosen = _choose(cls, len(areas), cfg, rng)
    if not chosen:
        return np.zeros(0, dtype="<U32"), np.zeros((0, 2))
    c = np.array(chosen)
    jitter = rng.uniform(-0.5, 0.5, (len(c), 2)) * g
    centres = (c[:, 1:] + 0.5) * g + jitter
    centres = np.round(centres / cfg.pixel_size_um) * cfg.pixel_size_um
    return np.array([*areas, NONE_ID])[c[:, 0]].astype(str), centres


#: jitter factors are quantised to this many steps per unit of log scale, so the fields of
#: one factor are read together (0.25 of jitter: 17 distinct factors)
JITTER_STEPS = 32


def jitter_factors(n: int, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """``(n,)`` pixel-size factors, log-uniform in ``[exp(-jitter), exp(jitter)]`` and
    quantised to :data:`JITTER_STEPS` per unit of log scale; all 1 for ``jitter`` 0."""
    if jitter <= 0:
        return np.ones(n)
    u = np.round(rng.uniform(-jitter, jitter, n) * JITTER_STEPS) / JITTER_STEPS
    return np.exp(u)


def read_jittered(
    section,
    centres_um: np.ndarray,
    pixel_size_um: float,
    patch_px: int,
    factors: np.ndarray,
    **kw,
) -> np.ndarray:
    """``(M, patch_px, patch_px)`` uint8 fields, field ``i`` read at ``pixel_size_um ×
    factors[i]`` µm/px around ``centres_um[i]`` by :func:`cytowords.sections.read_fields`
    (the fields of one factor together; ``kw`` passed on)."""
    c, f = np.asarray(centres_um, dtype=float).reshape(-1, 2), np.asarray(factors, dtype=float)
    out = np.empty((len(c), patch_px, patch_px), np.uint8)
    for v in np.unique(f):
        m = f == v
        out[m] = read_fields(section, c[m], pixel_size_um * v, patch_px, as_uint8=True, **kw)
    return out


def sample_section(
    ls: LabelledSection, areas: list[str], cfg: PatchConfig, atlas: Atlas | None = None
) -> PatchSet:
    """Labelled patches of one section (see the module docstring)."""
    names, centres = choose_centres(ls, areas, cfg, atlas)
    if not len(names):
        return PatchSet.concat([], cfg.read_px)
    # a stream of its own: the centres do not depend on the jitter
    factors = jitter_factors(len(names), cfg.scale_jitter, _rng(cfg, ls, "jitter"))
    # always in aligned tiles of window_px (a patch set's values do not depend on which
    # other patches were drawn with it)
    patches = read_jittered(
        ls.section,
        centres,
        cfg.pixel_size_um,
        cfg.read_px,
        factors,
        tile_px=cfg.window_px,
        max_window_px=0,
    )
    m = len(names)
    return PatchSet(
        patches,
        names,
        centres.astype(np.float64),
        np.full(m, ls.brain).astype(str),
        np.full(m, ls.name).astype(str),
    )


def build_patch_set(
    sections: list[LabelledSection],
    areas: list[str],
    cfg: PatchConfig,
    *,
    cache: str | Path | None = None,
    on_progress: ProgressFn | None = None,
    cancel: Callable[[], bool] | None = None,
) -> PatchSet:
    """Patches of all ``sections``; loaded from ``cache`` when it was written for the same
    sections, areas and config (so a resumed run never resamples), else sampled and cached."""
    config = asdict(cfg)
    for key in ("context_px", "scale_jitter"):  # keyed only when used: earlier caches stay valid
        if not config[key]:
            config.pop(key)
    key = {
        "config": config,
        "areas": list(areas),
        "sections": [[ls.name, ls.brain, ls.split] for ls in sections],
    }

    def sample() -> PatchSet:
        atlas = load_atlas()
        parts = []
        for i, ls in enumerate(sections):
            if cancel is not None and cancel():
                raise Cancelled("patch sampling cancelled")
            parts.append(sample_section(ls, areas, cfg, atlas))
            if on_progress:
                on_progress(i + 1, len(sections))
        return PatchSet.concat(parts, cfg.read_px)

    return cached_patch_set(cache, key, sample)


def cached_patch_set(
    cache: str | Path | None, key: dict, build: Callable[[], PatchSet]
) -> PatchSet:
    """The patch set cached in ``cache`` (``.npz``) when it was written under the same
    ``key`` (a JSON-able dict of every setting used), else ``build()``'s, cached there."""
    if cache is not None and Path(cache).is_file():
        ps, meta = PatchSet.load(cache)
        if meta.get("key") == key:
            return ps
    ps = build()
    if cache is not None:
        ps.save(cache, {"key": key, "n": len(ps)})
    return ps


def areas_in(sections: list[LabelledSection], atlas: Atlas | None = None) -> list[str]:
    """Area ids present in the labels of ``sections`` (atlas order first, then others)."""
    from .spec import resolve_name

    atlas = atlas or load_atlas()
    found: set[str] = set()
    for ls in sections:
        if ls.rois is not None:
            found |= {resolve_name(n, atlas) for _, n in ls.rois}
            continue
        names = {**ls.labels.names, **ls.label_names}
        coarse = ls.labels.levels[-1].compute()
        for v in np.unique(coarse):
            if int(v) == 0:
                continue
            try:
                name = names.get(int(v)) or atlas.area_of_label(int(v))
            except KeyError:
                name = str(int(v))
            found.add(resolve_name(name, atlas))
    found.discard(NONE_ID)
    ordered = [a for a in atlas.areas if a in found]
    return ordered + sorted(found - set(ordered))


__all__ = [
    "IGNORE",
    "PatchConfig",
    "PatchSet",
    "areas_in",
    "build_patch_set",
    "cached_patch_set",
    "choose_centres",
    "sample_section",
]
