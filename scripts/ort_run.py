#!/usr/bin/env python3
"""Runs an ONNX model in ONNX Runtime's CPU provider (for the Swift tests of the ONNX writer).

usage: ort_run.py MODEL.onnx INPUT.bin N,C,H,W OUTPUT_PREFIX
Reads a float32 little-endian input of the given shape, checks the model with onnx.checker,
and writes each output k as OUTPUT_PREFIX.k.bin (float32) and its shape as OUTPUT_PREFIX.k.shape.
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    model, data, shape, prefix = sys.argv[1:5]
    onnx.checker.check_model(onnx.load(model), full_check=True)
    dims = [int(d) for d in shape.split(",")]
    x = np.fromfile(data, dtype="<f4").reshape(dims)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: x})
    for k, y in enumerate(outputs):
        np.asarray(y, dtype="<f4").tofile(f"{prefix}.{k}.bin")
        with open(f"{prefix}.{k}.shape", "w") as f:
            f.write(",".join(str(d) for d in y.shape))


if __name__ == "__main__":
    main()
