"""Layer IV from the grain per area class, in 5 mm squares (issue #21).

The benchmark's 3 mm squares (``measure_accuracy.py``) hold few agranular areas: the thick
motor and premotor cortex often leaves no white matter in them. This survey takes one
square of ``--side-mm`` per area (``measure_accuracy.sample_rois``: pia and white matter
inside, the area covering >= 80 % of the cortex), measures it at 16 µm/px with the grain
read at 4 µm/px (no cells; with ``--finest-um 16`` the section is read as a 16 µm/px scan,
so the profile alone decides) and prints per ROI the grain's dip and how far it comes back
below it (``layers.grain_band``), then per truth class (granular, dysgranular,
agranular) how many ROIs the readout shows with a layer IV, beside the dip alone (the
rule before the recovery was required).

    python benchmarks/layer_iv_survey.py --brains 205 206 207 208 209
    python benchmarks/layer_iv_survey.py --brains 254 255 256 257 258 259 --agranular-only
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from measure_accuracy import sample_rois, scan_from, truth_class

from cytowords.measure import measure_roi
from cytowords.measure.layers import IV_GRAIN
from cytowords.synth import virtual_section


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--brains", type=int, nargs="+", default=[205])
    ap.add_argument("--side-mm", type=float, default=5.0)
    ap.add_argument(
        "--finest-um", type=float, default=None,
        help="read each section as a coarse scan starting at its first level of at least this "
        "µm/px (measure_accuracy.scan_from; e.g. 16: no grain)",
    )
    ap.add_argument("--agranular-only", action="store_true", help="measure agranular areas only")
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    #: truth class -> [ROIs, shown by the readout, shown by the dip alone]
    counts: dict[str, list[int]] = {}
    c0, t0 = time.process_time(), time.time()
    for seed in args.brains:
        section = scan_from(virtual_section(seed, pixel_size_um=2.0), args.finest_um)
        for v, tr in sample_rois(seed, 80, args.side_mm * 1000.0, rng):
            cls = truth_class(tr["truth"]["cortex_type"])
            if args.agranular_only and cls != "agranular":
                continue
            r = measure_roi(section, v, cells=False, profile_um=16.0)
            if not r.measured:
                print(f"{seed} {tr['area']:>6} {cls}: not measured: {r.reasons[0]}")
                continue
            lay = r.layers
            dip = lay.grain_prominence >= IV_GRAIN
            c = counts.setdefault(cls, [0, 0, 0])
            c[0] += 1
            c[1] += lay.iv_present is True
            c[2] += dip
            print(
                f"{seed} {tr['area']:>6} {cls}: IV {lay.iv_present} (dip alone {dip}); grain dip "
                f"{lay.grain_prominence:.2f} at {lay.grain_depth:.2f}, back "
                f"{lay.grain_recovery:.2f}; profile {lay.profile_cortex_type} "
                f"{lay.iv_prominence:.2f}; thickness {r.thickness_mm:.2f} mm",
                flush=True,
            )
    print(f"\n{time.time() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU")
    print("truth class: ROIs, shown with a layer IV by the readout, by the dip alone")
    for cls, (n, shown, dip) in sorted(counts.items()):
        print(f"  {cls:>11}: {n}, {shown}, {dip}")


if __name__ == "__main__":
    main()
