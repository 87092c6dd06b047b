import DeployFormat
import Foundation
import TensorCore

extension QDQBuilder {
  /// One deploy node: its float expression on the dequantized inputs, then the output's Q / DQ.
  /// The switch names every op of the deploy format.
  mutating func emit(_ n: DeployNode) throws {
    let name = n.name, out = try tensor(n.output)
    let exactInteger = n.requantizesByMultiplier && options.rounding == .exact
    let v: String
    switch n.op {
    case .input:
      v = n.output
    case .conv2d where exactInteger, .linear where exactInteger:
      v = try exactMultiplier(n)
    case .conv2d, .convTranspose:
      let (w, b) = try weightAndBias(n)
      let c = n.conv!, k = n.kernel!
      var attributes = convAttributes(c, kernel: (k[0], k[1]))
      if n.op == .convTranspose { attributes.append(Attr.ints("output_padding", n.outputPadding!)) }
      v = try activation(n, node(n.op == .conv2d ? "Conv" : "ConvTranspose", name, [try input(n, 0), w] + (b.map { [$0] } ?? []), attributes))
    case .linear:
      let (w, b) = try weightAndBias(n)
      var x = try input(n, 0)
      if try tensor(n.inputs[0]).shape.count != 1 { x = node("Flatten", "\(name)/flatten", [x], [Attr.int("axis", 1)]) }
      v = try activation(n, node("Gemm", name, [x, w] + (b.map { [$0] } ?? []), [Attr.int("transB", 1)]))
    case .add, .sub, .mul:
      let op = ["add": "Add", "sub": "Sub", "mul": "Mul"][n.op.rawValue]!
      v = try activation(n, node(op, name, [try input(n, 0), try input(n, 1)]))
    case .concat:
      v = node("Concat", name, try n.inputs.indices.map { try input(n, $0) }, [Attr.int("axis", n.axis! + (n.axis! >= 0 ? 1 : 0))])
    case .maxPool:
      let p = n.pool!
      v = node("MaxPool", name, [try input(n, 0)], poolAttributes(p) + [Attr.ints("dilations", [p.dilationH, p.dilationW])])
    case .avgPool, .globalAvgPool:
      v = try averagePool(n)
    case .relu, .relu6, .leakyRelu:
      let a: FusedActivation = n.op == .relu ? .relu : (n.op == .relu6 ? .relu6 : .leakyRelu)
      v = activation(a, try input(n, 0), name)
    case .hardSigmoid:
      v = node("Mul", name, [hardSigmoid(try input(n, 0), name), scalar("\(name)/2731", 2731 / 16384)])
    case .hardSwish:
      // the gate at fraction 7, rounded half up and saturated to int8, as the DPU computes it
      let x = try input(n, 0)
      let gate = node("Mul", "\(name)/gate", [hardSigmoid(x, name), scalar("\(name)/2731_128", 2731 / 128)])
      let rounded = node("Floor", "\(name)/gate_floor", [node("Add", "\(name)/gate_half", [gate, scalar("\(name)/one_half", 0.5)])])
      let saturated = node("Clip", "\(name)/gate_clip", [rounded, scalar("\(name)/gate_min", -128), scalar("\(name)/gate_max", 127)])
      let h = node("Mul", "\(name)/gate_value", [saturated, scalar("\(name)/1_128", 1.0 / 128)])
      v = node("Mul", name, [x, h])
    case .lookup:
      v = try lookup(n)
    case .upsample:
      let s = Float(n.scale!)
      v = node("Resize", name, [try input(n, 0), "", floats("\(name)/scales", [1, 1, s, s], shape: [4])],
               [Attr.string("mode", "nearest"), Attr.string("coordinate_transformation_mode", "asymmetric"), Attr.string("nearest_mode", "floor")])
    case .flatten:
      v = node("Flatten", name, [try input(n, 0)], [Attr.int("axis", 1)])
    case .reshape:
      v = node("Reshape", name, [try input(n, 0), ints("\(name)/shape", [0] + n.shape!)])
    case .transpose:
      v = node("Transpose", name, [try input(n, 0)], [Attr.ints("perm", [0] + n.perm!.map { $0 + 1 })])
    case .slice:
      let r = n.slice!
      v = node("Slice", name, [try input(n, 0), ints("\(name)/starts", r.map(\.start)), ints("\(name)/ends", r.map(\.end)),
                               ints("\(name)/axes", r.indices.map { $0 + 1 }), ints("\(name)/steps", r.map(\.step))])
    case .pad:
      let before = n.padBefore!, after = n.padAfter!
      let value = Float(n.padValue ?? 0) * Self.power(-out.fractionalBits)
      v = node("Pad", name, [try input(n, 0), ints("\(name)/pads", [0] + before + [0] + after), scalar("\(name)/value", value)],
               [Attr.string("mode", "constant")])
    }
    if options.placement == .operatorInputs, try keepsGrid(n) {
      values[n.output] = v  // on its input's grid already: no pair of its own
      codes[n.output] = nil
      return
    }
    try quantize(v, into: n.output)
  }

  /// The int8 / uint8 codes of a tensor: its QuantizeLinear output, or one of its value (exact:
  /// the value is on the tensor's grid) when the placement left it without a pair.
  mutating func codesOf(_ name: String) throws -> String {
    if let c = codes[name] { return c }
    let t = try tensor(name)
    guard let v = values[name] else { throw ONNXError("QDQ writer: tensor \(name) is read before it is written") }
    let s = scalar("\(name)/scale", Self.power(-t.fractionalBits))
    let z = ints("\(name)/zero_point", [0], shape: [], type: t.signed ? .int8 : .uint8)
    codes[name] = node("QuantizeLinear", "\(name)/quantize", [v, s, z], output: "\(name)/q")
    return codes[name]!
  }

  /// Data movement whose output has its inputs' format (every value already on the output grid).
  func keepsGrid(_ n: DeployNode) throws -> Bool {
    let movement: Set<DeployOp> = [.maxPool, .flatten, .reshape, .transpose, .slice, .upsample, .concat, .pad]
    guard movement.contains(n.op), n.op != .pad || (n.padValue ?? 0) == 0, !graph.outputs.contains(n.output) else { return false }
    let out = try tensor(n.output)
    return try n.inputs.allSatisfy { try tensor($0).format == out.format }
  }

  /// The weight (and bias) of a conv / linear node as DequantizeLinear of their codes; the bias as
  /// int32 at the accumulator's scale 2^−(input + weight fraction) where that is exact (ONNX
  /// Runtime's convention), else at its own.
  mutating func weightAndBias(_ n: DeployNode) throws -> (String, String?) {
    if n.requantizesByMultiplier { return try perChannelWeightAndBias(n) }
    guard let wn = n.weight, let we = payload[wn], let wb = n.weightBits, let wf = n.weightFractionalBits else {
      throw ONNXError("QDQ writer: node \(n.name): weight \(n.weight ?? "?") missing from the payload")
    }
    let w = dequantizedInitializer("\(n.name).weight", we.values, shape: we.shape, bits: wb, fractionalBits: wf)
    guard let bn = n.bias else { return (w, nil) }
    guard let be = payload[bn], let bf = n.biasFractionalBits else { throw ONNXError("QDQ writer: node \(n.name): bias \(bn) missing from the payload") }
    let accumulator = try tensor(n.inputs[0]).fractionalBits + wf, shift = accumulator - bf
    let widened = shift >= 0 && shift < 31 ? be.values.map { Int64($0) << Int64(shift) } : nil
    if let widened, widened.allSatisfy({ $0 >= Int64(Int32.min) && $0 <= Int64(Int32.max) }) {
      return (w, dequantizedInitializer("\(n.name).bias", widened.map { Int32($0) }, shape: be.shape, bits: 32, fractionalBits: accumulator))
    }
    return (w, dequantizedInitializer("\(n.name).bias", be.values, shape: be.shape, bits: 32, fractionalBits: bf))
  }

  /// A multiplier node's weight with its per-channel scales (axis 0) and its bias as int32 at
  /// each channel's accumulator scale (input scale · weight scale; the bias code shifted left by
  /// its bias_shift), or at the bias's own scale where the shifted code leaves int32.
  mutating func perChannelWeightAndBias(_ n: DeployNode) throws -> (String, String?) {
    guard let wn = n.weight, let we = payload[wn], let wb = n.weightBits, let scales = n.weightScales else {
      throw ONNXError("QDQ writer: node \(n.name): weight \(n.weight ?? "?") missing from the payload")
    }
    let w = dequantizedInitializer("\(n.name).weight", we.values, shape: we.shape, bits: wb, scales: scales)
    guard let bn = n.bias else { return (w, nil) }
    guard let be = payload[bn], let shifts = n.biasShifts, be.values.count == scales.count, shifts.count == scales.count else {
      throw ONNXError("QDQ writer: node \(n.name): bias \(bn) missing from the payload")
    }
    let fx = try tensor(n.inputs[0]).fractionalBits
    let accumulator = scales.map { Float(Double($0) * Double(sign: .plus, exponent: -fx, significand: 1)) }
    let widened = zip(be.values, shifts).map { Int64($0) << Int64($1) }
    if widened.allSatisfy({ $0 >= Int64(Int32.min) && $0 <= Int64(Int32.max) }) {
      return (w, dequantizedInitializer("\(n.name).bias", widened.map { Int32($0) }, shape: be.shape, bits: 32, scales: accumulator))
    }
    let own = zip(accumulator, shifts).map { $0 * Float(sign: .plus, exponent: $1, significand: 1) }
    return (w, dequantizedInitializer("\(n.name).bias", be.values, shape: be.shape, bits: 32, scales: own))
  }

  mutating func activation(_ n: DeployNode, _ v: String) throws -> String {
    activation(n.activation ?? .identity, v, "\(n.name)/\((n.activation ?? .identity).rawValue)")
  }

  mutating func activation(_ a: FusedActivation, _ v: String, _ name: String) -> String {
    switch a {
    case .identity: return v
    case .relu: return node("Relu", name, [v])
    case .relu6: return node("Clip", name, [v, scalar("\(name)/min", 0), scalar("\(name)/max", 6)])
    case .leakyRelu: return node("LeakyRelu", name, [v], [Attr.float("alpha", FusedActivation.leakySlope)])
    }
  }

  /// clamp(x + 3, 0, 6), exact in float.
  mutating func hardSigmoid(_ x: String, _ name: String) -> String {
    let shifted = node("Add", "\(name)/plus3", [x, scalar("\(name)/3", 3)])
    return node("Clip", "\(name)/relu6", [shifted, scalar("\(name)/0", 0), scalar("\(name)/6", 6)])
  }

  /// Window sums (a depthwise convolution of ones, padding zeros; the trailing padding widened so
  /// a ceil-mode output size comes out) or a ReduceSum for the global pool, times the DPU's
  /// multiplier / 2^shift.
  mutating func averagePool(_ n: DeployNode) throws -> String {
    let name = n.name, x = try tensor(n.inputs[0]), y = try tensor(n.output)
    guard x.shape.count == 3, y.shape.count == 3 else { throw ONNXError("QDQ writer: node \(name): pooling needs [C, H, W] tensors") }
    let sums: String
    if n.op == .globalAvgPool {
      sums = node("ReduceSum", "\(name)/sum", [try input(n, 0), ints("\(name)/axes", [2, 3])], [Attr.int("keepdims", 1)])
    } else {
      let p = n.pool!, c = x.shape[0]
      guard p.dilationH == 1, p.dilationW == 1 else { throw ONNXError("QDQ writer: node \(name): dilated average pooling is not supported") }
      let bottom = (y.shape[1] - 1) * p.strideH + p.kernelH - x.shape[1] - p.padH
      let right = (y.shape[2] - 1) * p.strideW + p.kernelW - x.shape[2] - p.padW
      let ones = floats("\(name)/ones", [Float](repeating: 1, count: c * p.kernelH * p.kernelW), shape: [c, 1, p.kernelH, p.kernelW])
      sums = node("Conv", "\(name)/sum", [try input(n, 0), ones],
                  [Attr.ints("kernel_shape", [p.kernelH, p.kernelW]), Attr.ints("strides", [p.strideH, p.strideW]),
                   Attr.ints("pads", [p.padH, p.padW, max(0, bottom), max(0, right)]), Attr.int("group", c)])
    }
    let factor = Float(n.poolMultiplier!) * Self.power(-n.poolShift!)
    return node("Mul", name, [sums, scalar("\(name)/factor", factor)])
  }

  /// A table per channel (or one for all) indexed by the input's codes: Gather on the flattened
  /// tables with index code − qmin + channel · entries; the entries are output values.
  mutating func lookup(_ n: DeployNode) throws -> String {
    let name = n.name, x = try tensor(n.inputs[0]), y = try tensor(n.output)
    guard let tn = n.table, let e = payload[tn], e.shape.count == 2 else { throw ONNXError("QDQ writer: node \(name): table \(n.table ?? "?") missing from the payload") }
    let entries = e.shape[1], channels = x.shape.first ?? 1
    let table = floats("\(name)/table", e.values.map { Float($0) * Self.power(-y.fractionalBits) }, shape: [e.values.count])
    let index = node("Cast", "\(name)/index", [try codesOf(n.inputs[0])], [Attr.int("to", Int(Onnx_TensorProto.DataType.int64.rawValue))])
    let perChannel = e.shape[0] > 1
    let offsets = perChannel ? (0..<channels).map { $0 * entries - x.format.qmin } : [-x.format.qmin]
    let offsetShape = perChannel ? [channels] + [Int](repeating: 1, count: max(0, x.shape.count - 1)) : []
    let shifted = node("Add", "\(name)/offset", [index, ints("\(name)/offsets", offsets, shape: offsetShape)])
    return node("Gather", name, [table, shifted], [Attr.int("axis", 0)])
  }
}
