#!/usr/bin/env bash
# GPU area-map throughput (cytowords map --device cuda): synthesise a virtual section, map it
# on the GPU with mixed precision and with float32, print patches/s, then run the CLI end to
# end. Needs nothing heavy: a venv with a CUDA build of torch and this package installed
# (pip install -e ".[distributed]"), run from the repository root. Fits in < 5 minutes on one
# GPU with ~16 CPU cores (rendering the 48 × 64 mm section takes most of the first minute).
#
#   bash benchmarks/gpu_map.sh            # or: PYTHON=/path/to/python WORKDIR=/tmp/x bash ...
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
WORK=${WORKDIR:-$(mktemp -d -t cytowords-gpumap-XXXX)}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
echo "workdir: $WORK"

"$PY" - <<'PYEOF'
import sys

import torch

if not torch.cuda.is_available():
    sys.exit("gpu_map.sh: torch.cuda.is_available() is False: need a GPU and a CUDA build of torch")
print(f"torch {torch.__version__}, GPU {torch.cuda.get_device_name(0)}, "
      f"bf16 {torch.cuda.is_bf16_supported()}, CPU cores {__import__('os').cpu_count()}")
PYEOF

# 1) throughput: autocast (bf16, or fp16 without bf16 support) vs float32; stride 128 µm
for prec in auto fp32; do
  echo "== precision $prec =="
  timeout 170 "$PY" benchmarks/map_section.py --device cuda --precision "$prec" \
    --only-throughput --size-mm 48 64 --stride-um 128 --batch-size 256 --threads 4 \
    --workdir "$WORK"
done

# 2) end to end through the CLI (resumable OME-Zarr writer, summary)
echo "== cytowords map --device cuda =="
timeout 90 "$PY" -m cytowords map "$WORK/section-48x64mm.ome.zarr" --out "$WORK/map.ome.zarr" \
  --model "$WORK/bundle-default-arch" --device cuda --batch-size 256 --stride-um 256 \
  --overwrite --no-progress
