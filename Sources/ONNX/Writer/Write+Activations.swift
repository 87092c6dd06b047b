import Layers
import TensorCore

extension ReLU: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws { w.final("Relu", [w.input]) }
}

extension ReLU6: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws { writeClip(&w, min: 0, max: 6) }
}

extension Clip: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws { writeClip(&w, min: min, max: max) }
}

/// Clip with scalar bounds as inputs (opset 11+); an infinite bound is left out.
func writeClip(_ w: inout ONNXNodeWriter, min: Float, max: Float) {
  let lo = min.isInfinite ? "" : w.constant("min", floats: [min], shape: [])
  let hi = max.isInfinite ? "" : w.constant("max", floats: [max], shape: [])
  w.final("Clip", hi.isEmpty ? (lo.isEmpty ? [w.input] : [w.input, lo]) : [w.input, lo, hi])
}

extension LeakyReLU: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws { w.final("LeakyRelu", [w.input], [Attr.float("alpha", negativeSlope)]) }
}

extension Sigmoid: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws { w.final("Sigmoid", [w.input]) }
}

extension Tanh: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws { w.final("Tanh", [w.input]) }
}

extension Hardsigmoid: ONNXWritable {
  func writeONNX(_ w: inout ONNXNodeWriter) throws {
    w.final("HardSigmoid", [w.input], [Attr.float("alpha", alpha), Attr.float("beta", beta)])
  }
}

extension Hardswish: ONNXWritable {
  /// HardSwish from opset 14; before, x · HardSigmoid(x) with α = 1/6, β = 0.5.
  func writeONNX(_ w: inout ONNXNodeWriter) throws {
    if w.opset >= 14 { return w.final("HardSwish", [w.input]) }
    let gate = w.step("HardSigmoid", "gate", [w.input], [Attr.float("alpha", 1.0 / 6), Attr.float("beta", 0.5)])
    w.final("Mul", [w.input, gate])
  }
}

extension SiLU: ONNXWritable {
  /// x · sigmoid(x): the pair the importer reads back as one SiLU named after the Mul.
  func writeONNX(_ w: inout ONNXNodeWriter) throws {
    let gate = w.step("Sigmoid", "sigmoid", [w.input])
    w.final("Mul", [w.input, gate])
  }
}

extension Softmax: ONNXWritable {
  /// Softmax over one axis; the pre-13 form over the flattened axes from `axis` on becomes
  /// Flatten, Softmax over the last axis and a Reshape back.
  func writeONNX(_ w: inout ONNXNodeWriter) throws {
    let rank = w.inputRank, a = axis < 0 ? axis + rank : axis
    guard coerced, a < rank - 1 else { return w.final("Softmax", [w.input], [Attr.int("axis", axis)]) }
    let flat = w.step("Flatten", "flatten", [w.input], [Attr.int("axis", a)])
    let normalised = w.step("Softmax", "softmax", [flat], [Attr.int("axis", -1)])
    w.final("Reshape", [normalised, w.constant("shape", ints: [0] + w.outputShape.dims.dropFirst())])
  }
}
