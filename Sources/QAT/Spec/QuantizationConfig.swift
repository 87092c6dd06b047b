import TensorCore

/// What to quantize and how, with the option names users bring from vai_q (`weight_bit`,
/// `activation_bit`, `nodes_bit`, `method`, `nodes_method`, `ignore_nodes`, `input_nodes`,
/// `output_nodes`, `align_concat`, `arch_type`, `simulate_dpu`) and xfDNN (`bitwidths`).
public struct QuantizationConfig: Hashable, Sendable, Codable {
  /// Weight and bias bit width (vai_q `weight_bit`).
  public var weightBit = 8
  /// Activation (and input) bit width (vai_q `activation_bit`).
  public var activationBit = 8
  /// Bias bit width; nil uses `weightBit`.
  public var biasBit: Int?
  /// Calibration method for weights and activations (vai_q `method`).
  public var method: CalibrationMethod = .minDiffs
  /// Method for weights only, when different from `method`.
  public var weightMethod: CalibrationMethod?

  /// The weights' method when `weight_method` is not given: `method`, except that the
  /// activation-only histogram methods (percentile and entropy, as in NVDLA's and TensorRT's
  /// calibrators) leave weights to min-diffs, vai_q's default.
  public var defaultWeightMethod: CalibrationMethod {
    if let weightMethod { return weightMethod }
    switch method {
    case .percentile, .entropy: return .minDiffs
    default: return method
    }
  }
  /// Bit width of the residual branches: activation tensors that only residual adds read (a
  /// conv's output before the sum, never the input of a conv or linear layer). nil uses
  /// `activationBit`. Low-bit papers (PACT, LSQ, APoT) quantize conv inputs only and keep this
  /// tensor in float; 8 here keeps it on the integer grid at a width the hardware adds in.
  public var residualBit: Int?
  /// Per-node bit widths (vai_q `nodes_bit`): node name -> bits. A conv/linear node name applies
  /// to its weights and its output; "<node>.weight" to the weights only.
  public var nodesBit: [String: Int] = [:]
  /// Per-node methods (vai_q `nodes_method`).
  public var nodesMethod: [String: CalibrationMethod] = [:]
  /// Nodes left in float (vai_q `ignore_nodes`).
  public var ignoreNodes: [String] = []
  /// Quantize only the subgraph after these nodes (vai_q `input_nodes`); empty: from the inputs.
  public var inputNodes: [String] = []
  /// ... and before these (vai_q `output_nodes`); empty: up to the outputs.
  public var outputNodes: [String] = []
  /// Concat input alignment (vai_q `align_concat`: 0 all concats, 1 output concats only, 2 off).
  public var alignConcat: ConcatAlignment = .all
  /// Pooling outputs share their input's position (as the DPU computes them).
  public var alignPool = true
  /// Bit width for the first convolution (weights and output) and the last layer; nil keeps the
  /// global widths.
  public var firstLayerBit: Int?
  public var lastLayerBit: Int?
  /// vai_q `arch_type`: DEFAULT, or DPUCADF8H (activations limited to [-127, 127]).
  public var archType: ArchType = .default
  /// Activations that cannot be negative (after ReLU / ReLU6, and pools of those) use unsigned
  /// formats, one more level of resolution (TIDL's unsigned activations; PACT / LSQ low-bit
  /// results assume it). Off by default: the DPU keeps every tensor signed.
  public var unsignedActivations = false
  /// Weight scheme: power of two per tensor (default) or symmetric per-channel float scales.
  public var perChannelWeights = false
  /// How conv / linear accumulators reach their output grid: a shift (power-of-two weights, the
  /// DPU), or an int16 / int32 multiplier and a shift, which float weight scales (per-channel
  /// weights) need for an exact integer model. The fake-quant model computes the same integer
  /// requantization, so the simulator agrees with it at 0 LSB.
  public var requantize: RequantizeMode = .powerOfTwo
  /// Activation scheme: power of two (DPU) or float scales.
  public var activationScheme: QuantSpec.Scheme = .powerOfTwo
  /// Rounding of weights, biases and the input (DPU: half to even) and of activations (DPU: half up).
  public var weightRounding: RoundingRule = .halfToEven
  public var activationRounding: RoundingRule = .halfUp
  /// vai_q `simulate_dpu`: LeakyReLU slope 26/256, average pooling as sum · k / 2^n.
  public var simulateDPU = true
  /// What happens to batch norms after a weight-bearing layer: folded into it (PTQ, the
  /// default), kept as layers of their own, or trained with it as QAT's folded Conv / Linear + BN.
  public var batchNorm: BatchNormHandling = .fold
  /// vai_q adjust_shift_cut / adjust_shift_bias (1 / 0): move positions so the DPU's shift ranges
  /// hold, or leave them.
  public var adjustShiftCut: ShiftRule = .adjust
  public var adjustShiftBias: ShiftRule = .adjust
  /// Every power-of-two tensor at this many fractional bits instead of a calibrated position
  /// (Micron DLA's default Q8.8: 16 bits, 8 fractional bits). nil: per-tensor positions (varfp).
  public var fixedFractionalBits: Int?
  public enum ArchType: String, Hashable, Sendable, Codable {
    case `default` = "DEFAULT"
    case dpucadf8h = "DPUCADF8H"
  }

  /// vai_q `align_concat` (its numbers in files and on the command line).
  public enum ConcatAlignment: Int, Hashable, Sendable, Codable {
    /// Every concat's inputs share one position.
    case all = 0
    /// Only concats whose output is a model output.
    case outputsOnly = 1
    /// No alignment.
    case off = 2
  }

  /// vai_q `adjust_shift_cut` / `adjust_shift_bias` (0 / 1 in files and on the command line).
  public enum ShiftRule: Int, Hashable, Sendable, Codable {
    case keep = 0
    case adjust = 1
  }

  /// Batch norms after a weight-bearing layer.
  public enum BatchNormHandling: String, Hashable, Sendable, Codable {
    /// Folded into the layer before quantizing (post-training quantization).
    case fold
    /// Left as layers with quantized outputs.
    case keep
    /// Kept with the layer as `QuantizedBatchNormFold` for quantization-aware training
    /// (fake-quantized folded weights, live batch statistics until frozen).
    case qat
  }

  /// Prepared for quantization-aware training (batch norms trained with their layers).
  public var trainable: Bool { batchNorm == .qat }

  public init() {}

  enum CodingKeys: String, CodingKey, CaseIterable {
    case weightBit = "weight_bit", activationBit = "activation_bit", biasBit = "bias_bit", method
    case weightMethod = "weight_method", nodesBit = "nodes_bit", nodesMethod = "nodes_method"
    case ignoreNodes = "ignore_nodes", inputNodes = "input_nodes", outputNodes = "output_nodes"
    case alignConcat = "align_concat", alignPool = "align_pool", firstLayerBit = "first_layer_bit"
    case lastLayerBit = "last_layer_bit", archType = "arch_type", perChannelWeights = "per_channel_weights"
    case activationScheme = "activation_scheme", weightRounding = "weight_rounding"
    case activationRounding = "activation_rounding", simulateDPU = "simulate_dpu", batchNorm = "batch_norm"
    case adjustShiftCut = "adjust_shift_cut", adjustShiftBias = "adjust_shift_bias"
    case fixedFractionalBits = "fixed_fractional_bits", unsignedActivations = "unsigned_activations"
    case residualBit = "residual_bit", requantize
  }

  /// The keys of schema version 1, which held the batch-norm handling as two flags.
  enum LegacyKeys: String, CodingKey { case foldBatchNorm = "fold_bn", trainable = "qat" }

  /// Strict: an unknown key or a value of the wrong type is an error naming the key.
  public init(from decoder: Decoder) throws {
    try decoder.rejectUnknownKeys(CodingKeys.self, also: ["fold_bn", "qat"])
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let d = QuantizationConfig()
    weightBit = try c.decodeIfPresent(Int.self, forKey: .weightBit) ?? d.weightBit
    activationBit = try c.decodeIfPresent(Int.self, forKey: .activationBit) ?? d.activationBit
    biasBit = try c.decodeIfPresent(Int.self, forKey: .biasBit)
    residualBit = try c.decodeIfPresent(Int.self, forKey: .residualBit)
    method = try c.decodeIfPresent(CalibrationMethod.self, forKey: .method) ?? d.method
    weightMethod = try c.decodeIfPresent(CalibrationMethod.self, forKey: .weightMethod)
    nodesBit = try c.decodeIfPresent([String: Int].self, forKey: .nodesBit) ?? [:]
    nodesMethod = try c.decodeIfPresent([String: CalibrationMethod].self, forKey: .nodesMethod) ?? [:]
    ignoreNodes = try c.decodeIfPresent([String].self, forKey: .ignoreNodes) ?? []
    inputNodes = try c.decodeIfPresent([String].self, forKey: .inputNodes) ?? []
    outputNodes = try c.decodeIfPresent([String].self, forKey: .outputNodes) ?? []
    alignConcat = try c.decodeIfPresent(ConcatAlignment.self, forKey: .alignConcat) ?? d.alignConcat
    alignPool = try c.decodeIfPresent(Bool.self, forKey: .alignPool) ?? d.alignPool
    firstLayerBit = try c.decodeIfPresent(Int.self, forKey: .firstLayerBit)
    lastLayerBit = try c.decodeIfPresent(Int.self, forKey: .lastLayerBit)
    archType = try c.decodeIfPresent(ArchType.self, forKey: .archType) ?? d.archType
    perChannelWeights = try c.decodeIfPresent(Bool.self, forKey: .perChannelWeights) ?? d.perChannelWeights
    activationScheme = try c.decodeIfPresent(QuantSpec.Scheme.self, forKey: .activationScheme) ?? d.activationScheme
    weightRounding = try c.decodeIfPresent(RoundingRule.self, forKey: .weightRounding) ?? d.weightRounding
    activationRounding = try c.decodeIfPresent(RoundingRule.self, forKey: .activationRounding) ?? d.activationRounding
    simulateDPU = try c.decodeIfPresent(Bool.self, forKey: .simulateDPU) ?? d.simulateDPU
    batchNorm = try Self.decodeBatchNorm(c, try decoder.container(keyedBy: LegacyKeys.self)) ?? d.batchNorm
    adjustShiftCut = try c.decodeIfPresent(ShiftRule.self, forKey: .adjustShiftCut) ?? d.adjustShiftCut
    adjustShiftBias = try c.decodeIfPresent(ShiftRule.self, forKey: .adjustShiftBias) ?? d.adjustShiftBias
    fixedFractionalBits = try c.decodeIfPresent(Int.self, forKey: .fixedFractionalBits)
    unsignedActivations = try c.decodeIfPresent(Bool.self, forKey: .unsignedActivations) ?? d.unsignedActivations
    requantize = try c.decodeIfPresent(RequantizeMode.self, forKey: .requantize) ?? d.requantize
  }

  /// `batch_norm`, or the two flags of schema version 1 (`qat`: true trained the batch norms,
  /// whatever `fold_bn` said; otherwise `fold_bn` chose fold or keep). Both forms at once are an
  /// error.
  static func decodeBatchNorm(_ c: KeyedDecodingContainer<CodingKeys>,
                              _ legacy: KeyedDecodingContainer<LegacyKeys>) throws -> BatchNormHandling? {
    let fold = try legacy.decodeIfPresent(Bool.self, forKey: .foldBatchNorm)
    let train = try legacy.decodeIfPresent(Bool.self, forKey: .trainable)
    guard let mode = try c.decodeIfPresent(BatchNormHandling.self, forKey: .batchNorm) else {
      if train == true { return .qat }
      return fold.map { $0 ? .fold : .keep }
    }
    guard fold == nil && train == nil else {
      throw DecodingError.dataCorruptedError(forKey: .batchNorm, in: c,
        debugDescription: "batch_norm together with the schema-1 flags fold_bn / qat; keep only batch_norm")
    }
    return mode
  }

  /// xfDNN's `bitwidths` "a,p[,o]": input/activation bits, parameter bits (and output bits,
  /// which must equal the activation bits here).
  public mutating func apply(bitwidths: String) throws {
    let parts = bitwidths.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard (2...3).contains(parts.count), parts.allSatisfy({ $0 != nil && (2...16).contains($0!) }) else {
      throw QuantizationError("bitwidths '\(bitwidths)': expected two or three comma-separated widths in 2...16 (activations,parameters[,outputs])")
    }
    if parts.count == 3 && parts[2] != parts[0] {
      throw QuantizationError("bitwidths '\(bitwidths)': output width \(parts[2]!) must equal the activation width \(parts[0]!)")
    }
    activationBit = parts[0]!
    weightBit = parts[1]!
  }

  /// Parses vai_q's "name:value,name:value" lists.
  public static func parsePairs(_ text: String, option: String) throws -> [(String, String)] {
    try text.split(separator: ",").map { item in
      let kv = item.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
      guard kv.count == 2, !kv[0].isEmpty, !kv[1].isEmpty else {
        throw QuantizationError("\(option): '\(item)' is not name:value")
      }
      return (kv[0], kv[1])
    }
  }

  /// Positions `fixed_fractional_bits` accepts.
  public static let fixedPositionRange = -32...32

  /// Checks the options are consistent; throws naming the first contradiction.
  public func validate() throws {
    for (name, b) in [("weight_bit", weightBit), ("activation_bit", activationBit)] + (biasBit.map { [("bias_bit", $0)] } ?? [])
                    + (residualBit.map { [("residual_bit", $0)] } ?? [])
    where !(2...16).contains(b) {
      throw QuantizationError("\(name) must be in 2...16, got \(b)")
    }
    for (name, b) in [("first_layer_bit", firstLayerBit), ("last_layer_bit", lastLayerBit)] {
      if let b, !(2...16).contains(b) { throw QuantizationError("\(name) must be in 2...16, got \(b)") }
    }
    for (node, b) in nodesBit where !(2...16).contains(b) { throw QuantizationError("nodes_bit \(node):\(b) must be in 2...16") }
    try method.validate()
    try weightMethod?.validate()
    for (node, m) in nodesMethod {
      do { try m.validate() } catch { throw QuantizationError("nodes_method \(node): \(error)") }
    }
    if let f = fixedFractionalBits {
      guard Self.fixedPositionRange.contains(f) else {
        throw QuantizationError("fixed_fractional_bits (fix position) must be in \(Self.fixedPositionRange), got \(f): a conv's accumulator position is the sum of two positions and must stay within the kernels' ±64")
      }
      if perChannelWeights {
        throw QuantizationError("fixed_fractional_bits (fix position) \(f) contradicts per-channel weights, whose scales are float: choose one")
      }
      if activationScheme != .powerOfTwo {
        throw QuantizationError("fixed_fractional_bits (fix position) \(f) needs power-of-two activations, not \(activationScheme.rawValue)")
      }
    }
    if perChannelWeights && weightMethod.map({ [.nonOverflow, .minDiffs, .minDiffsDepthwise].contains($0) }) == true {
      throw QuantizationError("per-channel weights use float scales; choose min-max, percentile, entropy or mse for weight_method")
    }
    if requantize != .powerOfTwo && activationScheme != .powerOfTwo {
      throw QuantizationError("requantize \(requantize.rawValue) covers float weight scales; activations must keep power-of-two scales (activation_scheme power_of_two): adds, concats and pools of float-scale activations have no integer form here")
    }
    let overlap = Set(inputNodes).intersection(outputNodes)
    if !overlap.isEmpty { throw QuantizationError("nodes \(overlap.sorted()) are both input_nodes and output_nodes") }
  }
}
