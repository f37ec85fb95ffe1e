"""Domain stage: fit a bundle's domain model (:mod:`cytowords.model.domain`) on fields of
training brains and calibrate its cutoff on validation brains, then add it to the bundle.

Fit: tissue fields at random positions of virtual sections of training brains (in-scope
areas only, the model's pixel size), embedded with one view as the pixel-size check reads
them; grouped by the area head's most probable output (the none class included).
Calibrate: the tissue tiles of the pixel-size check's windows
(:func:`cytowords.sections.scale_check.check_windows_map`, stated size, several window
draws; per-field encoders: its 96 fields) on virtual sections of the validation brains; the cutoff is the ``quantile`` of
their domain distances. Test brains (seeds 200 and up) are refused.

    python -m cytowords.training.stages.domain BUNDLE [--train 0 1 ...] [--val 100 101]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from cytowords.model import load_bundle
from cytowords.model.bundle.files import write_hashes
from cytowords.model.domain import DOMAIN_FILE, DomainModel, fit_domain
from cytowords.sections import read_fields
from cytowords.sections.scale_check import (
    DENSE_WINDOWS,
    FIELDS,
    check_windows_map,
    tissue_points,
)
from cytowords.synth.section import virtual_section

from ..presets import TEST_BRAIN_START, VAL_BRAINS

#: training brains whose fields the domain model is fitted on (the default bundle's first
#: 16 of its 80)
FIT_BRAINS = tuple(range(16))
#: tissue fields per training brain
FIELDS_PER_BRAIN = 500
#: share of validation tiles within the cutoff
QUANTILE = 0.99
#: window draws (seeds of the check's windows) per validation brain
VAL_DRAWS = 4
#: level-0 pixel size (µm) of the validation sections, as the pixel-size benchmark reads
VAL_PIXEL_UM = 16.0
SECTION_MM = (80, 60)


def _check_brains(brains: Sequence[int], what: str) -> None:
    bad = [b for b in brains if b >= TEST_BRAIN_START]
    if bad:
        raise ValueError(f"{what} brains {bad} are test brains (seeds from {TEST_BRAIN_START})")


def training_embeddings(
    bundle,
    brains: Sequence[int],
    n_fields: int = FIELDS_PER_BRAIN,
    size_mm: tuple[float, float] = SECTION_MM,
) -> tuple[torch.Tensor, np.ndarray]:
    """``(embeddings (N, D), head group (N,))`` of ``n_fields`` random tissue fields of
    each training brain's virtual section (``size_mm`` width × height, one view)."""
    _check_brains(brains, "training")
    embs, groups = [], []
    for b in brains:
        sec = virtual_section(b, size_mm=size_mm, pixel_size_um=bundle.pixel_size_um)
        centres = tissue_points(sec, n_fields, seed=b) * sec.shape_um
        patches = read_fields(sec, centres, bundle.pixel_size_um, bundle.read_px)
        with torch.inference_mode():
            e = bundle.embed(patches, views=1)
            groups.append(bundle.head(e.to(bundle.device)).argmax(1).cpu().numpy())
        embs.append(e)
    return torch.cat(embs), np.concatenate(groups)


def validation_distances(
    bundle,
    domain: DomainModel,
    brains: Sequence[int] = VAL_BRAINS,
    draws: int = VAL_DRAWS,
    size_mm: tuple[float, float] = SECTION_MM,
) -> np.ndarray:
    """Domain distances of the fields the pixel-size check reads at the stated size, for
    ``draws`` draws of its random tissue points, on each validation brain's virtual section
    (``size_mm``): the tissue tiles of its windows (dense encoders), else its per-field
    sample of :data:`~cytowords.sections.scale_check.FIELDS` fields. ``bundle`` (a loaded bundle not shared with
    others) reads them with ``domain`` meanwhile."""
    from cytowords.mapping.dense import dense_layout

    _check_brains(brains, "validation")
    layout = dense_layout(bundle.encoder)
    saved = bundle.domain
    bundle.domain = domain
    try:
        out = []
        for b in brains:
            sec = virtual_section(b, size_mm=size_mm, pixel_size_um=VAL_PIXEL_UM)
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
    finally:
        bundle.domain = saved
    return np.concatenate(out)


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
    """Fit the domain model of the bundle in ``bundle_dir``, calibrate its cutoff, write
    it as :data:`DOMAIN_FILE` into the bundle and rewrite ``hashes.json`` (``out``: write
    the file there instead and leave the bundle as it is). Also writes the validation
    distances beside it (``domain_validation.npy`` in ``out``'s folder, only with ``out``).
    ``size_mm``: width × height of the virtual sections."""
    t0 = time.process_time()
    bundle = load_bundle(bundle_dir, "cpu", captioner=False)  # its own copy: changed below
    emb, groups = training_embeddings(bundle, train_brains, n_fields, size_mm)
    model = fit_domain(emb, groups, train_brains=list(train_brains), views=1)
    dist = validation_distances(bundle, model, val_brains, draws, size_mm)
    cutoff = float(np.quantile(dist, quantile))
    model = model.with_cutoff(
        cutoff,
        quantile=quantile,
        val_brains=list(val_brains),
        val_fields=int(len(dist)),
        val_median=round(float(np.median(dist)), 4),
        cpu_s=round(time.process_time() - t0, 1),
    )
    if out is not None:
        model.save(out)
        np.save(Path(out).with_name("domain_validation.npy"), dist)
    else:
        root = Path(bundle_dir)
        tmp = root / (DOMAIN_FILE + ".tmp")
        model.save(tmp)
        tmp.replace(root / DOMAIN_FILE)
        write_hashes(root)
    return model


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
