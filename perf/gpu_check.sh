#!/usr/bin/env bash
# `make gpu-check`: everything GPU-only, running what this machine has and saying what it skipped.
# Fits in about 10 minutes on one GPU. Results are printed; docs/gpu-results.md records past runs.
set -uo pipefail
WUX=${WUX:-.venv/bin/wux}
PY=${PY:-.venv/bin/python}
OUT=${OUT:-perf_out/gpu-check}
mkdir -p "$OUT"
status=0
has_cuda=$($PY -c "import torch; print(int(torch.cuda.is_available()))")
has_trt=$($PY -c "import importlib.util as u; print(int(u.find_spec('tensorrt') is not None))")
has_ort_cuda=$($PY -c "import onnxruntime as o; print(int('CUDAExecutionProvider' in o.get_available_providers()))")
echo "cuda=$has_cuda tensorrt=$has_trt onnxruntime-cuda=$has_ort_cuda"
$WUX doctor --json > "$OUT/doctor.json" && $WUX doctor

echo "== pytest -m gpu"
$PY -m pytest -q -m gpu -rs || status=1
if [ "$has_cuda" != 1 ]; then
  echo "SKIPPED: export / verify / bench on CUDA (no CUDA device)"
  exit $status
fi

formats=(--to torchscript --to onnx)
if [ "$has_trt" = 1 ]; then formats+=(--to trt); else echo "SKIPPED: TensorRT plans (tensorrt not installed)"; fi
[ "$has_ort_cuda" = 1 ] || echo "SKIPPED: ONNX Runtime CUDA provider (onnxruntime-gpu not installed); ONNX artifacts are skipped on cuda"

echo "== wux export ${formats[*]} --precision fp32 --precision fp16 --device cuda"
$WUX export "${formats[@]}" --precision fp32 --precision fp16 --device cuda --out "$OUT/build" --force \
  --timing-cache "$OUT/timing.cache" --no-verify || status=1
echo "== wux verify --device cuda"
$WUX verify "$OUT/build" --device cuda --json > "$OUT/verify.json"; verify_rc=$?
$WUX verify "$OUT/build" --device cuda || true
[ $verify_rc = 0 ] || status=1
echo "== wux bench --device cuda"
$WUX bench "$OUT/build" --device cuda --batch 1,8,32 --json > "$OUT/bench.json" || status=1
$WUX bench "$OUT/build" --device cuda --batch 1,8,32 || status=1
exit $status
