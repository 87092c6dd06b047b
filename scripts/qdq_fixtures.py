"""QDQ models as other tools write them, for the QDQ import tests (called by onnx_fixtures.py).

Each float network (random weights, no batch norms) is quantized by ONNX Runtime's
`quantize_static` (QDQ format, int8, symmetric) on 16 random calibration inputs. `<name>.qdq.onnx`
then has every scale rounded to the nearest power of two, the weights and int32 biases requantized
to those scales, and a conv / add output read only by a ReLU sharing the ReLU's scale: the
power-of-two form Quark / vai_q write for the DPU. `<name>.ort.onnx` is ONNX Runtime's file as it
wrote it (float scales: refused by the importer until integer-multiplier requantization exists).
ONNX Runtime's outputs on `<name>.qdq.input.bin` are `<name>.qdq.output0.bin`.
"""
import os
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static


def residual(g):
    x = g.op("Relu", [g.conv("input", 3, 8, 3)])
    h = g.op("Relu", [g.conv(x, 8, 8, 3)])
    x = g.op("Relu", [g.op("Add", [x, g.conv(h, 8, 8, 3)])])
    x = g.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])])
    return g.gemm(x, 8, 10)


def branches(g):
    x = g.op("Relu", [g.conv("input", 3, 8, 3, stride=2)])
    d = g.op("Relu", [g.conv(x, 8, 8, 3, group=8)])
    p = g.op("Relu", [g.conv(d, 8, 8, 1)])
    b = g.op("Relu", [g.conv(x, 8, 4, 1)])
    x = g.op("Concat", [p, b], axis=1)
    # (an average over a cell count that is not a power of two has no exact integer form without
    # the DPU's multiplier: export names it)
    x = g.op("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = g.op("Flatten", [x])
    return g.gemm(x, 12 * 4 * 4, 10)


QDQ_FIXTURES = [("residual", residual, [1, 3, 16, 16]), ("branches", branches, [1, 3, 16, 16])]


class Reader(CalibrationDataReader):
    def __init__(self, shape, seed):
        rng = np.random.default_rng(seed)
        self.batches = iter([{"input": rng.standard_normal(shape).astype(np.float32)} for _ in range(16)])

    def get_next(self):
        return next(self.batches, None)


def pow2(s):
    return np.float32(2.0 ** np.round(np.log2(np.float64(s))))


def to_power_of_two(model):
    """Rounds every scale to a power of two, requantizes weights and biases, and lets a tensor read
    only by a ReLU take the ReLU's scale (one rounding, as a fused Conv+ReLU computes it)."""
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    arr = {n: numpy_helper.to_array(t) for n, t in inits.items()}
    readers = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    producer = {o: n for n in g.node for o in n.output}
    old = {}  # weight codes name -> old scale
    for n in g.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in inits and arr[n.input[0]].dtype == np.int8:
            old[n.input[0]] = arr[n.input[1]].copy()
    scales = {n.input[1] for n in g.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")}
    for s in scales:  # nearest power of two (bias scales are set below)
        arr[s] = np.vectorize(pow2)(arr[s]).astype(np.float32)
    # pre-activation tensors share the ReLU's scale
    for n in g.node:
        if n.op_type != "DequantizeLinear" or n.input[0] not in producer:
            continue
        q = producer[n.input[0]]
        users = readers.get(n.output[0], [])
        if len(users) == 1 and users[0].op_type == "Relu":
            relu_q = [r for r in readers.get(users[0].output[0], []) if r.op_type == "QuantizeLinear"]
            if relu_q:
                q.input[1] = n.input[1] = relu_q[0].input[1]
    for codes, s_old in old.items():  # weights at the new scale
        dq = next(n for n in g.node if n.op_type == "DequantizeLinear" and n.input[0] == codes)
        w = arr[codes].astype(np.float64) * s_old
        arr[codes] = np.clip(np.round(w / arr[dq.input[1]]), -127, 127).astype(np.int8)
    for n in g.node:  # int32 biases at input scale x weight scale
        if n.op_type not in ("Conv", "Gemm") or len(n.input) < 3:
            continue
        bias_dq = producer[n.input[2]]
        x_dq, w_dq = producer[n.input[0]], producer[n.input[1]]
        b = arr[bias_dq.input[0]].astype(np.float64) * arr[bias_dq.input[1]]
        s = arr[x_dq.input[1]] * arr[w_dq.input[1]]
        arr[bias_dq.input[0]] = np.round(b / s).astype(np.int32)
        arr[bias_dq.input[1]] = np.asarray(s, dtype=np.float32)
    for name, t in inits.items():
        t.CopyFrom(numpy_helper.from_array(arr[name], name))
    used = {i for n in g.node for i in n.input}
    kept = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(kept)
    return model


def write(out, Graph, seed0):
    manifest = []
    for k, (name, build, shape) in enumerate(QDQ_FIXTURES):
        g = Graph(name, seed0 + k)
        model = g.model(shape, build(g), opset=17)
        with tempfile.TemporaryDirectory() as tmp:
            float_path = os.path.join(tmp, "float.onnx")
            onnx.save(model, float_path)
            ort_path = os.path.join(out, name + ".ort.onnx")
            quantize_static(float_path, ort_path, Reader(shape, seed0 + k), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
        qdq = to_power_of_two(onnx.load(ort_path))
        onnx.checker.check_model(qdq, full_check=True)
        path = os.path.join(out, name + ".qdq.onnx")
        onnx.save(qdq, path)
        x = np.random.default_rng(2000 + k).standard_normal([4] + shape[1:]).astype(np.float32)
        y = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
        x.tofile(os.path.join(out, name + ".qdq.input.bin"))
        y.astype(np.float32).tofile(os.path.join(out, name + ".qdq.output0.bin"))
        manifest.append({"name": name, "input_shape": [4] + shape[1:], "output_shape": list(y.shape),
                         "nodes": len(qdq.graph.node)})
    return manifest
