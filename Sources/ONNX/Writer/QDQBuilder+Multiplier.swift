import DeployFormat
import Foundation
import TensorCore

extension QDQBuilder {
  /// The exact QDQ form of a conv / linear node that requantizes by integer multiplier: its
  /// integer arithmetic written in float and double ops that compute it without rounding, so ONNX
  /// Runtime reproduces the simulator to 0 LSB. The weights are dequantized at scale 1 and the
  /// bias (code shifted by its bias_shift) at the input's scale, so the float sums are the integer
  /// accumulator s times 2^−fx exactly while |s| < 2^24 (checked per channel from the weights and
  /// the input's code range); cast to double, one Mul per channel by multiplier · 2^(fx − shift)
  /// gives s · multiplier / 2^shift exactly (the product's bits are checked ≤ 53); the leaky
  /// slope 26/256, the rounding rule (Round for half to even; Floor and the fraction for half up),
  /// the activation's and the code range's clamp follow, then the output's QuantizeLinear.
  /// Standard QDQ (`.native`) writes per-channel DequantizeLinear weights instead, and the runtime
  /// requantizes in its own float arithmetic.
  mutating func exactMultiplier(_ n: DeployNode) throws -> String {
    let name = n.name
    guard let rq = n.channelRequantization, let wn = n.weight, let we = payload[wn], let wb = n.weightBits else {
      throw ONNXError("QDQ writer: node \(name): multipliers or weight \(n.weight ?? "?") missing")
    }
    let x = try tensor(n.inputs[0]), out = try tensor(n.output)
    let channels = rq.multipliers.count
    guard we.shape.first == channels, channels > 0, we.values.count % channels == 0 else {
      throw ONNXError("QDQ writer: node \(name): weight \(wn) of shape \(we.shape) for \(channels) multipliers")
    }
    var bias: [Int64]? = nil
    if let bn = n.bias {
      let shifts = n.biasShifts ?? [Int](repeating: 0, count: channels)
      guard let be = payload[bn], be.values.count == channels, shifts.count == channels else {
        throw ONNXError("QDQ writer: node \(name): bias \(bn) missing or not one value per output channel")
      }
      bias = zip(be.values, shifts).map { Int64($0) << Int64($1) }
    }
    let leaky = n.activation == .leakyRelu
    try checkExact(n, we.values, bias, channels: channels, input: x.format, leaky: leaky)
    let w = dequantizedInitializer("\(name).weight", we.values, shape: we.shape, bits: wb, fractionalBits: 0)
    let b = bias.map { dequantizedInitializer("\(name).bias", $0.map { Int32($0) }, shape: [channels], bits: 32, fractionalBits: x.fractionalBits) }
    let sums: String
    if n.op == .linear {
      var input = try input(n, 0)
      if x.shape.count != 1 { input = node("Flatten", "\(name)/flatten", [input], [Attr.int("axis", 1)]) }
      sums = node("Gemm", name, [input, w] + (b.map { [$0] } ?? []), [Attr.int("transB", 1)])
    } else {
      let c = n.conv!, k = n.kernel!
      sums = node("Conv", name, [try input(n, 0), w] + (b.map { [$0] } ?? []), convAttributes(c, kernel: (k[0], k[1])))
    }
    let wide = node("Cast", "\(name)/to_double", [sums], [Attr.int("to", Int(Onnx_TensorProto.DataType.double.rawValue))])
    let factors = rq.multipliers.map { Double($0.multiplier) * Double(sign: .plus, exponent: x.fractionalBits - $0.shift, significand: 1) }
    var y = node("Mul", "\(name)/multiply", [wide, doubles("\(name)/multipliers", factors, shape: n.op == .linear ? [channels] : [channels, 1, 1])])
    if leaky {  // max(y, 0) + min(y, 0) · 26/256
      let zero = doubles("\(name)/zero", [0], shape: [])
      let negative = node("Mul", "\(name)/leaky_slope", [node("Min", "\(name)/negative", [y, zero]), doubles("\(name)/26_256", [26.0 / 256], shape: [])])
      y = node("Add", "\(name)/leaky", [node("Max", "\(name)/positive", [y, zero]), negative])
    }
    var (lo, hi) = (Int64(out.format.qmin), Int64(out.format.qmax))
    if n.activation == .relu || n.activation == .relu6 { lo = max(lo, 0) }
    if n.activation == .relu6 { hi = min(hi, IntegerKernels.relu6Code(out.fractionalBits, out.rounding)) }
    // clamped to one code beyond the range first (round is monotone), so the fraction below is exact
    y = node("Clip", "\(name)/near_range", [y, doubles("\(name)/below", [Double(lo - 1)], shape: []), doubles("\(name)/above", [Double(hi + 1)], shape: [])])
    switch out.rounding {
    case .halfToEven: y = node("Round", "\(name)/requant_round", [y])
    case .floor: y = node("Floor", "\(name)/requant_floor", [y])
    case .ceil: y = node("Ceil", "\(name)/requant_ceil", [y])
    case .halfUp:
      let f = node("Floor", "\(name)/requant_floor", [y])
      let up = node("GreaterOrEqual", "\(name)/requant_half_or_more", [node("Sub", "\(name)/requant_fraction", [y, f]), doubles("\(name)/half", [0.5], shape: [])])
      y = node("Add", "\(name)/requant_round", [f, node("Cast", "\(name)/requant_carry", [up], [Attr.int("to", Int(Onnx_TensorProto.DataType.double.rawValue))])])
    case .halfAwayFromZero, .towardZero:
      throw ONNXError("QDQ writer: tensor \(n.output) rounds \(out.rounding.rawValue), which the exact QDQ form does not write; use the native rounding")
    }
    y = node("Clip", "\(name)/code_range", [y, doubles("\(name)/lo", [Double(lo)], shape: []), doubles("\(name)/hi", [Double(hi)], shape: [])])
    let codes = node("Cast", "\(name)/to_float", [y], [Attr.int("to", Int(Onnx_TensorProto.DataType.float.rawValue))])
    return node("Mul", "\(name)/to_value", [codes, scalar("\(name)/cell", Self.power(-out.fractionalBits))])
  }

  /// Per output channel: the accumulator's bound (Σ|w| · the input's largest code + |bias|) below
  /// 2^24 (float sums exact), and its product with the multiplier within 53 bits (double exact).
  func checkExact(_ n: DeployNode, _ w: [Int32], _ bias: [Int64]?, channels: Int, input: FixedPointFormat, leaky: Bool) throws {
    let perChannel = w.count / channels, largest = Int64(max(abs(input.qmin), abs(input.qmax)))
    let rq = n.channelRequantization!
    for c in 0..<channels {
      let weights = w[(c * perChannel)..<((c + 1) * perChannel)].reduce(Int64(0)) { $0 + Int64(abs($1)) }
      let bound = weights * largest + abs(bias?[c] ?? 0)
      guard bound < 1 << 24 else {
        throw ONNXError("QDQ writer: node \(n.name), output channel \(c): sums can reach \(bound) ≥ 2^24, not exact in float; the exact QDQ form cannot write it (use --qdq-rounding native)")
      }
      let m = rq.multipliers[c].multiplier
      let bits = (64 - bound.leadingZeroBitCount) + (64 - m.leadingZeroBitCount - m.trailingZeroBitCount) + (leaky ? 4 : 0)
      guard bits <= 53 else {
        throw ONNXError("QDQ writer: node \(n.name), output channel \(c): accumulator · multiplier \(m) needs \(bits) bits, not exact in double; use --qdq-rounding native")
      }
    }
  }

  mutating func doubles(_ base: String, _ v: [Double], shape: [Int]) -> String {
    let name = unique(base)
    initializers.append(ONNXNodeWriter.rawTensor(name, type: .double, shape: shape, bitPatterns: v.map(\.bitPattern)))
    return name
  }
}
