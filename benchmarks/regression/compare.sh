#!/usr/bin/env bash
# Compares two output folders of run.sh: top-1 and loss per configuration, whether the deploy
# files are byte-identical and the HDF5 payloads value-identical (needs python3 with h5py).
#   benchmarks/regression/compare.sh /tmp/before /tmp/after [python]
set -uo pipefail
A=$1; B=$2; PY=${3:-python3}
here=$(dirname "$0")
for e in "$A"/*.eval.json; do
  name=$(basename "$e" .eval.json)
  printf '%-18s %s | %s\n' "$name" "$(grep -o '"top1":[0-9.]*,*\|"loss":[0-9.]*' "$e" | tr '\n' ' ')" \
    "$(grep -o '"top1":[0-9.]*\|"loss":[0-9.]*' "$B/$name.eval.json" | tr '\n' ' ')"
done
for d in "$A"/*-deploy; do
  name=$(basename "$d")
  same=yes
  for f in deploy.json quant_info.json int8.json xfdnn.json; do cmp -s "$d/$f" "$B/$name/$f" || same="no ($f)"; done
  echo "$name: deploy files identical: $same; payload: $("$PY" "$here/h5compare.py" "$d/weights.h5" "$B/$name/weights.h5" | tail -1)"
done
[ -d "$A/qat" ] && echo "qat checkpoint: $("$PY" "$here/h5compare.py" "$A/qat/quantized.h5" "$B/qat/quantized.h5" | tail -1)"
