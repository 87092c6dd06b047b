#!/usr/bin/env bash
# Runs the PTQ configurations of BENCHMARKS.md (quantize, eval, export, simulator check on 500
# images) and a one-epoch W4A4 QAT with the binaries in BIN, writing everything under OUT, so two
# builds (e.g. before and after a restructuring) can be compared with compare.sh.
#   benchmarks/regression/run.sh BIN OUT [cifar10-qat width options]
#   e.g. benchmarks/regression/run.sh .build/release /tmp/after --weight-bit 4 --activation-bit 4 --residual-bit 8
set -uo pipefail
BIN=$(cd "$1" && pwd); OUT=$2; shift 2
ROOT=${QAT_DATA:-../shared}; D=$ROOT/data
mkdir -p "$OUT"
q() {
  name=$1; shift; echo "== $name"
  "$BIN/qat" quantize --model "$ROOT/models/resnet20.h5" --arch resnet20 --calibration-list "$D/cifar10_calibration_512.txt" \
    --output-dir "$OUT/$name" --json "$@" > "$OUT/$name.quantize.json" 2> "$OUT/$name.err"
  "$BIN/qat" eval --model "$OUT/$name" --data "$D/cifar10/test" --json > "$OUT/$name.eval.json" 2>> "$OUT/$name.err"
  "$BIN/qat" export --model "$OUT/$name" --output-dir "$OUT/$name-deploy" > "$OUT/$name.export.txt" 2>> "$OUT/$name.err"
  "$BIN/qat" simulate --check --model "$OUT/$name" --deploy "$OUT/$name-deploy" --data "$D/cifar10/test" --limit 500 --json \
    > "$OUT/$name.sim.json" 2>> "$OUT/$name.err"
  cat "$OUT/$name.eval.json"
}
q w8a8 --bitwidths 8,8 --method min-diffs
q w8a8-nonoverflow --bitwidths 8,8 --method non-overflow
q w8a8-entropy --bitwidths 8,8 --method entropy
q w8a8-perchannel --bitwidths 8,8 --method min-max --per-channel
q q88 --bitwidths 16,16 --fix-position 8
q w16-varfp --bitwidths 16,16 --method non-overflow
q w6a8-cle-bc --bitwidths 8,6 --method min-diffs --include-cle --include-bias-corr
q w4a4-res8 --weight-bit 4 --activation-bit 4 --bias-bit 8 --first-layer-bit 8 --last-layer-bit 8 --unsigned-activations --residual-bit 8 --include-bias-corr
q w8a8-percentile --bitwidths 8,8 --method percentile --threshold 0.9999
q w8a8-dpucadf8h --bitwidths 8,8 --arch-type DPUCADF8H --ignore-nodes layer3.2.relu2
q w4a8-adaround --bitwidths 8,4 --method min-diffs --adaround
echo "== qat"
"$BIN/cifar10-qat" "$@" --unsigned-activations --freeze-bn-at 0.8 --epochs 1 --simulate-images 500 \
  --weights "$ROOT/models/resnet20.h5" --output-dir "$OUT/qat" > "$OUT/qat.log" 2> "$OUT/qat.err"
tail -1 "$OUT/qat.log"
"$BIN/qat" export --model "$OUT/qat" --output-dir "$OUT/qat-deploy" > "$OUT/qat.export.txt" 2>> "$OUT/qat.err"
