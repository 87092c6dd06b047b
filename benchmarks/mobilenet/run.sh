#!/usr/bin/env bash
# The MobileNet-v2-style CIFAR model's quantization results (BENCHMARKS.md "MobileNet"): PTQ at
# W8A8 power-of-two per tensor (plain / + CLE / + CLE + bias correction / + AdaRound), the
# per-channel float-scale reference, W4A8 AdaRound, W6A8, each evaluated on the 10,000 test images,
# exported and checked against the integer simulator on all 10,000; then QAT at W8A8 and W4A4.
#   benchmarks/mobilenet/run.sh BIN FLOAT.h5 OUT [ptq|qat|all]
set -uo pipefail
BIN=$(cd "$1" && pwd); FLOAT=$2; OUT=$3; WHAT=${4:-all}
ROOT=${QAT_DATA:-../shared}; D=$ROOT/data
mkdir -p "$OUT"
"$BIN/qat" eval --model "$FLOAT" --data "$D/cifar10/test" --json > "$OUT/float.eval.json" 2> "$OUT/float.err"
cat "$OUT/float.eval.json"
q() {
  name=$1; shift; echo "== $name"
  "$BIN/qat" quantize --model "$FLOAT" --calibration-list "$D/cifar10_calibration_512.txt" \
    --output-dir "$OUT/$name" --json "$@" > "$OUT/$name.quantize.json" 2> "$OUT/$name.err"
  "$BIN/qat" eval --model "$OUT/$name" --data "$D/cifar10/test" --json > "$OUT/$name.eval.json" 2>> "$OUT/$name.err"
  cat "$OUT/$name.eval.json"
  if "$BIN/qat" export --model "$OUT/$name" --output-dir "$OUT/$name-deploy" > "$OUT/$name.export.txt" 2>> "$OUT/$name.err"; then
    "$BIN/qat" simulate --check --model "$OUT/$name" --deploy "$OUT/$name-deploy" --data "$D/cifar10/test" --json \
      > "$OUT/$name.sim.json" 2>> "$OUT/$name.err"
    cat "$OUT/$name.sim.json"
  fi
}
if [ "$WHAT" != qat ]; then
  q w8a8 --bitwidths 8,8 --method min-diffs
  q w8a8-cle --bitwidths 8,8 --method min-diffs --include-cle --replace-relu6
  q w8a8-cle-bc --bitwidths 8,8 --method min-diffs --include-cle --replace-relu6 --include-bias-corr
  q w8a8-cle-adaround --bitwidths 8,8 --method min-diffs --include-cle --replace-relu6 --adaround
  q w8a8-perchannel --bitwidths 8,8 --method min-max --per-channel
  q w4a8-adaround --bitwidths 8,4 --method min-diffs --include-cle --replace-relu6 --adaround
  q w6a8-cle-bc --bitwidths 8,6 --method min-diffs --include-cle --replace-relu6 --include-bias-corr
fi
if [ "$WHAT" != ptq ]; then
  echo "== qat w8a8"
  "$BIN/cifar10-qat" --weights "$FLOAT" --bitwidths 8,8 --epochs 3 --freeze-bn-at 0.8 --output-dir "$OUT/qat-w8a8" \
    > "$OUT/qat-w8a8.log" 2> "$OUT/qat-w8a8.err"
  tail -1 "$OUT/qat-w8a8.log"
  echo "== qat w4a4"
  "$BIN/cifar10-qat" --weights "$FLOAT" --weight-bit 4 --activation-bit 4 --unsigned-activations --residual-bit 8 \
    --freeze-bn-at 0.8 --epochs 15 --output-dir "$OUT/qat-w4a4" > "$OUT/qat-w4a4.log" 2> "$OUT/qat-w4a4.err"
  tail -1 "$OUT/qat-w4a4.log"
fi
