"""Domain stage: fit a bundle's domain model (:mod:`cytowords.model.domain`) on fields of
the training sections and calibrate its cutoff on the validation sections.

A stage of :func:`cytowords.training.pipeline.train` (``domain``, after ``cortex``; its
file ``OUT/domain/domain.safetensors`` goes into the bundle), and a command that adds it
to an existing bundle trained on the synthetic brains:

    python -m cytowords.training.stages.domain BUNDLE [--train 0 1 ...] [--val 100 101]

Fit: tissue fields at random positions of the training sections (synthetic brains:
virtual sections of in-scope areas at the model's pixel size; your own data: your train
sections, the first :data:`MAX_SECTIONS`), embedded with one view as the pixel-size check
reads them; grouped by the area head's most probable output (the none class included).
Calibrate: the tissue tiles of the pixel-size check's windows
(:func:`cytowords.sections.scale_check.check_windows_map`, stated size, several window
draws; per-field encoders: its 96 fields) on the validation sections (synthetic: virtual
sections at :data:`VAL_PIXEL_UM`); the cutoff is the ``quantile`` of their domain
distances. Test brains (seeds 200 and up) are refused.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cytowords.model import load_bundle
from cytowords.model.bundle.files import write_hashes
from cytowords.model.domain import DOMAIN_FILE, DomainModel, fit_domain
from cytowords.sections import Section, read_fields
from cytowords.sections.scale_check import (
    DENSE_WINDOWS,
    FIELDS,
    check_windows_map,
    tissue_points,
)
from cytowords.synth.section import virtual_section

from ..presets import TEST_BRAIN_START, VAL_BRAINS, Preset

#: training brains whose fields the domain model is fitted on (the default bundle's first
#: 16 of its 80)
FIT_BRAINS = tuple(range(16))
#: the stage fits on at most this many training sections (brains): the first ones
MAX_SECTIONS = len(FIT_BRAINS)
#: tissue fields per training brain
FIELDS_PER_BRAIN = 500
#: share of validation tiles within the cutoff
QUANTILE = 0.99
#: window draws (seeds of the check's windows) per validation brain
VAL_DRAWS = 4
#: level-0 pixel size (µm) of the validation sections, as the pixel-size benchmark reads
VAL_PIXEL_UM = 16.0
SECTION_MM = (80, 60)
#: the stage's outputs in the run folder
STAGE_DIR = "domain"
#: the vision-only bundle the training run's stage reads with (removed once fitted)
VISION_DIR = "vision"

#: ``(seed, section)`` pairs, made one at a time (a section is dropped once read)
SeededSections = Iterable[tuple[int, Section]]


def _check_brains(brains: Sequence[int], what: str) -> None:
    bad = [b for b in brains if b >= TEST_BRAIN_START]
    if bad:
        raise ValueError(f"{what} brains {bad} are test brains (seeds from {TEST_BRAIN_START})")


def synthetic_sections(
    brains: Sequence[int], pixel_size_um: float, size_mm: tuple[float, float], what: str
) -> Iterator[tuple[int, Section]]:
    """``(seed, virtual section)`` of each synthetic brain (``size_mm`` width × height at
    ``pixel_size_um``), built lazily; ValueError (at once) for test brains."""
    _check_brains(brains, what)
    brains = [int(b) for b in brains]

    def gen() -> Iterator[tuple[int, Section]]:
        for b in brains:
            yield b, virtual_section(b, size_mm=size_mm, pixel_size_um=pixel_size_um)

    return gen()


def training_embeddings(
    bundle: Any,
    sections: SeededSections,
    n_fields: int = FIELDS_PER_BRAIN,
    check: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, np.ndarray]:
    """``(embeddings (N, D), head group (N,))`` of ``n_fields`` random tissue fields (the
    seed's draw) of each section, read at the model's pixel size, one view."""
    embs, groups = [], []
    for seed, sec in sections:
        centres = tissue_points(sec, n_fields, seed=seed) * sec.shape_um
        patches = read_fields(sec, centres, bundle.pixel_size_um, bundle.read_px)
        with torch.inference_mode():
            e = bundle.embed(patches, views=1)
            groups.append(bundle.head(e.to(bundle.device)).argmax(1).cpu().numpy())
        embs.append(e)
        if check is not None:
            check()
    if not embs:
        raise ValueError("domain stage: no training section to fit the domain model on")
    return torch.cat(embs), np.concatenate(groups)


def validation_distances(
    bundle: Any,
    domain: DomainModel,
    sections: Iterable[Section],
    draws: int = VAL_DRAWS,
    check: Callable[[], None] | None = None,
) -> np.ndarray:
    """Domain distances of the fields the pixel-size check reads at the stated size, for
    ``draws`` draws of its random tissue points (seeds 0..draws-1), on each validation
    section: the tissue tiles of its windows (dense encoders), else its per-field sample of
    :data:`~cytowords.sections.scale_check.FIELDS` fields. ``bundle`` (a loaded bundle not
    shared with others) reads them with ``domain`` meanwhile."""
    from cytowords.mapping.dense import dense_layout

    layout = dense_layout(bundle.encoder)
    saved = bundle.domain
    bundle.domain = domain
    try:
        out = []
        for sec in sections:
            for seed in range(draws):
                if layout is None:
                    pts = tissue_points(sec, FIELDS, seed) * sec.shape_um
                    fields = read_fields(sec, pts, bundle.pixel_size_um, bundle.read_px)
                    out.append(domain.distance(bundle.embed(fields, views=1)))
                    continue
                pts = tissue_points(sec, DENSE_WINDOWS, seed) * sec.shape_um
                stride_um = layout.stride_px * float(bundle.pixel_size_um)
                amap = check_windows_map(sec, bundle, pts, stride_um)
                out.append(amap.domain[amap.labels > 0])
            if check is not None:
                check()
    finally:
        bundle.domain = saved
    if not out:
        raise ValueError("domain stage: no validation section to calibrate the cutoff on")
    return np.concatenate(out)


def fit_calibrated(
    bundle: Any,
    train: SeededSections,
    val: Iterable[Section],
    *,
    n_fields: int = FIELDS_PER_BRAIN,
    quantile: float = QUANTILE,
    draws: int = VAL_DRAWS,
    check: Callable[[], None] | None = None,
    **info: Any,
) -> tuple[DomainModel, np.ndarray]:
    """``(domain model, validation distances)``: the model fitted on ``n_fields`` fields
    of each training section, its cutoff the ``quantile`` of the validation distances
    (:func:`validation_distances`); ``info`` is recorded in it (brains, sections)."""
    t0 = time.process_time()
    emb, groups = training_embeddings(bundle, train, n_fields, check)
    model = fit_domain(emb, groups, views=1, **info)
    dist = validation_distances(bundle, model, val, draws, check)
    cutoff = float(np.quantile(dist, quantile))
    model = model.with_cutoff(
        cutoff,
        quantile=quantile,
        val_fields=int(len(dist)),
        val_median=round(float(np.median(dist)), 4),
        cpu_s=round(time.process_time() - t0, 1),
    )
    return model, dist


def fit_bundle_domain(
    bundle_dir: str | Path,
    train_brains: Sequence[int] = FIT_BRAINS,
    val_brains: Sequence[int] = VAL_BRAINS,
    *,
    n_fields: int = FIELDS_PER_BRAIN,
    quantile: float = QUANTILE,
    draws: int = VAL_DRAWS,
    out: str | Path | None = None,
    size_mm: tuple[float, float] = SECTION_MM,
) -> DomainModel:
    """Fit the domain model of the bundle in ``bundle_dir`` on synthetic brains (what the
    stage does for a run on the synthetic brains), calibrate its cutoff, write it as
    :data:`DOMAIN_FILE` into the bundle and rewrite ``hashes.json`` (``out``: write the
    file there instead and leave the bundle as it is). Also writes the validation
    distances beside it (``domain_validation.npy`` in ``out``'s folder, only with
    ``out``). ``size_mm``: width × height of the virtual sections."""
    bundle = load_bundle(bundle_dir, "cpu", captioner=False)  # its own copy: changed below
    train = synthetic_sections(train_brains, bundle.pixel_size_um, size_mm, "training")
    val = (s for _, s in synthetic_sections(val_brains, VAL_PIXEL_UM, size_mm, "validation"))
    model, dist = fit_calibrated(
        bundle,
        train,
        val,
        n_fields=n_fields,
        quantile=quantile,
        draws=draws,
        train_brains=list(train_brains),
        val_brains=list(val_brains),
    )
    if out is not None:
        model.save(out)
        np.save(Path(out).with_name("domain_validation.npy"), dist)
    else:
        root = Path(bundle_dir)
        model.save(root / DOMAIN_FILE)
        write_hashes(root)
    return model


def stage_sections(
    p: Preset, pixel_size_um: float, data: Sequence[Any] | None
) -> tuple[SeededSections, Iterable[Section], dict[str, list]]:
    """``(training sections, validation sections, brains)`` the stage reads: the preset's
    synthetic brains (``data`` None; its first :data:`MAX_SECTIONS` training brains at the
    model's ``pixel_size_um``, the validation brains at :data:`VAL_PIXEL_UM`), else the
    first :data:`MAX_SECTIONS` train and every val :class:`LabelledSection` of ``data``."""
    if data is None:
        h_um, w_um = p.section_size_um
        size_mm = (float(w_um) / 1000.0, float(h_um) / 1000.0)
        brains = list(p.train_brains[:MAX_SECTIONS])
        train = synthetic_sections(brains, pixel_size_um, size_mm, "training")
        val_src = synthetic_sections(p.val_brains, VAL_PIXEL_UM, size_mm, "validation")
        val = (s for _, s in val_src)
        return train, val, {"train_brains": brains, "val_brains": list(p.val_brains)}
    tr = [s for s in data if s.split == "train"][:MAX_SECTIONS]
    va = [s for s in data if s.split == "val"]
    brains = {"train_brains": [s.brain for s in tr], "val_brains": [s.brain for s in va]}
    return [(i, s.section) for i, s in enumerate(tr)], [s.section for s in va], brains


def run_domain(
    p: Preset,
    run: Any,
    out: Path,
    bundle: Callable[[], Any],
    data: Sequence[Any] | None,
    check: Callable[[], None] | None = None,
) -> DomainModel:
    """The ``domain`` stage of a training run in ``out`` (``run``: its
    :class:`~cytowords.training.run_folder.Run`): the model saved by a finished stage, or
    fitted now on :func:`stage_sections` with the preset's ``domain_fields`` and
    ``domain_draws`` and saved to ``out/domain/domain.safetensors`` (validation distances
    beside it). ``bundle()``: the vision parts as a loaded bundle (a copy of its own; one
    it saves in ``out/domain/vision``, :func:`vision_bundle`, is removed afterwards)."""
    folder = out / STAGE_DIR
    path = folder / DOMAIN_FILE
    if run.done("domain") and path.is_file():
        return DomainModel.load(path)
    t0 = time.perf_counter()
    b = bundle()
    train, val, brains = stage_sections(p, float(b.pixel_size_um), data)
    model, dist = fit_calibrated(
        b, train, val, n_fields=p.domain_fields, draws=p.domain_draws, check=check, **brains
    )
    shutil.rmtree(folder / VISION_DIR, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "validation_distances.npy", dist)
    model.save(path)
    run.finish("domain", time.perf_counter() - t0)
    return model


def vision_bundle(folder: Path, parts: dict[str, Any]) -> Any:
    """Save the vision parts (:func:`cytowords.model.save_bundle` arguments without a
    captioner) as a bundle in ``folder`` (replaced) and load it on the CPU: what the
    domain stage reads fields with before the captioner exists."""
    from cytowords.model import save_bundle

    shutil.rmtree(folder, ignore_errors=True)
    save_bundle(folder, captioner=None, **parts)
    return load_bundle(folder, "cpu", captioner=False)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", help="bundle folder to add the domain model to")
    ap.add_argument("--train", type=int, nargs="+", default=list(FIT_BRAINS))
    ap.add_argument("--val", type=int, nargs="+", default=list(VAL_BRAINS))
    ap.add_argument("--fields", type=int, default=FIELDS_PER_BRAIN)
    ap.add_argument("--quantile", type=float, default=QUANTILE)
    ap.add_argument("--draws", type=int, default=VAL_DRAWS)
    ap.add_argument("--out", default=None, help="write the file here, not into the bundle")
    ap.add_argument(
        "--size-mm", type=float, nargs=2, default=list(SECTION_MM), help="section width height"
    )
    a = ap.parse_args(argv)
    m = fit_bundle_domain(
        a.bundle,
        a.train,
        a.val,
        n_fields=a.fields,
        quantile=a.quantile,
        draws=a.draws,
        out=a.out,
        size_mm=tuple(a.size_mm),
    )
    print(json.dumps({"cutoff": m.cutoff, **m.info}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
