#!/usr/bin/env bash
# Area maps with the bundled model on a GPU (or any device): dense vs per-field maps of a
# region (same grid, 8 views, one run), then `cytowords map` over a whole virtual section at
# 256 µm and at the model's own pixel, in bf16/fp16 autocast and in float32, with the time of
# each. Needs a venv with a CUDA build of torch and this package's dependencies, run from the
# repository root. About 4 minutes on one H200 with 16 CPU cores (rendering the section takes
# the first minute).
#
#   bash benchmarks/gpu_map.sh              # PYTHON=..., WORKDIR=..., DEVICE=cpu, SIZE_MM="24 18"
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
WORK=${WORKDIR:-$(mktemp -d -t cytowords-gpumap-XXXX)}
DEVICE=${DEVICE:-cuda}
read -r H W <<<"${SIZE_MM:-80 60}"
read -r RH RW <<<"${REGION_MM:-8 6}"
THREADS=${THREADS:-8}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$THREADS}
echo "workdir: $WORK"

DEVICE=$DEVICE "$PY" - <<'PYEOF'
import os
import sys

import torch

if os.environ["DEVICE"].startswith("cuda"):
    if not torch.cuda.is_available():
        sys.exit("gpu_map.sh: torch.cuda.is_available() is False: need a GPU and a CUDA torch")
    print(f"torch {torch.__version__}, GPU {torch.cuda.get_device_name(0)}, "
          f"bf16 {torch.cuda.is_bf16_supported()}, CPU cores {os.cpu_count()}")
else:
    print(f"torch {torch.__version__}, device {os.environ['DEVICE']}, CPU cores {os.cpu_count()}")
PYEOF

# 1) dense vs per-field on a centred region, bundled model, 8 views (renders the section)
echo "== dense vs per field, ${RH} x ${RW} mm region, 8 views =="
timeout 300 "$PY" benchmarks/map_section.py --dense --model default --device "$DEVICE" \
  --size-mm "$H" "$W" --region-mm "$RH" "$RW" --views 8 --threads "$THREADS" --workdir "$WORK"

# 2) the whole section through the CLI: 256 µm and the model's pixel, autocast and float32
SEC="$WORK/section-${H}x${W}mm.ome.zarr"
for prec in auto fp32; do
  for stride in 256 64; do
    echo "== cytowords map, stride $stride µm, precision $prec, 8 views =="
    TIMEFORMAT="wall %R s (process start, model load and pixel-size check included)"
    time timeout 150 "$PY" -m cytowords map "$SEC" --out "$WORK/map-$stride-$prec.ome.zarr" \
      --device "$DEVICE" --precision "$prec" --batch-size 256 --stride-um "$stride" --views 8 \
      --overwrite --no-progress
  done
done
