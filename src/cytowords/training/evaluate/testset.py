"""Held-out evaluation patches: in-scope areas, unseen areas and non-cortex, by brain.

Patches come from :func:`cytowords.synth.sampling.sample_patches` (the same generator the
training pipeline samples from), rendered at the model's resolution (µm/px, patch px) on
TEST brains only (default seeds 200, 201, 202; training uses 0-7, validation 100-101).
A set is cached as ``.npz`` (no pickled objects) in the output folder, keyed by all its
parameters, so a second evaluation run reuses it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cytowords.atlas import NONE_ID, load_atlas

from ..presets import TEST_BRAIN_END, TEST_BRAIN_START
from .shifts import SHIFTS, apply_shift, shift_sampling

KINDS = ("in_scope", "unseen", "none")


@dataclass
class PatchSet:
    """Labelled patches ``uint8 (N, H, W)`` with per-patch ``labels`` (area id or
    ``NONE_ID``), ``kind`` (``in_scope``/``unseen``/``none``), ``brain`` seed and ``sub``
    (generator sub-kind: tissue, white_matter, background, artefact). Fields read from
    sections also carry ``purity`` (share of the cortex in the field's footprint that
    belongs to the centre's area; nan for non-cortex) and ``centres_um`` ``(N, 2)``
    ``(y, x)`` µm; both are None for sampler patches."""

    patches: np.ndarray
    labels: np.ndarray
    kind: np.ndarray
    brain: np.ndarray
    sub: np.ndarray
    purity: np.ndarray | None = None
    centres_um: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, mask: np.ndarray) -> PatchSet:
        """The patches where ``mask`` (bool or index array) holds."""
        return PatchSet(
            *(
                None if a is None else a[mask]
                for a in (
                    self.patches,
                    self.labels,
                    self.kind,
                    self.brain,
                    self.sub,
                    self.purity,
                    self.centres_um,
                )
            )
        )


#: development-test seeds: everyday decisions, ``cytowords evaluate`` by default
DEV_TEST_SEEDS = range(200, 300)
#: published-test seeds: only for the numbers in docs/results.md (``--published``)
PUBLISHED_TEST_SEEDS = range(500, 600)


def eval_seed_range(published: bool = False) -> range:
    """The test-seed range: :data:`PUBLISHED_TEST_SEEDS` with ``published``, else
    :data:`DEV_TEST_SEEDS` (both inside the seeds that training never renders)."""
    r = PUBLISHED_TEST_SEEDS if published else DEV_TEST_SEEDS
    assert TEST_BRAIN_START <= r.start and r.stop <= TEST_BRAIN_END
    return r


def eval_brains(n: int, published: bool = False) -> list[int]:
    """The first ``n`` seeds of the development (or published) test range."""
    r = eval_seed_range(published)
    name = "published" if published else "development"
    if not 1 <= n <= len(r):
        raise ValueError(
            f"--brains {n}: the {name} test range is seeds {r.start}..{r.stop - 1}, "
            f"1 to {len(r)} brains"
        )
    return list(r[:n])


def held_out_brains(n: int, start: int = TEST_BRAIN_START) -> list[int]:
    """Seeds of ``n`` held-out test brains (``start``, ``start + 1``, ...), all below
    :data:`~cytowords.training.presets.TEST_BRAIN_END` (seeds from there on may be training
    brains)."""
    if n < 1:
        raise ValueError(f"--brains must be at least 1, got {n}")
    if start + n > TEST_BRAIN_END:
        raise ValueError(
            f"--brains {n}: test brains are seeds {start}..{TEST_BRAIN_END - 1}, "
            f"at most {TEST_BRAIN_END - start} of them"
        )
    return list(range(start, start + n))


def _save_npz(path: Path, ps: PatchSet) -> None:
    from cytowords.atomic import atomic_file

    with atomic_file(path, suffix=".npz") as tmp:
        np.savez(
            tmp,
            patches=ps.patches,
            labels=ps.labels.astype(str),
            kind=ps.kind.astype(str),
            brain=ps.brain,
            sub=ps.sub.astype(str),
            **{
                k: v
                for k, v in (("purity", ps.purity), ("centres_um", ps.centres_um))
                if v is not None
            },
        )


def _load_npz(path: Path) -> PatchSet:
    with np.load(path, allow_pickle=False) as z:
        extra = [z[k] if k in z.files else None for k in ("purity", "centres_um")]
        return PatchSet(z["patches"], z["labels"], z["kind"], z["brain"], z["sub"], *extra)


def build_patch_set(
    brains: Sequence[int],
    *,
    patch_px: int,
    pixel_size_um: float,
    per_area: int,
    in_scope: Sequence[str] | None = None,
    unseen: Sequence[str] | None = None,
    none_share: float = 0.1,
    shift: str = "none",
    rng_seed: int = 0,
    cache_dir: str | Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> PatchSet:
    """Render (or load from ``cache_dir``) an evaluation set.

    Args:
        brains: brain seeds (held-out for testing; see :func:`test_brains`).
        patch_px, pixel_size_um: the model's input grid (px) and resolution (µm/px).
        per_area: patches per area in total, spread evenly over the brains (rounded up).
        in_scope, unseen: area ids (default: the atlas's in-scope and unseen areas).
        none_share: non-cortex patches (white matter, background, artefact) as a
            fraction of the in-scope patches (at least ``per_area`` in total; 0: none).
        shift: a robustness shift of :data:`SHIFTS` (``none`` for the plain test set).
        rng_seed: placement randomness.
    """
    if shift not in SHIFTS:
        raise ValueError(f"shift {shift!r} unknown; expected one of {', '.join(SHIFTS)}")
    if per_area < 1:
        raise ValueError(f"--patches-per-area must be at least 1, got {per_area}")
    atlas = load_atlas()
    ins = list(atlas.in_scope_ids if in_scope is None else in_scope)
    uns = list(atlas.unseen_ids if unseen is None else unseen)
    n_b = math.ceil(per_area / len(brains))
    from cytowords.synth.sampling import GENERATOR_VERSION

    key = json.dumps(
        [
            GENERATOR_VERSION,
            list(map(int, brains)),
            patch_px,
            pixel_size_um,
            n_b,
            ins,
            uns,
            none_share,
            shift,
            rng_seed,
        ],
        sort_keys=True,
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    path = Path(cache_dir) / f"patches_{shift}_{digest}.npz" if cache_dir else None
    if path is not None and path.is_file():
        return _load_npz(path)
    from cytowords.synth.sampling import sample_patches

    kw = shift_sampling(shift, pixel_size_um)
    total = len(brains) * 2
    parts: list[PatchSet] = []
    for i, b in enumerate(brains):
        # at least n_b non-cortex patches per brain (so >= per_area in total)
        none_in = max(none_share, n_b / max(len(ins) * n_b, 1)) if none_share > 0 else 0.0
        for group, ids, none in (("in_scope", ins, none_in), ("unseen", uns, 0.0)):
            if not ids:
                continue
            p, lab, meta = sample_patches(
                [int(b)],
                ids,
                n_b,
                size_px=patch_px,
                rng_seed=rng_seed * 1000 + i * 2 + (group == "unseen"),
                include_nontissue=none,
                **kw,
            )
            lab = np.array(lab, dtype=str)
            kind = np.where(lab == NONE_ID, "none", group)
            parts.append(
                PatchSet(p, lab, kind, np.full(len(lab), int(b)), np.array(meta["kind"], dtype=str))
            )
            if on_progress is not None:
                on_progress(len(parts), total)
    ps = PatchSet(
        *(
            np.concatenate([getattr(q, f) for q in parts])
            for f in ("patches", "labels", "kind", "brain", "sub")
        )
    )
    ps.patches = apply_shift(shift, ps.patches, seed=rng_seed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _save_npz(path, ps)
    return ps
