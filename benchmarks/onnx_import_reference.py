#!/usr/bin/env python3
"""ONNX Runtime's side of `qat-bench onnx-import`: writes the 200-node synthetic graph the benchmark
imports (deterministic, random weights) and prints, as one JSON line, the median seconds ONNX
Runtime takes to create an InferenceSession (CPU, default graph optimizations) on each file.

    python benchmarks/onnx_import_reference.py --synthetic OUT.onnx --model resnet20.onnx [--repeats 7]
"""
import argparse
import json
import statistics
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def synthetic(path, nodes=200, seed=0):
    """Residual blocks of Conv -> BatchNormalization -> Relu (+ Add) on 16 channels until the graph
    has `nodes` nodes, then GlobalAveragePool -> Flatten -> Gemm."""
    rng = np.random.default_rng(seed)
    graph, inits = [], []
    x, k = "input", 0

    def init(name, a):
        inits.append(numpy_helper.from_array(np.asarray(a, dtype=np.float32), name))
        return name

    def node(op, inputs, **attrs):
        nonlocal k
        k += 1
        out = f"{op.lower()}_{k}"
        graph.append(helper.make_node(op, inputs, [out], name=f"/{op}_{k}", **attrs))
        return out

    while len(graph) + 7 <= nodes - 3:
        skip = x
        for _ in range(2):
            c = node("Conv", [x, init(f"w{k}", rng.standard_normal((16, 16, 3, 3)) * 0.1)], pads=[1, 1, 1, 1])
            b = node("BatchNormalization", [c] + [init(f"bn{k}.{p}", v) for p, v in
                     [("g", rng.uniform(0.5, 1.5, 16)), ("b", rng.standard_normal(16) * 0.1), ("m", np.zeros(16)), ("v", np.ones(16))]])
            x = node("Relu", [b])
        x = node("Add", [x, skip])
    while len(graph) < nodes - 3:
        x = node("Relu", [x])
    x = node("Flatten", [node("GlobalAveragePool", [x])])
    x = node("Gemm", [x, init("fc.w", rng.standard_normal((10, 16)) * 0.1), init("fc.b", np.zeros(10))], transB=1)
    g = helper.make_graph(graph, "synthetic", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 16, 16, 16])],
                          [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch", 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)
    return len(graph)


def session_seconds(path, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--synthetic", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--repeats", type=int, default=7)
    a = p.parse_args()
    n = synthetic(a.synthetic)
    print(json.dumps({"onnxruntime": ort.__version__, "synthetic_nodes": n,
                      "model_seconds": session_seconds(a.model, a.repeats),
                      "synthetic_seconds": session_seconds(a.synthetic, a.repeats)}))


if __name__ == "__main__":
    main()
