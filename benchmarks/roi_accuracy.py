"""What a user gets for a drawn region: ROI-level accuracy, rejection and confidence.

``cytowords evaluate`` scores single 4 mm fields; a user draws a region and the describer
reads it as a grid of fields (at least 5) and aggregates them (docs/model.md). This
benchmark draws ROIs on virtual sections of held-out test brains that include the atlas's
unseen areas and describes them with :class:`cytowords.describe.Describer`:

* ``square``: a square of the given side centred on a random cortex pixel of one area,
  kept when at least ``--purity`` of its labelled cortex carries that area: a loosely
  drawn box, with the white matter and background it happens to cover;
* ``outline``: the area's cortex traced within such a square (what a careful user draws).

Prints, per shape and side: in-scope ROIs named correctly, in-scope ROIs rejected as "not
a known area" and unseen-area ROIs rejected, for the describer's verdict (fields that read
as non-cortex do not vote, ``DescribeParams.ignore_noncortex``) and for every field
voting (the verdict before); then how the reported confidence of accepted ROIs matches
their accuracy (bins and expected calibration error).

    python benchmarks/roi_accuracy.py [--model default] [--brains 203 204]
        [--shapes square outline] [--sides-mm 2 4 8] [--per-area 2]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from cytowords.atlas import NONE_ID, load_atlas
from cytowords.describe import DescribeParams, Describer
from cytowords.regions import Roi
from cytowords.synth import virtual_section

BINS = (0.0, 0.5, 0.7, 0.9, 1.0001)


def _outline(img: np.ndarray, value: int, y: int, x: int, half: int, px: float) -> Roi | None:
    """The outline of area ``value``'s cortex around ``(y, x)`` (label pixels) within a
    window of ``2 * half`` pixels: the connected piece that holds the point, as a polygon
    in µm (what a user tracing the area's cortex would draw)."""
    from skimage.measure import approximate_polygon, find_contours, label

    y0, x0 = max(0, y - half), max(0, x - half)
    win = img[y0 : y + half, x0 : x + half] == value
    comp = label(win, connectivity=1)
    piece = np.pad(comp == comp[y - y0, x - x0], 1)
    contours = find_contours(piece.astype(float), 0.5)
    if not contours:
        return None
    c = approximate_polygon(max(contours, key=len), tolerance=1.0)
    if len(c) < 4:
        return None
    try:
        return Roi((c - 1 + [y0, x0]) * px)
    except ValueError:  # degenerate polygon
        return None


def sample_rois(
    section, side_um: float, per_area: int, purity: float, rng, shape: str = "square"
) -> list[tuple]:
    """``(roi, area_id)`` pairs, ``per_area`` per area: ``square``: squares of
    ``side_um`` centred on cortex of the area, kept when at least ``purity`` of their
    labelled cortex is that area (a loosely drawn box, white matter and background
    included); ``outline``: the area's cortex traced within such a square."""
    lab = section.labels["areas"]
    k = int(np.argmin([abs(p - 128.0) for p in lab.pixel_size_um]))
    px = lab.pixel_size_um[k]
    img = np.asarray(lab.levels[k].compute())
    half = int(round(side_um / px / 2))
    out = []
    for value in np.unique(img[img > 0]):
        ys, xs = np.nonzero(img == value)
        got = 0
        for j in rng.permutation(len(ys))[: 40 * per_area]:
            y, x = int(ys[j]), int(xs[j])
            win = img[max(0, y - half) : y + half, max(0, x - half) : x + half]
            cortex = win[win > 0]
            if cortex.size == 0 or np.mean(cortex == value) < purity:
                continue
            if shape == "outline":
                roi = _outline(img, int(value), y, x, half, px)
                if roi is None:
                    continue
            else:
                cy, cx, h = (y + 0.5) * px, (x + 0.5) * px, side_um / 2
                roi = Roi.rectangle(cy - h, cx - h, cy + h, cx + h)
            out.append((roi, lab.names[int(value)]))
            got += 1
            if got == per_area:
                break
    return out


def describe_all(d: Describer, sections: dict, shape: str, side_mm: float, a) -> list[tuple]:
    """``(area, unseen, named, rejected, confidence)`` per sampled ROI, for both verdicts:
    ``named``/``rejected`` with non-cortex fields abstaining (the default) and, after
    them, with every field voting."""
    unseen = set(load_atlas().unseen_ids)
    rng = np.random.default_rng(a.seed)
    rows = []
    for sec in sections.values():
        for roi, area in sample_rois(sec, side_mm * 1000.0, a.per_area, a.purity, rng, shape):
            r = d.describe_roi(sec, roi)
            # the same fields with every field voting (the verdict before non-cortex levels)
            acc = np.array([not f.rejected for f in r.patches])
            all_rej = acc.mean() < d.params.min_accept_share
            # the named area is the best mean probability over the accepted fields either way
            named_all = NONE_ID if all_rej else r.top_k[0][0]
            rows.append(
                (area, area in unseen, r.area, r.rejected, r.probability, named_all, all_rej)
            )
    return rows


def report(rows: list[tuple], title: str) -> None:
    ins = [r for r in rows if not r[1]]
    uns = [r for r in rows if r[1]]
    print(
        f"\n{title}: in-scope {len(ins)} ROIs in {len({r[0] for r in ins})} areas, "
        f"unseen {len(uns)} in {len({r[0] for r in uns})} areas"
    )
    print("  verdict              | in-scope named correctly | in-scope rejected | unseen rejected")
    for name, i_named, i_rej in (("non-cortex abstains", 2, 3), ("every field votes", 5, 6)):
        correct = np.mean([r[i_named] == r[0] for r in ins])
        rej = np.mean([r[i_rej] for r in ins])
        urej = np.mean([r[i_rej] for r in uns]) if uns else float("nan")
        print(f"  {name:20s} | {correct:24.3f} | {rej:17.3f} | {urej:15.3f}")
    for area in sorted({r[0] for r in uns}):
        rej = [r[3] for r in uns if r[0] == area]
        print(f"    unseen {area:6s} rejected {np.mean(rej):.2f} of {len(rej)}")
    acc_rows = [r for r in ins if not r[3]]
    conf = np.array([r[4] for r in acc_rows])
    ok = np.array([r[2] == r[0] for r in acc_rows])
    ece = 0.0
    print("  accepted in-scope ROIs by confidence: bin, ROIs, accuracy, mean confidence")
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        m = (conf >= lo) & (conf < hi)
        if m.any():
            ece += m.mean() * abs(ok[m].mean() - conf[m].mean())
            print(
                f"    [{lo:.1f}, {min(hi, 1):.1f})  {m.sum():5d}  {ok[m].mean():.3f}  {conf[m].mean():.3f}"
            )
    print(f"  expected calibration error {ece:.3f}")


def report_rows(path: str) -> None:
    """The report of every (shape, side) in a ``--rows`` file (runs split by brain or side
    and appended to one file)."""
    groups: dict[tuple, list] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            groups.setdefault((d["shape"], d["side_mm"]), []).append(tuple(d["row"]))
    for (shape, side), rows in sorted(groups.items()):
        report(rows, f"{shape} ROIs of {side:g} mm")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--brains", type=int, nargs="+", default=[203, 204])
    ap.add_argument("--sides-mm", type=float, nargs="+", default=[2.0, 4.0, 8.0])
    ap.add_argument("--shapes", nargs="+", default=["square", "outline"])
    ap.add_argument("--per-area", type=int, default=2, help="ROIs per area, side and brain")
    ap.add_argument("--purity", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    ap.add_argument("--rows", default=None, help="also append each ROI's row to this JSON-lines file")
    ap.add_argument("--report", default=None, help="only print the report of a --rows file")
    a = ap.parse_args()
    if a.report:
        return report_rows(a.report)
    torch.set_num_threads(2)
    d = Describer(a.model, device=a.device, params=DescribeParams(max_new_tokens=4))
    print(
        f"model {a.model}: non-cortex level {d.bundle.noncortex_level()}, "
        f"threshold {d.bundle.threshold:.3f} ({d.bundle.views} views)"
    )
    sections = {
        b: virtual_section(b, size_mm=(80, 60), pixel_size_um=32.0, include_unseen=True)
        for b in a.brains
    }
    for shape in a.shapes:
        for side in a.sides_mm:
            t0 = time.perf_counter()
            rows = describe_all(d, sections, shape, side, a)
            dt = time.perf_counter() - t0
            report(rows, f"{shape} ROIs of {side:g} mm, brains {a.brains} ({dt:.0f} s)")
            if a.rows:
                with open(a.rows, "a", encoding="utf-8") as f:
                    for r in rows:
                        row = [r[0], bool(r[1]), r[2], bool(r[3]), float(r[4]), r[5], bool(r[6])]
                        f.write(json.dumps({"shape": shape, "side_mm": side, "row": row}) + "\n")


if __name__ == "__main__":
    main()
