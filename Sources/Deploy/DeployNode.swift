import TensorCore

/// Operations of the deploy graph (the simulator switches over all of them exhaustively).
public enum DeployOp: String, Codable, CaseIterable, Sendable {
  case input, conv2d, linear, add, sub, mul, concat
  /// Transposed convolution: weight [in, out/groups, kh, kw]; `conv` holds stride, the padding cut
  /// from the full output, dilation and groups; `output_padding` adds rows / columns at the end.
  case convTranspose = "conv_transpose"
  case maxPool = "max_pool", avgPool = "avg_pool", globalAvgPool = "global_avg_pool"
  case relu, relu6, leakyRelu = "leaky_relu", hardSigmoid = "hard_sigmoid", hardSwish = "hard_swish"
  /// A function of the input code from a table in the payload ([1 or C, 2^bits]): activations
  /// without a DPU instruction (sigmoid, tanh, SiLU, PReLU, clip, ...), run by the CPU on a DPU.
  case lookup
  case upsample, flatten, reshape, transpose, slice, pad

  /// Ops the DPU runs (the rest, table lookups, run on the CPU).
  public var runsOnDPU: Bool { self != .lookup }
}

/// One node: op, input and output tensor names, attributes, and for conv / linear the payload
/// dataset names with the weight / bias formats and the DPU shifts.
public struct DeployNode: Codable, Equatable, Sendable {
  public var name: String
  public var op: DeployOp
  public var inputs: [String]
  public var output: String
  /// The activation applied before requantization (conv / linear / add / rescaling nodes).
  public var activation: FusedActivation?
  // conv / linear
  public var weight: String?
  public var bias: String?
  public var weightFractionalBits: Int?
  public var weightBits: Int?
  public var biasFractionalBits: Int?
  public var biasBits: Int?
  public var shiftCut: Int?
  public var shiftBias: Int?
  /// Multiplier requantization (float weight scales; `requantize` int16 / int32), instead of the
  /// positions' shift: per output channel the weight codes' scale, the integer multiplier and
  /// right shift taking the accumulator to the output grid, and the left shift of the bias code
  /// onto the accumulator. weight_fractional_bits and bias_fractional_bits are absent then.
  public var weightScales: [Float]?
  public var multiplierBits: Int?
  public var multipliers: [Int64]?
  public var multiplierShifts: [Int]?
  public var biasShifts: [Int]?
  public var conv: ConvGeometry?
  public var kernel: [Int]?  // [KH, KW]
  public var outputPadding: [Int]?  // conv_transpose: [H, W]
  // pooling
  public var pool: Pool2DGeometry?
  /// Average pooling as sum · multiplier / 2^shift (DPU); multiplier 1 and shift log2(area) when exact.
  public var poolMultiplier: Int?
  public var poolShift: Int?
  // shape ops
  public var axis: Int?
  public var scale: Int?
  public var shape: [Int]?
  public var slice: [DeploySlice]?
  public var padBefore: [Int]?
  public var padAfter: [Int]?
  /// The padding value's code (on the input's grid); nil is 0.
  public var padValue: Int?
  public var perm: [Int]?
  // add / sub / mul: the DPU's shifts (add: max − min input position, and min input − output;
  // mul: sum of input positions − output)
  public var shiftRead: Int?
  public var shiftWrite: Int?
  /// lookup: the payload dataset of the table.
  public var table: String?

  public init(name: String, op: DeployOp, inputs: [String], output: String) {
    self.name = name
    self.op = op
    self.inputs = inputs
    self.output = output
  }

  enum CodingKeys: String, CodingKey {
    case name, op, inputs, output, activation, weight, bias, conv, kernel, pool, axis, scale, shape, slice
    case weightFractionalBits = "weight_fractional_bits", weightBits = "weight_bits"
    case biasFractionalBits = "bias_fractional_bits", biasBits = "bias_bits"
    case shiftCut = "shift_cut", shiftBias = "shift_bias", poolMultiplier = "pool_multiplier", poolShift = "pool_shift"
    case padBefore = "pad_before", padAfter = "pad_after", padValue = "pad_value", perm, table
    case shiftRead = "shift_read", shiftWrite = "shift_write", outputPadding = "output_padding"
    case weightScales = "weight_scales", multiplierBits = "multiplier_bits", multipliers
    case multiplierShifts = "multiplier_shifts", biasShifts = "bias_shifts"
  }

  /// Whether this conv / linear node requantizes by integer multipliers.
  public var requantizesByMultiplier: Bool { multipliers != nil }

  /// The per-channel requantization of a multiplier node (validated by `validate`).
  public var channelRequantization: ChannelRequantization? {
    guard let multipliers, let multiplierShifts else { return nil }
    return ChannelRequantization(multipliers: zip(multipliers, multiplierShifts).map { IntegerMultiplier(multiplier: $0, shift: $1) },
                                 biasShifts: biasShifts ?? Array(repeating: 0, count: multipliers.count))
  }

  func validateMultipliers(_ g: DeployGraph, _ need: (Bool, String) throws -> Void) throws {
    guard let multipliers else {
      try need(weightScales == nil && multiplierBits == nil && multiplierShifts == nil && biasShifts == nil,
               "weight_scales / multiplier_bits / multiplier_shifts / bias_shifts without multipliers")
      return
    }
    try need(op != .convTranspose, "multiplier requantization is not supported for conv_transpose")
    guard let bits = multiplierBits, bits == 16 || bits == 32 else { throw DeployError("node \(name) (\(op.rawValue)): multiplier_bits must be 16 or 32") }
    let channels = multipliers.count
    if let y = g.tensors[output]?.shape.first { try need(channels == y, "\(channels) multipliers for \(y) output channels") }
    try need(multiplierShifts?.count == channels, "needs one multiplier_shift per multiplier")
    try need(weightScales?.count == channels && weightScales!.allSatisfy { $0 > 0 && $0.isFinite }, "needs one positive weight scale per channel")
    let top = Int64(1) << (bits - 1)
    if let bad = multipliers.first(where: { $0 < 1 || $0 >= top }) { throw DeployError("node \(name) (\(op.rawValue)): multiplier \(bad) outside [1, 2^\(bits - 1))") }
    if let bad = multiplierShifts!.first(where: { !(0...IntegerMultiplier.maxShift).contains($0) }) {
      throw DeployError("node \(name) (\(op.rawValue)): multiplier_shift \(bad) outside [0, \(IntegerMultiplier.maxShift)]")
    }
    try need(weightFractionalBits == nil && biasFractionalBits == nil, "multipliers together with fix positions for weight or bias")
    if bias != nil {
      try need(biasShifts?.count == channels && biasShifts!.allSatisfy { (0...62).contains($0) }, "needs one bias_shift in [0, 62] per channel")
    } else {
      try need(biasShifts == nil, "bias_shifts without a bias")
    }
  }

  func validate(_ g: DeployGraph) throws {
    func need(_ ok: Bool, _ what: String) throws { if !ok { throw DeployError("node \(name) (\(op.rawValue)): \(what)") } }
    switch op {
    case .input: try need(inputs.isEmpty, "an input node takes no inputs")
    case .conv2d, .linear, .convTranspose:
      try need(inputs.count == 1, "needs one input")
      try need(weight != nil && weightBits != nil && (weightFractionalBits != nil || multipliers != nil),
               "needs a weight, its bits and position (or multipliers)")
      try need(bias == nil || (biasBits != nil && (biasFractionalBits != nil || multipliers != nil)), "needs the bias bits and position")
      try validateMultipliers(g, need)
      if op != .linear { try need(conv != nil && kernel?.count == 2, "needs conv geometry and kernel size") }
      if op == .convTranspose { try need(outputPadding?.count == 2 && outputPadding!.allSatisfy { $0 >= 0 }, "needs output_padding [H, W]") }
    case .add, .sub, .mul:
      try need(inputs.count == 2, "needs two inputs")
      if let a = g.tensors[inputs[0]]?.shape, let b = g.tensors[inputs[1]]?.shape, let y = g.tensors[output]?.shape {
        let rank = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: rank - a.count) + a, pb = [Int](repeating: 1, count: rank - b.count) + b
        try need(zip(pa, pb).allSatisfy { $0 == $1 || $0 == 1 || $1 == 1 } && zip(pa, pb).map { max($0, $1) } == y,
                 "inputs \(a) and \(b) do not broadcast to the output \(y)")
      }
    case .lookup: try need(inputs.count == 1 && table != nil, "needs one input and a table")
    case .transpose: try need(inputs.count == 1 && perm.map { $0.sorted() == Array(0..<$0.count) } == true, "needs one input and a permutation")
    case .concat: try need(!inputs.isEmpty && axis != nil, "needs inputs and an axis")
    case .maxPool: try need(inputs.count == 1 && pool != nil, "needs one input and pool geometry")
    case .avgPool: try need(inputs.count == 1 && pool != nil && poolMultiplier != nil && poolShift != nil, "needs pool geometry and scaling")
    case .globalAvgPool: try need(inputs.count == 1 && poolMultiplier != nil && poolShift != nil, "needs its scaling")
    case .upsample: try need(inputs.count == 1 && (scale ?? 0) >= 1, "needs a scale >= 1")
    case .reshape: try need(inputs.count == 1 && shape != nil, "needs a shape")
    case .slice: try need(inputs.count == 1 && slice != nil, "needs slice ranges")
    case .pad: try need(inputs.count == 1 && padBefore != nil && padAfter?.count == padBefore?.count, "needs pad amounts")
    case .relu, .relu6, .leakyRelu, .hardSigmoid, .hardSwish, .flatten: try need(inputs.count == 1, "needs one input")
    }
    do {
      try conv?.validate()
      try pool?.validate()
    } catch { throw DeployError("node \(name) (\(op.rawValue)): \(error)") }
    try validateConsistency(g, need)
    if op == .conv2d, let k = kernel, let c = conv, let x = g.tensors[inputs[0]]?.shape, let y = g.tensors[output]?.shape {
      try need(x.count == 3 && y.count == 3, "needs [C, H, W] input and output tensors, got \(x) and \(y)")
      do { try c.validate(channels: x[0], height: x[1], width: x[2], outChannels: y[0], kernelH: k[0], kernelW: k[1]) } catch {
        throw DeployError("node \(name) (conv2d): \(error)")
      }
    }
    if op == .convTranspose, let k = kernel, let c = conv, let extra = outputPadding, let x = g.tensors[inputs[0]]?.shape, let y = g.tensors[output]?.shape {
      try need(x.count == 3 && y.count == 3 && x[0] % c.groups == 0 && y[0] % c.groups == 0, "needs [C, H, W] tensors with channels divisible by the groups, got \(x) and \(y)")
      let h = (x[1] - 1) * c.strideH - c.padTop - c.padBottom + c.dilationH * (k[0] - 1) + extra[0] + 1
      let w = (x[2] - 1) * c.strideW - c.padLeft - c.padRight + c.dilationW * (k[1] - 1) + extra[1] + 1
      try need(h == y[1] && w == y[2], "output \(y) does not match the transposed convolution of \(x) (\(h) x \(w))")
    }
    if op == .maxPool || op == .avgPool, let p = pool, let x = g.tensors[inputs[0]]?.shape {
      try need(x.count == 3, "needs a [C, H, W] input tensor, got \(x)")
      do { try p.validate(height: x[1], width: x[2]) } catch { throw DeployError("node \(name) (\(op.rawValue)): \(error)") }
    }
  }
}

/// A strided range on one axis (per-sample axes, batch excluded).
public struct DeploySlice: Codable, Equatable, Sendable {
  public var start: Int
  public var end: Int
  public var step: Int
  public init(start: Int, end: Int, step: Int) {
    self.start = start
    self.end = end
    self.step = step
  }
}
