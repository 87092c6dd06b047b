import Layers
import TensorCore

extension Importer {
  /// An elementwise layer on one computed input (same shape out).
  func unary(_ c: NodeContext, _ layer: any Layer) throws -> [ImportValue] {
    let x = try c.runtime(0)
    return [.runtime(RuntimeValue(node: c.add(layer, [x]), sample: x.sample))]
  }

  func relu(_ c: NodeContext) throws -> [ImportValue] { try c.requireInputs(1...1); return try unary(c, ReLU()) }
  func sigmoid(_ c: NodeContext) throws -> [ImportValue] { try c.requireInputs(1...1); return try unary(c, Sigmoid()) }
  func tanh(_ c: NodeContext) throws -> [ImportValue] { try c.requireInputs(1...1); return try unary(c, Tanh()) }

  func leakyRelu(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...1)
    return try unary(c, LeakyReLU(negativeSlope: try c.float("alpha", default: 0.01)))
  }

  func hardSigmoid(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...1)
    return try unary(c, Hardsigmoid(alpha: try c.float("alpha", default: 0.2), beta: try c.float("beta", default: 0.5)))
  }

  func hardSwish(_ c: NodeContext) throws -> [ImportValue] { try c.requireInputs(1...1); return try unary(c, Hardswish()) }

  /// Clip: bounds 0 and 6 are ReLU6, 0 and +∞ ReLU, anything else a general clip. Bounds are
  /// attributes before opset 11 and (optional, constant) inputs from 11 on.
  func clip(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...3)
    var lo = -Float.infinity, hi = Float.infinity
    if opset < 11 {
      lo = try c.float("min", default: lo)
      hi = try c.float("max", default: hi)
    } else {
      for (k, name) in [(1, "min"), (2, "max")] {
        guard let b = try c.optionalConstant(k) else { continue }
        guard b.count == 1 else { throw c.fail("\(name) must be a scalar, got shape \(b.shape)") }
        if k == 1 { lo = b.floats[0] } else { hi = b.floats[0] }
      }
    }
    guard !lo.isNaN, !hi.isNaN, lo <= hi else { throw c.fail("bounds [\(lo), \(hi)] are not an interval") }
    if lo == 0 && hi == 6 { return try unary(c, ReLU6()) }
    if lo == 0 && hi == .infinity { return try unary(c, ReLU()) }
    return try unary(c, Clip(min: lo, max: hi))
  }

  func prelu(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(2...2)
    let x = try c.runtime(0), slope = try c.constant(1)
    let full = [1] + x.sample
    guard slope.count > 0, ConstantTensor.broadcastShape(full, slope.shape) == full else {
      throw c.fail("slope '\(c.inputName(1))' \(slope.shape) does not broadcast to the input [N] + \(x.sample)")
    }
    var names: [String: String] = [:]
    try c.claim(1, as: "weight", into: &names)
    let node = c.add(PReLU(slope: slope.tensor), [x], tensorNames: names)
    return [.runtime(RuntimeValue(node: node, sample: x.sample))]
  }

  /// Softmax over one axis (opset ≥ 13); before 13 over the flattened axes from `axis` on.
  func softmax(_ c: NodeContext) throws -> [ImportValue] {
    try c.requireInputs(1...1)
    let x = try c.runtime(0)
    let axis = try normalizedAxis(try c.int("axis", default: opset >= 13 ? -1 : 1), rank: x.rank, c)
    guard axis >= 1 else { throw c.fail("softmax over the batch axis is not supported") }
    let coerced = opset < 13 && axis < x.rank - 1
    return try unary(c, Softmax(axis: axis, coerced: coerced))
  }

  /// Identity and Dropout (inference): the output is the input.
  func identity(_ c: NodeContext) throws -> [ImportValue] {
    guard let v = c.inputs.first ?? nil else { throw c.fail("input 0 is missing") }
    if c.op == "Dropout" {
      if c.has(2), let t = try c.optionalConstant(2), t.floats.first != 0 { throw c.fail("training_mode true is not supported") }
      if c.node.output.count > 1, !c.node.output[1].isEmpty, c.importer.useCount(c.node.output[1]) > 0 {
        throw c.fail("its mask output is used; only inference Dropout is supported")
      }
    }
    return [v]
  }
}
