#!/usr/bin/env python3
"""Generates the small ONNX graphs the ONNX import tests compare against ONNX Runtime.

Each fixture is a random-weight network of a family users bring (MobileNet v1 / v2, VGG,
Inception, squeeze-excite, MobileNet v3 blocks, U-Net decoder, activation heads, a Transpose/Reshape/MatMul classifier,
shape subgraphs, older and newer opsets, external data). For each one the script writes
<name>.onnx, the input it fed ONNX Runtime (<name>.input.bin, float32) and ONNX Runtime's outputs
(<name>.output<k>.bin), and lists them in manifest.json; qdq_fixtures.py adds QDQ models as ONNX
Runtime's quantizer writes them (manifest "qdq"). Deterministic: numpy seed per fixture.

    python scripts/onnx_fixtures.py OUTPUT_DIR     (needs numpy, onnx, onnxruntime)
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import qdq_fixtures


class Graph:
    """A graph under construction: nodes, initializers, fresh names."""

    def __init__(self, name, seed):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.count = [], [], 0

    def fresh(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, name, shape, scale=None):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        scale = scale or 1 / np.sqrt(fan_in)
        return self.init(name, (self.rng.standard_normal(shape) * scale).astype(np.float32))

    def op(self, op_type, inputs, outputs=1, name=None, **attrs):
        name = name or self.fresh(op_type)
        outs = [f"{name}_out{k}" for k in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=name, **attrs))
        return outs[0] if outputs == 1 else outs

    def const(self, array, dtype=np.int64):
        return self.init(self.fresh("const"), np.asarray(array, dtype=dtype))

    def conv(self, x, cin, cout, k, stride=1, pad=None, group=1, bias=True, name=None, **attrs):
        name = name or self.fresh("conv")
        w = self.weight(f"{name}.weight", [cout, cin // group, k, k])
        inputs = [x, w] + ([self.weight(f"{name}.bias", [cout], 0.1)] if bias else [])
        p = k // 2 if pad is None else pad
        if "auto_pad" not in attrs:
            attrs["pads"] = [p, p, p, p]
        return self.op("Conv", inputs, name=name, strides=[stride, stride], group=group, **attrs)

    def bn(self, x, c, name=None):
        name = name or self.fresh("bn")
        r = self.rng
        ins = [self.init(f"{name}.weight", r.uniform(0.5, 1.5, c).astype(np.float32)),
               self.init(f"{name}.bias", (r.standard_normal(c) * 0.1).astype(np.float32)),
               self.init(f"{name}.running_mean", (r.standard_normal(c) * 0.1).astype(np.float32)),
               self.init(f"{name}.running_var", r.uniform(0.5, 2.0, c).astype(np.float32))]
        return self.op("BatchNormalization", [x] + ins, name=name, epsilon=1e-5)

    def relu6(self, x, opset):
        return self.op("Clip", [x, self.const(0.0, np.float32), self.const(6.0, np.float32)])

    def gemm(self, x, cin, cout, name=None):
        name = name or self.fresh("fc")
        return self.op("Gemm", [x, self.weight(f"{name}.weight", [cout, cin]), self.weight(f"{name}.bias", [cout], 0.1)],
                       name=name, transB=1)

    def model(self, x_shape, out, opset=17, outputs=None):
        inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch"] + list(x_shape[1:]))]
        outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in (outputs or [out])]
        g = helper.make_graph(self.nodes, self.name, inputs, outs, self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="swift-qat fixtures")
        m.ir_version = 8
        # output shapes from a run, batch symbolic, then the checker
        x = np.zeros(x_shape, dtype=np.float32)
        session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        for o, y in zip(m.graph.output, session.run(None, {"input": x})):
            o.CopyFrom(helper.make_tensor_value_info(o.name, TensorProto.FLOAT, ["batch"] + list(y.shape[1:])))
        onnx.checker.check_model(m, full_check=True)
        return m


def mobilenet_v1(g, opset):
    x = g.conv("input", 3, 8, 3, stride=2, bias=False, name="stem")
    x = g.relu6(g.bn(x, 8), opset)
    for i, (cin, cout, s) in enumerate([(8, 16, 1), (16, 24, 2)]):
        x = g.relu6(g.bn(g.conv(x, cin, cin, 3, stride=s, group=cin, bias=False, name=f"dw{i}"), cin), opset)
        x = g.relu6(g.bn(g.conv(x, cin, cout, 1, bias=False, name=f"pw{i}"), cout), opset)
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])])
    return g.gemm(x, 24, 10)


def mobilenet_v2(g, opset):
    x = g.relu6(g.bn(g.conv("input", 3, 8, 3, stride=2, bias=False), 8), opset)
    for i, (cin, cout, s, t) in enumerate([(8, 8, 1, 4), (8, 12, 2, 4), (12, 12, 1, 6)]):
        h = g.relu6(g.bn(g.conv(x, cin, cin * t, 1, bias=False, name=f"b{i}.expand"), cin * t), opset)
        h = g.relu6(g.bn(g.conv(h, cin * t, cin * t, 3, stride=s, group=cin * t, bias=False, name=f"b{i}.dw"), cin * t), opset)
        h = g.bn(g.conv(h, cin * t, cout, 1, bias=False, name=f"b{i}.project"), cout)  # linear bottleneck
        x = g.op("Add", [x, h]) if s == 1 and cin == cout else h
    x = g.op("ReduceMean", [x], axes=[2, 3], keepdims=0) if opset < 18 else g.op("ReduceMean", [x, g.const([2, 3])], keepdims=0)
    return g.gemm(x, 12, 10)


def vgg(g, opset):
    x = g.op("Relu", [g.conv("input", 3, 8, 3)])
    x = g.op("MaxPool", [g.op("Relu", [g.conv(x, 8, 8, 3)])], kernel_shape=[2, 2], strides=[2, 2])
    x = g.op("MaxPool", [g.op("Relu", [g.conv(x, 8, 16, 3)])], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)
    # the dynamic flatten of torch's x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat -> Reshape
    batch = g.op("Unsqueeze", [g.op("Gather", [g.op("Shape", [x]), g.const(0)], axis=0), g.const([0])])
    x = g.op("Reshape", [x, g.op("Concat", [batch, g.const([-1])], axis=0)])
    x = g.op("Dropout", [g.op("Relu", [g.gemm(x, 16 * 5 * 5, 32)])])
    return g.gemm(x, 32, 10)


def inception(g, opset):
    x = g.op("Relu", [g.conv("input", 3, 8, 3)])
    b1 = g.op("Relu", [g.conv(x, 8, 4, 1)])
    b2 = g.op("Relu", [g.conv(g.op("Relu", [g.conv(x, 8, 4, 1)]), 4, 6, 3)])
    b3 = g.op("Relu", [g.conv(g.op("Relu", [g.conv(x, 8, 2, 1)]), 2, 4, 5)])
    b4 = g.op("Relu", [g.conv(g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]), 8, 4, 1)])
    x = g.op("Concat", [b1, b2, b3, b4], axis=1)
    x = g.op("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)
    x = g.op("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
    return g.op("Flatten", [x])


def squeeze_excite(g, opset):
    x = g.op("Relu", [g.bn(g.conv("input", 3, 16, 3, bias=False), 16)])
    s = g.op("GlobalAveragePool", [x])
    s = g.op("Relu", [g.conv(s, 16, 4, 1, pad=0)])
    s = g.op("Sigmoid", [g.conv(s, 4, 16, 1, pad=0)])
    x = g.op("Mul", [x, s])
    x = g.conv(x, 16, 8, 3)
    x = g.op("Mul", [x, g.op("Sigmoid", [x])])  # SiLU
    return g.op("Flatten", [g.op("GlobalAveragePool", [x])])


def unet(g, opset):
    e1 = g.op("Relu", [g.conv("input", 3, 8, 3)])
    e2 = g.op("Relu", [g.conv(g.op("MaxPool", [e1], kernel_shape=[2, 2], strides=[2, 2]), 8, 16, 3)])
    e3 = g.op("Relu", [g.conv(g.op("MaxPool", [e2], kernel_shape=[2, 2], strides=[2, 2]), 16, 16, 3)])
    empty = g.init(g.fresh("roi"), np.array([], dtype=np.float32))
    up = g.op("Resize", [e3, empty, g.init(g.fresh("scales"), np.array([1, 1, 2, 2], dtype=np.float32))], mode="nearest")
    d2 = g.op("Relu", [g.conv(g.op("Concat", [up, e2], axis=1), 32, 8, 3)])
    nc = g.op("Slice", [g.op("Shape", [d2]), g.const([0]), g.const([2])])
    sizes = g.op("Concat", [nc, g.const([16, 16])], axis=0)
    up = g.op("Resize", [d2, "", "", sizes], mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    d1 = g.op("Relu", [g.conv(g.op("Concat", [up, e1], axis=1), 16, 8, 3)])
    # a transposed-convolution decoder step as well
    w = g.weight("deconv.weight", [8, 4, 2, 2])
    t = g.op("ConvTranspose", [d1, w, g.weight("deconv.bias", [4], 0.1)], name="deconv", strides=[2, 2])
    return g.conv(t, 4, 2, 3)


def heads(g, opset):
    x = g.conv("input", 3, 8, 3)
    a = g.op("HardSwish", [x])
    b = g.op("LeakyRelu", [x], alpha=0.1)
    slope = g.init("prelu.slope", g.rng.uniform(0.05, 0.3, (8, 1, 1)).astype(np.float32))
    c = g.op("PRelu", [x, slope])
    d = g.op("HardSigmoid", [x], alpha=0.2, beta=0.5)
    e = g.op("Clip", [x, g.const(-0.5, np.float32), g.const(1.5, np.float32)])
    f = g.op("Tanh", [x])
    x = g.op("Concat", [a, b, c, d, e, f], axis=1)
    x = g.op("Mul", [x, g.init(g.fresh("scale"), g.rng.uniform(0.5, 2, (1, 48, 1, 1)).astype(np.float32))])
    x = g.op("Add", [x, g.init(g.fresh("shift"), g.rng.standard_normal((48, 1, 1)).astype(np.float32))])
    x = g.op("Sub", [x, g.init(g.fresh("pos"), g.rng.standard_normal((1, 1, 16, 16)).astype(np.float32))])
    x = g.op("Div", [x, g.const(2.0, np.float32)])
    return g.op("Softmax", [g.op("Flatten", [g.op("GlobalAveragePool", [x])])], axis=1)


def matmul_classifier(g, opset):
    x = g.op("Relu", [g.conv("input", 3, 8, 4, stride=4, pad=0)])          # [N, 8, 4, 4]
    x = g.op("Reshape", [x, g.const([0, 8, 16])])                             # [N, 8, 16]
    x = g.op("Transpose", [x], perm=[0, 2, 1])                                # [N, 16, 8]
    x = g.op("MatMul", [x, g.weight("proj.weight", [8, 12])])                 # [N, 16, 12]
    x = g.op("Add", [x, g.weight("proj.bias", [12], 0.1)])
    att = g.op("Softmax", [g.op("MatMul", [x, g.op("Transpose", [x], perm=[0, 2, 1])])], axis=-1)  # [N, 16, 16]
    x = g.op("MatMul", [att, x])                                              # [N, 16, 12]
    x = g.op("Reshape", [x, g.const([-1, 16 * 12])])
    return g.gemm(x, 16 * 12, 10)


def shapes(g, opset):
    """Slicing, splitting, padding and squeezing on computed tensors, and shape arithmetic."""
    x = g.op("Relu", [g.conv("input", 3, 8, 3)])
    a, b = g.op("Split", [x, g.const([3, 5])], outputs=2, axis=1)
    a = g.op("Pad", [a, g.const([0, 0, 1, 2, 0, 0, 2, 1]), g.const(0.25, np.float32)], mode="constant")
    a = g.op("Slice", [a, g.const([1, 0]), g.const([-1, 100]), g.const([2, 3]), g.const([1, 2])])
    b = g.op("Slice", [b, g.const([0]), g.const([9223372036854775807]), g.const([2]), g.const([2])])
    b = g.op("Slice", [b, g.const([0]), g.const([9223372036854775807]), g.const([3]), g.const([2])])  # option-A style
    b = g.op("Pad", [b, g.const([0, 2, 0, 0, 0, 2, 0, 0])])
    h = g.op("Cast", [g.op("Div", [g.op("Gather", [g.op("Shape", [a]), g.const(1)]), g.const(1)])], to=TensorProto.INT64)
    a = g.op("Unsqueeze", [g.op("Flatten", [a]), g.const([2])])
    a = g.op("Squeeze", [a, g.const([2])])
    b = g.op("Reshape", [b, g.op("Concat", [g.const([0]), g.op("Unsqueeze", [h, g.const([0])]), g.const([-1])], axis=0)])
    b = g.op("Flatten", [b])
    return g.op("Concat", [a, g.op("Identity", [b])], axis=1)


def opset11(g, opset):
    """Opset 11: Squeeze / Unsqueeze axes as attributes, Softmax over flattened trailing axes."""
    x = g.op("Relu", [g.conv("input", 3, 4, 3)])
    x = g.op("Unsqueeze", [g.op("Squeeze", [g.op("Unsqueeze", [x], axes=[4])], axes=[4])], axes=[1])
    x = g.op("Squeeze", [x], axes=[1])
    x = g.op("Clip", [x, g.const(0.0, np.float32), g.const(6.0, np.float32)])
    s = g.op("Softmax", [x], axis=1)  # opset < 13: over C·H·W
    return g.op("Flatten", [g.op("MaxPool", [s], kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")])


def same_padding(g, opset):
    x = g.conv("input", 3, 6, 3, stride=2, auto_pad="SAME_UPPER", name="same_upper")
    x = g.conv(x, 6, 6, 4, stride=1, auto_pad="SAME_LOWER", name="same_lower")
    x = g.op("Relu", [g.conv(x, 6, 6, 3, dilations=[2, 2], pad=2, name="dilated")])
    return g.op("Flatten", [g.op("GlobalMaxPool", [x])])


def mobilenet_v3(g, opset):
    """MobileNet-v3 pieces: hard swish, a squeeze-excite gate with PyTorch's hard sigmoid, a grouped
    convolution, a difference of two tensors, a ReLU after a concat, 3x3 average pooling."""
    x = g.op("HardSwish", [g.bn(g.conv("input", 3, 8, 3, stride=2, bias=False), 8)])
    h = g.op("Relu", [g.bn(g.conv(x, 8, 8, 3, group=8, bias=False, name="dw"), 8)])
    s = g.op("GlobalAveragePool", [h])
    s = g.op("Relu", [g.conv(s, 8, 4, 1, pad=0, name="se.reduce")])
    s = g.op("HardSigmoid", [g.conv(s, 4, 8, 1, pad=0, name="se.expand")], alpha=1.0 / 6, beta=0.5)
    h = g.bn(g.conv(g.op("Mul", [h, s]), 8, 8, 1, bias=False, name="project"), 8)
    x = g.op("Add", [x, h])
    d = g.op("Sub", [x, g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])])
    x = g.op("Relu", [g.op("Concat", [g.conv(x, 8, 8, 3, group=2, name="grouped"), d], axis=1)])
    x = g.op("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])])
    return g.gemm(g.op("HardSwish", [g.gemm(x, 16, 16)]), 16, 10)


FIXTURES = [
    ("mobilenet_v1", mobilenet_v1, [2, 3, 32, 32], 17),
    ("mobilenet_v2", mobilenet_v2, [2, 3, 32, 32], 13),
    ("mobilenet_v2_opset18", mobilenet_v2, [2, 3, 32, 32], 18),
    ("vgg", vgg, [2, 3, 16, 16], 17),
    ("inception", inception, [2, 3, 16, 16], 17),
    ("squeeze_excite", squeeze_excite, [2, 3, 16, 16], 17),
    ("unet", unet, [2, 3, 16, 16], 17),
    ("heads", heads, [2, 3, 16, 16], 17),
    ("matmul_classifier", matmul_classifier, [2, 3, 16, 16], 17),
    ("shapes", shapes, [2, 3, 12, 12], 19),
    ("opset11", opset11, [2, 3, 8, 8], 11),
    ("same_padding", same_padding, [2, 3, 15, 15], 17),
    ("mobilenet_v3", mobilenet_v3, [2, 3, 32, 32], 17),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "fixtures"
    os.makedirs(out, exist_ok=True)
    manifest = []
    for seed, (name, build, shape, opset) in enumerate(FIXTURES):
        g = Graph(name, seed)
        result = build(g, opset)
        model = g.model(shape, result, opset=opset)
        path = os.path.join(out, name + ".onnx")
        onnx.save(model, path)
        x = np.random.default_rng(1000 + seed).standard_normal(shape).astype(np.float32)
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        outputs = session.run(None, {"input": x})
        x.tofile(os.path.join(out, name + ".input.bin"))
        for k, y in enumerate(outputs):
            y.astype(np.float32).tofile(os.path.join(out, f"{name}.output{k}.bin"))
        manifest.append({"name": name, "opset": opset, "input_shape": shape,
                         "output_shapes": [list(y.shape) for y in outputs], "nodes": len(model.graph.node)})
    # the same MobileNet v1 with its initializers in an external data file beside the model
    g = Graph("mobilenet_v1_external", 0)
    model = g.model([2, 3, 32, 32], mobilenet_v1(g, 17))
    onnx.save_model(model, os.path.join(out, "mobilenet_v1_external.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="mobilenet_v1_external.data", size_threshold=0)
    manifest.append({"name": "mobilenet_v1_external", "same_as": "mobilenet_v1"})
    qdq = qdq_fixtures.write(out, Graph, 500)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"fixtures": manifest, "qdq": qdq, "onnx": onnx.__version__, "onnxruntime": ort.__version__}, f, indent=1)
    print(f"wrote {len(manifest)} fixtures to {out} (onnx {onnx.__version__}, onnxruntime {ort.__version__})")


if __name__ == "__main__":
    main()
