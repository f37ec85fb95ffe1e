"""Render the PNG figures of docs/gallery.md.

python scripts/make_gallery.py [OUT_DIR] [--only NAME ...]; NAME is a figure's file stem
(gallery_in_scope, gallery_unseen, gallery_hard_pairs, gallery_cells, virtual_section,
gallery_realism); without --only every figure is rendered.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cytowords.atlas import load_atlas  # noqa: E402
from cytowords.synth import Brain, render_patch, virtual_section  # noqa: E402

OUT = Path(__file__).parents[1] / "docs" / "images"


def column(area, brain, p=12.0, h_um=4200.0, w_um=600.0, seed=0):
    """A cortical column: background above the pia, all layers, white matter below."""
    return render_patch(
        area, brain, size_um=(h_um, w_um), pixel_size_um=p, depth_offset=-150, seed=seed
    )


def grid(ids, brain, path, ncols, title, p=12.0):
    nrows = int(np.ceil(len(ids) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 0.62, nrows * 3.05), dpi=100)
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, a in zip(np.ravel(axes), ids):
        ax.imshow(column(a, brain, p), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(a, fontsize=7)
    fig.suptitle(title, fontsize=9)
    top = 1 - 0.5 / (nrows * 3.05)
    fig.subplots_adjust(left=0.005, right=0.995, top=top, bottom=0.005, wspace=0.06, hspace=0.12)
    fig.savefig(path)
    plt.close(fig)


def hard_pairs(atlas, path, brains=(11, 12, 13)):
    pairs = atlas.hard_pairs
    fig, axes = plt.subplots(
        2, 5 * 7, figsize=(21, 6.6), dpi=72, gridspec_kw={"width_ratios": ([1] * 6 + [0.35]) * 5}
    )
    for ax in np.ravel(axes):
        ax.axis("off")
    for i, (a, b) in enumerate(pairs):
        r, c0 = divmod(i, 5)
        for j, bs in enumerate(brains):
            for k, area in enumerate((a, b)):
                ax = axes[r, c0 * 7 + 2 * j + k]
                ax.imshow(
                    column(area, Brain(bs), 16.0, 4000.0, 640.0),
                    cmap="gray",
                    vmin=0,
                    vmax=255,
                    interpolation="nearest",
                )
                ax.set_title(f"{area}\nb{bs}", fontsize=7)
    fig.suptitle(
        "Hard pairs side by side in three brains (16 µm/px, 4 mm tall columns)", fontsize=10
    )
    fig.subplots_adjust(left=0.005, right=0.995, top=0.88, bottom=0.005, wspace=0.05, hspace=0.25)
    fig.savefig(path)
    plt.close(fig)


def cells(path, brain=Brain(5)):
    specs = [
        ("hOc1", 900),
        ("hOc2", 700),
        ("4a", 2300),
        ("3b", 700),
        ("44", 1500),
        ("Te1.0", 800),
        ("EC", 300),
        ("s32", 300),
    ]
    fig, axes = plt.subplots(1, len(specs), figsize=(len(specs) * 2.1, 4.4), dpi=100)
    for ax, (a, depth) in zip(axes, specs):
        img = render_patch(a, brain, size_um=(800, 380), pixel_size_um=1.0, depth_offset=depth)
        ax.imshow(img, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{a}, from {depth} µm", fontsize=8)
        ax.axis("off")
    fig.suptitle(
        "Cell detail at 1 µm/px (800 × 380 µm): somata, pyramids pointing to the pia", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def section(path, seed=1):
    sec = virtual_section(seed)
    k = len(sec.levels) - 2
    img = sec.levels[k].compute()
    lab = sec.labels["areas"].levels[k].compute()
    atlas = load_atlas()
    rgb = np.zeros((*lab.shape, 3))
    for v in np.unique(lab):
        if v:
            rgb[lab == v] = matplotlib.colors.to_rgb(atlas.color(atlas.area_of_label(v)))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), dpi=80)
    axes[0].imshow(img, cmap="gray", vmin=0, vmax=255)
    axes[0].set_title(f"virtual section {seed}: level {k} ({sec.pixel_size_um[k]:.0f} µm/px)")
    axes[1].imshow(img, cmap="gray", vmin=0, vmax=255)
    axes[1].imshow(np.dstack([rgb, (lab > 0) * 0.85]))
    axes[1].set_title("ground-truth areas (60 in-scope territories along the ribbon)")
    for ax in axes:
        ax.axis("off")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.92, bottom=0.01, wspace=0.03)
    fig.savefig(path)
    plt.close(fig)


def realism(path, seed=1):
    """Folding, Bok's equivolume variation and vessels of the realistic generator."""
    sec = virtual_section(seed, size_mm=(40, 30), pixel_size_um=4.0)
    k = 3  # 32 µm/px
    whole = sec.levels[k].compute()
    b = Brain(5)
    crown = render_patch("hOc1", b, size_um=(3200, 1200), pixel_size_um=4.0, curvature=0.5,
                         depth_offset=-200, seed=1)  # fmt: skip
    fundus = render_patch("hOc1", b, size_um=(3200, 1200), pixel_size_um=4.0, curvature=-0.8,
                          depth_offset=-200, seed=1)  # fmt: skip
    vessels = render_patch("44", b, size_um=(1600, 1600), pixel_size_um=2.0, depth_offset=1000,
                           seed=2)  # fmt: skip
    fig = plt.figure(figsize=(16, 5.2), dpi=80)
    gs = fig.add_gridspec(1, 4, width_ratios=[4, 1.2, 1.2, 3])
    panels = [
        (whole, f"virtual section {seed}, 40 × 30 mm at {sec.pixel_size_um[k]:.0f} µm/px"),
        (crown, "hOc1 on a crown\n(+0.5/mm)"),
        (fundus, "hOc1 in a fundus\n(−0.8/mm)"),
        (vessels, "area 44, 1.0–2.6 mm deep at 2 µm/px:\nvessels cut across"),
    ]
    for i, (img, title) in enumerate(panels):
        ax = fig.add_subplot(gs[i])
        ax.imshow(img, cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.subplots_adjust(left=0.01, right=0.99, top=0.88, bottom=0.01, wspace=0.05)
    fig.savefig(path)
    plt.close(fig)


def figures(atlas) -> dict:
    """Figure file stem -> function rendering it to a path."""
    b = Brain(5)
    return {
        "gallery_in_scope": lambda p: grid(
            atlas.in_scope_ids,
            b,
            p,
            30,
            "All 60 in-scope areas, brain 5 (12 µm/px, 4.2 × 0.6 mm columns, pia at the top)",
        ),
        "gallery_unseen": lambda p: grid(
            atlas.unseen_ids, b, p, 10, "The 10 unseen areas, brain 5"
        ),
        "gallery_hard_pairs": lambda p: hard_pairs(atlas, p),
        "gallery_cells": cells,
        "virtual_section": section,
        "gallery_realism": realism,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=OUT, help="output folder")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="render only these figures")
    args = parser.parse_args()
    figs = figures(load_atlas())
    names = args.only or list(figs)
    unknown = [n for n in names if n not in figs]
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; expected some of {', '.join(figs)}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = args.out_dir / f"{name}.png"
        t0 = time.perf_counter()
        figs[name](path)
        dt = time.perf_counter() - t0
        print(f"{path}: {path.stat().st_size // 1024} KiB in {dt:.0f} s", flush=True)


if __name__ == "__main__":
    main()
