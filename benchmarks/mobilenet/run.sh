#!/usr/bin/env bash
# The MobileNet-v2-style CIFAR model's quantization results (BENCHMARKS.md "MobileNet"): PTQ at
# W8A8 power-of-two per tensor (plain / + CLE / + CLE + bias correction / + AdaRound), the
# per-channel float-scale reference, W4A8 AdaRound, W6A8, each evaluated on the 10,000 test images,
# exported and checked against the integer simulator on all 10,000; then QAT at W8A8 and W4A4.
# The float model is also written as ONNX, and the W8A8 models' QDQ exports are run in ONNX Runtime
# against the simulator on 1,000 test images (PYTHON: a Python with numpy, onnx, onnxruntime).
#   benchmarks/mobilenet/run.sh BIN FLOAT.h5 OUT [ptq|qat|speed|all]
set -uo pipefail
BIN=$(cd "$1" && pwd); FLOAT=$2; OUT=$3; WHAT=${4:-all}
ROOT=${QAT_DATA:-../shared}; D=$ROOT/data
mkdir -p "$OUT"
"$BIN/qat" eval --model "$FLOAT" --data "$D/cifar10/test" --json > "$OUT/float.eval.json" 2> "$OUT/float.err"
cat "$OUT/float.eval.json"
PYTHON=${PYTHON:-python3}
"$BIN/qat" export --format onnx --model "$FLOAT" --output-dir "$OUT/float-onnx" | tee "$OUT/float-onnx.txt"
qdq() {  # quantized dir, tag
  "$BIN/qat-bench" qdq --model "$1" --data-root "$ROOT" --images 1000 --qdq-rounding exact --python "$PYTHON" | tee "$OUT/$2.qdq-exact.json"
  "$BIN/qat-bench" qdq --model "$1" --data-root "$ROOT" --images 1000 --qdq-rounding native --python "$PYTHON" | tee "$OUT/$2.qdq-native.json"
}
sim() {  # a quantized dir under OUT: export and check the simulator on all 10,000 test images
  if "$BIN/qat" export --model "$OUT/$1" --output-dir "$OUT/$1-deploy" > "$OUT/$1.export.txt" 2>> "$OUT/$1.err"; then
    "$BIN/qat" simulate --check --model "$OUT/$1" --deploy "$OUT/$1-deploy" --data "$D/cifar10/test" --json \
      > "$OUT/$1.sim.json" 2>> "$OUT/$1.err"
    cat "$OUT/$1.sim.json"
  fi
}
q() {
  name=$1; shift; echo "== $name"
  "$BIN/qat" quantize --model "$FLOAT" --calibration-list "$D/cifar10_calibration_512.txt" \
    --output-dir "$OUT/$name" --json "$@" > "$OUT/$name.quantize.json" 2> "$OUT/$name.err"
  "$BIN/qat" eval --model "$OUT/$name" --data "$D/cifar10/test" --json > "$OUT/$name.eval.json" 2>> "$OUT/$name.err"
  cat "$OUT/$name.eval.json"
  sim "$name"
}
if [ "$WHAT" = all ] || [ "$WHAT" = ptq ]; then
  q w8a8 --bitwidths 8,8 --method min-diffs
  q w8a8-cle --bitwidths 8,8 --method min-diffs --include-cle --replace-relu6
  q w8a8-cle-bc --bitwidths 8,8 --method min-diffs --include-cle --replace-relu6 --include-bias-corr
  q w8a8-cle-adaround --bitwidths 8,8 --method min-diffs --include-cle --replace-relu6 --adaround
  q w8a8-perchannel --bitwidths 8,8 --method min-max --per-channel
  q w4a8-adaround --bitwidths 8,4 --method min-diffs --include-cle --replace-relu6 --adaround
  q w6a8-cle-bc --bitwidths 8,6 --method min-diffs --include-cle --replace-relu6 --include-bias-corr
  q w8a8-half-even --bitwidths 8,8 --method min-diffs --activation-rounding half_even
  qdq "$OUT/w8a8" w8a8
  qdq "$OUT/w8a8-half-even" w8a8-half-even
fi
if [ "$WHAT" = all ] || [ "$WHAT" = qat ]; then
  echo "== qat w8a8"
  "$BIN/cifar10-qat" --weights "$FLOAT" --bitwidths 8,8 --epochs 3 --freeze-bn-at 0.8 --output-dir "$OUT/qat-w8a8" \
    > "$OUT/qat-w8a8.log" 2> "$OUT/qat-w8a8.err"
  tail -1 "$OUT/qat-w8a8.log"
  sim qat-w8a8
  qdq "$OUT/qat-w8a8" qat-w8a8
  echo "== qat w4a4"
  "$BIN/cifar10-qat" --weights "$FLOAT" --weight-bit 4 --activation-bit 4 --unsigned-activations --residual-bit 8 \
    --freeze-bn-at 0.8 --epochs 15 --output-dir "$OUT/qat-w4a4" > "$OUT/qat-w4a4.log" 2> "$OUT/qat-w4a4.err"
  tail -1 "$OUT/qat-w4a4.log"
  sim qat-w4a4
fi
if [ "$WHAT" = all ] || [ "$WHAT" = speed ]; then
  echo "== simulate speed"
  "$BIN/qat-bench" simulate --model "$FLOAT" --data-root "$ROOT" --images 1000 --repeats 3 | tee "$OUT/simulate-speed.json"
fi
