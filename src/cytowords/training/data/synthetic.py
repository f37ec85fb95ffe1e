"""Synthetic labelled sections for the synthetic presets (train / validation brains).

Each brain seed gives one virtual section (folded cortical ribbon, in-scope areas only, area
label image ``labels["areas"]``) which the pipeline then handles exactly like a user's
labelled section (``cytowords.training.data.patches``); the sections are the generator's
:func:`cytowords.synth.virtual_section`, the same renderer the evaluation reads.
"""

from __future__ import annotations

import math

import dask.array as da
import numpy as np

from cytowords.jobs import Cancelled
from cytowords.sections import Section

from .spec import LabelledSection


def virtual_labelled_section(
    seed: int, split: str, *, size_um: tuple[float, float], pixel_size_um: float
) -> LabelledSection:
    """One synthetic brain as a :class:`LabelledSection` (brain id ``synth-<seed>``): the
    generator's virtual section (:func:`cytowords.synth.virtual_section`, in-scope areas
    only) of ``size_um`` = (height, width) µm at ``pixel_size_um`` µm/px."""
    from cytowords.synth import virtual_section

    h_um, w_um = size_um
    sec = virtual_section(
        int(seed), size_mm=(float(w_um) / 1000.0, float(h_um) / 1000.0), pixel_size_um=pixel_size_um
    )
    return LabelledSection(sec, f"synth-{seed}", split, sec.labels["areas"])


#: section name prefix of rendered fields (each is its own one-patch "section")
RENDERED_PREFIX = "rendered-"
#: section-name prefix of rendered fictitious-area fields (labelled ``__none__`` but cortex)
NOVEL_PREFIX = RENDERED_PREFIX + "novel-"


def is_rendered(sections: np.ndarray) -> np.ndarray:
    """Bool per patch: a field rendered by the generator (not read from a section), from
    the ``sections`` column of a :class:`cytowords.training.data.patches.PatchSet`."""
    return np.char.startswith(np.asarray(sections).astype(str), RENDERED_PREFIX)


def is_novel(sections: np.ndarray) -> np.ndarray:
    """Bool per patch: a rendered fictitious-area field (cortex of no known area, labelled
    ``__none__``), from the ``sections`` column of a patch set."""
    return np.char.startswith(np.asarray(sections).astype(str), NOVEL_PREFIX)


def side_by_side(fields: np.ndarray, pixel_size_um: float, cols: int = 32):
    """The ``(M, n, n)`` uint8 fields side by side in one in-memory
    :class:`~cytowords.sections.Section` of ``pixel_size_um`` µm/px (white between none:
    the cells touch), and the ``(M, 2)`` ``(y, x)`` µm centres of the cells."""
    m, n = len(fields), int(fields.shape[1])
    rows = max(1, -(-m // cols))
    img = np.full((rows * n, cols * n), 255, np.uint8)
    for i, f in enumerate(fields):
        r, q = divmod(i, cols)
        img[r * n : (r + 1) * n, q * n : (q + 1) * n] = f
    i = np.arange(m)
    centres = (np.stack([i // cols, i % cols], 1) * n + n / 2.0) * float(pixel_size_um)
    sec = Section([da.from_array(img)], pixel_size_um=[float(pixel_size_um)], name="fields")
    return sec, centres


def rendered_patch_set(
    brains: list[int] | tuple[int, ...],
    areas: list[str],
    n_per_area: int,
    *,
    pixel_size_um: float,
    patch_px: int,
    none_share: float = 0.0,
    novel_areas: int = 0,
    novel_per_area: int = 2,
    novel_near_areas: int = 0,
    seed: int = 0,
    scale_jitter: float = 0.0,
    on_progress=None,
    cancel=None,
    workers: int = 1,
):
    """Training patches rendered directly by the generator, one brain at a time.

    ``n_per_area`` patches of ``patch_px`` px (the side read per field: the encoder's
    context included) per area and brain with random depth, angle, curvature,
    obliquity and neighbouring borders (:func:`cytowords.synth.sampling.sample_patches`),
    ``none_share`` of them again as ``__none__`` fields (white matter, background,
    artefact), plus ``novel_areas`` fictitious areas (:func:`cytowords.synth.novel.novel_area`,
    spread over the brains, ``novel_per_area`` patches each) and ``novel_near_areas`` near
    misses (``novel_area(k, near=True)``, as many patches each) labelled ``__none__`` for
    outlier exposure. Returns a :class:`cytowords.training.data.patches.PatchSet` whose brains are
    ``synth-<seed>`` (as for virtual sections) and whose section names are unique per patch,
    so the spatial contrastive objective never pairs them; fictitious-area fields are named
    with :data:`NOVEL_PREFIX` (:func:`is_novel`). ``scale_jitter``: each field is rendered
    larger and read at ``pixel_size_um × s``, ``s`` log-uniform in ``[exp(-scale_jitter),
    exp(scale_jitter)]`` (as :attr:`cytowords.training.data.patches.PatchConfig.scale_jitter`).
    ``workers``: brains rendered in that many processes at once (the same patches whatever
    the count).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from .patches import PatchSet

    brains = [int(b) for b in brains]

    def spread(total: int, i: int) -> range:  # brain i's share of ``total`` fictitious areas
        per = -(-total // max(len(brains), 1)) if total else 0
        return range(i * per, min((i + 1) * per, total))

    jobs = [
        dict(
            brain=b,
            areas=list(areas),
            n_per_area=n_per_area,
            pixel_size_um=pixel_size_um,
            patch_px=patch_px,
            none_share=none_share,
            novel=[(k, False) for k in spread(novel_areas, i)]
            + [(k, True) for k in spread(novel_near_areas, i)],
            novel_per_area=novel_per_area,
            seed=seed,
            scale_jitter=scale_jitter,
        )
        for i, b in enumerate(brains)
    ]
    parts: list = [None] * len(jobs)
    pool = None
    if workers > 1 and len(jobs) > 1:  # spawned, not forked: the parent may hold torch threads
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx)
    try:
        pending = [pool.submit(_render_brain, **j) for j in jobs] if pool else []
        for i, j in enumerate(jobs):
            if cancel is not None and cancel():
                raise Cancelled("patch rendering cancelled")
            parts[i] = pending[i].result() if pool else _render_brain(**j)
            if on_progress:
                on_progress(i + 1, len(brains))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return PatchSet.concat(parts, patch_px)


def _render_brain(
    *,
    brain: int,
    areas: list[str],
    n_per_area: int,
    pixel_size_um: float,
    patch_px: int,
    none_share: float,
    novel: list[tuple[int, bool]],
    novel_per_area: int,
    seed: int,
    scale_jitter: float,
):
    """The rendered patches of one brain (:func:`rendered_patch_set`; ``novel``: the
    fictitious areas ``(k, near)`` rendered on it)."""
    from cytowords.atlas import NONE_ID
    from cytowords.synth.novel import novel_area
    from cytowords.synth.sampling import sample_patches

    from .patches import PatchSet, jitter_factors, read_jittered

    def render(ids: list, n: int, rng_seed: int, none: float = 0.0):
        if scale_jitter <= 0:
            kw = dict(size_px=patch_px, pixel_size_um=pixel_size_um, include_nontissue=none)
            return sample_patches([brain], ids, n, rng_seed=rng_seed, **kw)
        # rendered large enough for the coarsest factor, then read at each field's factor
        big = int(math.ceil(patch_px * math.exp(scale_jitter))) + 2
        kw = dict(size_px=big, pixel_size_um=pixel_size_um, include_nontissue=none)
        p, lab, meta = sample_patches([brain], ids, n, rng_seed=rng_seed, **kw)
        sec, centres = side_by_side(p, pixel_size_um)
        f = jitter_factors(len(p), scale_jitter, np.random.default_rng([rng_seed, 7]))
        return read_jittered(sec, centres, pixel_size_um, patch_px, f), lab, meta

    b = brain
    p, lab, _ = render(areas, n_per_area, seed * 100_003 + b, none_share)
    labels = list(lab)
    fict = [novel_area(k, near=True) if near else novel_area(k) for k, near in novel]
    n_known = len(labels)
    if fict:
        pn, ln, _ = render(fict, novel_per_area, seed * 100_003 + b + 50_000)
        p = np.concatenate([p, pn])
        labels += [NONE_ID] * len(ln)
    n = len(labels)
    names = [RENDERED_PREFIX if j < n_known else NOVEL_PREFIX for j in range(n)]
    return PatchSet(
        p,
        np.array(labels, dtype="<U32"),
        np.zeros((n, 2)),
        np.full(n, f"synth-{b}", dtype="<U32"),
        np.array([f"{pre}{b}-{j}" for j, pre in enumerate(names)], dtype="<U32"),
    )


def preset_rendered_set(p, split: str, areas: list[str], cache, on_progress=None, cancel=None):
    """The rendered patches of preset ``p`` for ``split`` (``train``: ``rendered_brains``
    with novel areas; ``val``: ``val_brains``, no novel areas), or None when the preset
    renders none. Cached in ``cache`` (``.npz``) under a key of every setting used."""
    from .patches import cached_patch_set

    if split == "train":
        brains, n, novel = p.rendered_brains, p.rendered_per_area, p.novel_areas
        near, jitter = p.novel_near_areas, p.scale_jitter
    else:  # validation fields calibrate the open-set threshold: at the true scale
        brains, n, novel, near, jitter = p.val_brains, p.rendered_per_area_val, 0, 0, 0.0
    if not brains or n <= 0:
        return None
    from cytowords.synth.sampling import GENERATOR_VERSION

    key = {
        "generator": GENERATOR_VERSION,
        "brains": list(brains),
        "areas": list(areas),
        "n": n,
        "px": [p.pixel_size_um, p.patch_px],
        "none_share": p.none_share,
        "novel": [novel, p.novel_per_area],
        "split": split,
    }
    # fields rendered with the encoder's context (dense arch) are larger; keyed only then,
    # so caches of field-arch runs stay valid
    if p.read_px != p.patch_px:
        key["read_px"] = p.read_px
    if near:  # keyed only when used, so caches of earlier presets stay valid
        key["novel_near"] = near
    if novel or near:  # caches from before fictitious fields were named apart (is_novel)
        key["novel_named"] = True
    if jitter:
        key["scale_jitter"] = jitter
    return cached_patch_set(
        cache,
        key,
        lambda: rendered_patch_set(
            brains,
            areas,
            n,
            pixel_size_um=p.pixel_size_um,
            patch_px=p.read_px,
            none_share=p.none_share,
            novel_areas=novel,
            novel_per_area=p.novel_per_area,
            novel_near_areas=near,
            seed=0 if split == "train" else 1,
            scale_jitter=jitter,
            on_progress=on_progress,
            cancel=cancel,
            workers=max(1, int(p.render_workers)),
        ),
    )
