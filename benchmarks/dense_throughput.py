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


def _timed(fn, x: torch.Tensor, warm: torch.Tensor) -> tuple[float, float]:
    """``(wall s, CPU s of all threads)`` of one call ``fn(x)``, after a warm-up call on
    the small ``warm`` (on a shared machine the CPU seconds are the steadier figure)."""
    fn(warm)
    t0, c0 = time.perf_counter(), time.process_time()
    fn(x)
    return time.perf_counter() - t0, time.process_time() - c0


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
        warm = torch.rand(1, 1, cfg.input_px + 16, cfg.input_px + 16)
        for name, bf16 in (("fp32", False), ("bf16", True)):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                wall, cpu = _timed(enc.dense_embed, x, warm)
            res[f"section_{name}_wall_s"], res[f"section_{name}_cpu_s"] = (
                round(wall, 2),
                round(cpu, 2),
            )
        res["outputs"] = [(1250 - cfg.input_px) // 4 + 1, (940 - cfg.input_px) // 4 + 1]
        fields = torch.rand(64, 1, cfg.input_px, cfg.input_px)
        wall, cpu = _timed(enc.embed, fields, fields[:2])
        res["per_field_fields_per_cpu_s_fp32"] = round(64 / cpu, 1)
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
