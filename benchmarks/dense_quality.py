"""Does the dense field-quality check give the same verdicts as the per-field one?

A dense area map checks its tiles' fields with :func:`cytowords.sections.quality.
assess_block` (per-pixel maps of the block, summed over each field's box; focus with the
fields' mirrored edges recomputed piece by piece) instead of
:func:`~cytowords.sections.quality.assess_fields` on each cut-out field. This measures
whether the reasons and the focus measure agree, and the time of each.

Blocks: synthetic sections (``cytowords.synth.virtual_section``) rendered at the default
model's 64 µm/px, each degraded as a whole the way ``benchmarks/field_quality.py``
degrades fields (Gaussian blur σ 1, 1.5, 2 px; JPEG quality 30 and 50), over-contrasted
(intensities ×3 − 450 grey levels: the darker half of the tissue clips at 0), and a
patchwork (left third blurred σ 1.5, a JPEG'd band, an over-contrasted band beside clean
tissue: fields straddle the seams). Fields of 80 px (64 px plus 8 px context: the default
dense encoder's window) at every 4 px (its feature stride), as a dense map at the model's
stride checks them:

    python benchmarks/dense_quality.py [--seeds 3 4 5] [--size-mm 24 20]

Prints per block: fields, fields with tissue, the share with the same reason, the share
with the same image-fault flag, the largest focus difference, and seconds per field vs
dense.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cytowords.sections import section_intensity
from cytowords.sections.quality import (
    DEFAULT_THRESHOLDS,
    assess_block,
    assess_fields,
    section_tissue_threshold,
)
from cytowords.synth.section import virtual_section
from cytowords.training.evaluate.shifts import defocus, jpeg_compress

PX_UM, FIELD_PX, STEP_PX = 64.0, 80, 4


def crush(u8: np.ndarray) -> np.ndarray:
    """Over-contrasted scan: the darker half of the tissue clipped at 0."""
    return np.clip(u8.astype(np.float64) * 3.0 - 450, 0, 255).astype(np.uint8)


def patchwork(u8: np.ndarray) -> np.ndarray:
    out = u8.copy()
    h, w = u8.shape
    out[:, : w // 3] = defocus(u8[None], 1.5)[0][:, : w // 3]
    out[: h // 2, w // 3 : 2 * w // 3] = jpeg_compress(u8[None], 40)[0][: h // 2, w // 3 : 2 * w // 3]
    out[h // 2 :, 2 * w // 3 :] = crush(u8)[h // 2 :, 2 * w // 3 :]
    return out


SHIFTS = {
    "clean": lambda u: u,
    "blur 1.0": lambda u: defocus(u[None], 1.0)[0],
    "blur 1.5": lambda u: defocus(u[None], 1.5)[0],
    "blur 2.0": lambda u: defocus(u[None], 2.0)[0],
    "jpeg 30": lambda u: jpeg_compress(u[None], 30)[0],
    "jpeg 50": lambda u: jpeg_compress(u[None], 50)[0],
    "crushed": crush,
    "patchwork": patchwork,
}


def per_field(image: np.ndarray, corners: np.ndarray, thr: float | None):
    """:func:`assess_fields` on the cut-out fields (in chunks: bounded memory)."""
    out = []
    for a in range(0, len(corners), 1024):
        fields = np.stack(
            [image[y : y + FIELD_PX, x : x + FIELD_PX] for y, x in corners[a : a + 1024]]
        )
        out.append(assess_fields(fields, thr, DEFAULT_THRESHOLDS))
    return (
        np.concatenate([q.focus for q in out]),
        sum((q.reasons for q in out), []),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[3, 4, 5])
    ap.add_argument("--size-mm", type=float, nargs=2, default=[24.0, 20.0])
    a = ap.parse_args()
    print("| seed | block | fields | with tissue | same reason | same flag | max Δfocus | per field s | dense s |")
    print("|---|---|---|---|---|---|---|---|---|")
    tot = same_r = same_f = 0
    for seed in a.seeds:
        section = virtual_section(seed, size_mm=tuple(a.size_mm), pixel_size_um=PX_UM)
        inten = section_intensity(section)
        thr = section_tissue_threshold(section)
        u8 = inten.to_uint8(np.asarray(section.levels[0]))
        h, w = u8.shape
        ys, xs = np.mgrid[0 : h - FIELD_PX + 1 : STEP_PX, 0 : w - FIELD_PX + 1 : STEP_PX]
        corners = np.stack([ys.ravel(), xs.ravel()], 1)
        for name, shift in SHIFTS.items():
            image = shift(u8).astype(np.float32) / 255.0
            t0 = time.perf_counter()
            f_ref, r_ref = per_field(image, corners, thr)
            t1 = time.perf_counter()
            q = assess_block(image, corners, FIELD_PX, thr, DEFAULT_THRESHOLDS)
            t2 = time.perf_counter()
            r_ref = np.array([str(r) for r in r_ref])
            r_new = np.array([str(r) for r in q.reasons])
            tissue = r_ref != "tissue"
            faults = ("focus", "compression", "clipped")
            same = r_ref == r_new
            flag = np.isin(r_ref, faults) == np.isin(r_new, faults)
            df = np.nanmax(np.abs(q.focus - f_ref)) if np.isfinite(f_ref).any() else 0.0
            tot += len(same)
            same_r += int(same.sum())
            same_f += int(flag.sum())
            counts = {k: int((r_ref == k).sum()) for k in faults if (r_ref == k).any()}
            print(
                f"| {seed} | {name} {counts} | {len(same)} | {int(tissue.sum())} | "
                f"{same.mean():.4f} | {flag.mean():.4f} | {df:.1e} | {t1 - t0:.2f} | {t2 - t1:.3f} |"
            )
    print(f"\nall blocks: {tot} fields, same reason {same_r / tot:.4f}, same flag {same_f / tot:.4f}")


if __name__ == "__main__":
    main()
