#!/usr/bin/env bash
# Per-channel int8 models with integer-multiplier requantization (BENCHMARKS.md "Integer multiplier
# requantization"): ResNet-20 (pretrained) and a MobileNet-style float model quantized at W8A8 with
# per-channel weights and `--requantize int16|int32` (half-up, and half-to-even as ONNX Runtime
# rounds), beside the per-channel float-scale reference; each evaluated on the 10,000 test images,
# exported, checked against the integer simulator on all 10,000; the QDQ exports run in ONNX Runtime
# on 1,000 test images: standard QDQ (native) for the half-to-even models, the exact form for the
# half-up ones (PYTHON: a Python with numpy, onnx, onnxruntime).
#   benchmarks/requantize/run.sh BIN OUT [MOBILENET.h5]
set -uo pipefail
BIN=$(cd "$1" && pwd); OUT=$2; MOBILENET=${3:-}
ROOT=${QAT_DATA:-../shared}; D=$ROOT/data; PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
q() {  # model tag, config name, quantize options...
  model=$1; name=$1-$2; shift 2; echo "== $name"
  if [ "$model" = resnet20 ]; then src=(--model "$ROOT/models/resnet20.h5" --arch resnet20); else src=(--model "$MOBILENET"); fi
  "$BIN/qat" quantize "${src[@]}" --calibration-list "$D/cifar10_calibration_512.txt" --bitwidths 8,8 --per-channel \
    --output-dir "$OUT/$name" --json "$@" > "$OUT/$name.quantize.json" 2> "$OUT/$name.err"
  "$BIN/qat" eval --model "$OUT/$name" --data "$D/cifar10/test" --json > "$OUT/$name.eval.json" 2>> "$OUT/$name.err"
  cat "$OUT/$name.eval.json"
  if "$BIN/qat" export --model "$OUT/$name" --output-dir "$OUT/$name-deploy" > "$OUT/$name.export.txt" 2>> "$OUT/$name.err"; then
    "$BIN/qat" simulate --check --model "$OUT/$name" --deploy "$OUT/$name-deploy" --data "$D/cifar10/test" --json \
      > "$OUT/$name.sim.json" 2>> "$OUT/$name.err"
    cat "$OUT/$name.sim.json"
  fi
}
qdq() {  # quantized dir name, native | exact
  "$BIN/qat-bench" qdq --model "$OUT/$1" --data-root "$ROOT" --images 1000 --qdq-rounding "$2" --python "$PYTHON" | tee "$OUT/$1.qdq-$2.json"
}
models=(resnet20); [ -n "$MOBILENET" ] && models+=(mobilenet)
for m in "${models[@]}"; do
  q "$m" float-scale --method min-max
  q "$m" int16 --method min-max --requantize int16
  q "$m" int32 --method min-max --requantize int32
  q "$m" int16-half-even --method min-max --requantize int16 --activation-rounding half_even
  q "$m" int32-half-even --method min-max --requantize int32 --activation-rounding half_even
  qdq "$m-int16-half-even" native
  qdq "$m-int32-half-even" native
  qdq "$m-int16" exact
  qdq "$m-int32" exact
done
