"""CPU seconds per view of dense evaluation over a whole section with the dense encoder.

Random weights at the default bundle's geometry (64 µm/px, 64-px fields, width 32, embed
256): ``dense_embed`` over an 80 × 60 mm section at 64 µm/px (1250 × 940 px, one piece),
float32 and under bfloat16 autocast; also the per-field rate of ``embed`` for comparison.

    OMP_NUM_THREADS=2 python benchmarks/dense_throughput.py [DILATIONS ...]

DILATIONS like ``1-2`` (default) or ``1``. Results are in docs/model.md.
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch

from cytowords.model import CytoEncoder, EncoderConfig


def _best(fn, x: torch.Tensor, repeat: int = 2) -> float:
    """Fastest of ``repeat`` timed calls ``fn(x)`` (s), after a warm-up call."""
    fn(x)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return min(times)


@torch.inference_mode()
def main() -> None:
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    for spec in sys.argv[1:] or ["1-2"]:
        cfg = EncoderConfig(
            pixel_size_um=64.0,
            patch_px=64,
            width=32,
            embed_dim=256,
            arch="dense",
            dilations=tuple(int(d) for d in spec.split("-")),
        )
        enc = CytoEncoder(cfg).eval()
        x = torch.rand(1, 1, 1250, 940)
        res = {"dilations": spec, "input_px": cfg.input_px}
        for name, bf16 in (("fp32", False), ("bf16", True)):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                res[f"section_s_{name}"] = round(_best(enc.dense_embed, x), 2)
        out = enc.dense_embed(x)
        res["outputs"] = list(out.shape[-2:])
        fields = torch.rand(64, 1, cfg.input_px, cfg.input_px)
        res["per_field_fields_per_s_fp32"] = round(64 / _best(enc.embed, fields), 1)
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
