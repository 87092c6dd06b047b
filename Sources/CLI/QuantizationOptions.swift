import ArgumentParser
import QAT
import TensorCore
import Training

/// The quantization configuration under vai_q's and xfDNN's option names (quantize, inspect).
struct QuantizationOptions: ParsableArguments {
  @Option(help: "xfDNN bitwidths: activations,parameters[,outputs] (e.g. 8,8).") var bitwidths: String?
  @Option(help: "Weight and bias bits (vai_q weight_bit).") var weightBit: Int?
  @Option(help: "Activation bits (vai_q activation_bit).") var activationBit: Int?
  @Option(help: "Bias bits (default: the weight bits).") var biasBit: Int?
  @Option(help: "Bits of the residual branches (tensors only residual adds read; default: the activation bits).") var residualBit: Int?
  @Option(help: "vai_q adjust_shift_cut: 1 enforces the DPU shift_cut range, 0 disables.") var adjustShiftCut = 1
  @Option(help: "vai_q adjust_shift_bias: 1 enforces the DPU shift_bias range, 0 disables.") var adjustShiftBias = 1
  @Option(help: "Calibration method: \(CalibrationMethod.names.joined(separator: ", ")) (or vai_q 0/1/2).")
  var method = "min-diffs"
  @Option(help: "Weight method when different from --method (default: --method, or min-diffs when --method is percentile or entropy, which calibrate activations).") var weightMethod: String?
  @Option(help: "Histogram bins for percentile / entropy / mse (NVDLA bins; \(CalibrationMethod.binRange.lowerBound)...\(CalibrationMethod.binRange.upperBound), default \(CalibrationMethod.defaultBins)).") var bins: Int?
  @Option(help: "Percentile threshold in (0, 1] (NVDLA threshold; default 1 = no clipping).") var threshold: Double?
  @Option(help: "vai_q nodes_bit: node:bits,...") var nodesBit: String?
  @Option(help: "vai_q nodes_method: node:method,...") var nodesMethod: String?
  @Option(help: "vai_q ignore_nodes: comma-separated node names left in float.") var ignoreNodes: String?
  @Option(help: "vai_q input_nodes.") var inputNodes: String?
  @Option(help: "vai_q output_nodes.") var outputNodes: String?
  @Option(help: "vai_q align_concat: 0 all, 1 output concats, 2 none.") var alignConcat = 0
  @Option(help: "vai_q arch_type: DEFAULT or DPUCADF8H.") var archType = "DEFAULT"
  @Option(help: "vai_q simulate_dpu: 1 (LeakyReLU 26/256, DPU average pooling) or 0.") var simulateDpu = 1
  @Option(help: "Rounding of activations: half_up (the DPU's), half_even (QuantizeLinear's: ONNX Runtime runs a QDQ export to 0 LSB), half_away, floor, ceil, toward_zero.")
  var activationRounding = "half_up"
  @Option(help: "Every tensor at this fix position (Micron DLA's default Q8.8: --bitwidths 16,16 --fix-position 8); default: per-tensor positions (Micron varfp).")
  var fixPosition: Int?
  @Option(help: "Bits of the first conv (weights and input), e.g. 8 in low-bit runs.") var firstLayerBit: Int?
  @Option(help: "Bits of the last layer (weights, input and output).") var lastLayerBit: Int?
  @Flag(help: "Symmetric per-channel weights with float scales (instead of power-of-two per tensor).") var perChannel = false
  @Option(help: "Requantization of conv / linear outputs: power_of_two (a shift; the DPU), int16 (16-bit multiplier and shift: Quark Int16Scale, TIDL) or int32 (gemmlowp). --per-channel weights need int16 or int32 for export and the simulator.")
  var requantize = "power_of_two"
  @Flag(help: "Unsigned formats for activations that cannot be negative (after ReLU; TIDL style). Default: all signed (DPU).")
  var unsignedActivations = false

  func parseMethod(_ name: String) throws -> CalibrationMethod {
    guard let m = CalibrationMethod.named(name, bins: bins ?? CalibrationMethod.defaultBins, threshold: threshold ?? 1) else {
      throw ValidationError("unknown method '\(name)' (known: \(CalibrationMethod.names.joined(separator: ", ")))")
    }
    return m
  }

  func makeConfig() throws -> QuantizationConfig {
    var c = QuantizationConfig()
    if let bitwidths { try c.apply(bitwidths: bitwidths) }
    if let weightBit {
      if bitwidths != nil && weightBit != c.weightBit { throw ValidationError("--weight-bit \(weightBit) contradicts --bitwidths \(bitwidths!)") }
      c.weightBit = weightBit
    }
    if let activationBit {
      if bitwidths != nil && activationBit != c.activationBit { throw ValidationError("--activation-bit \(activationBit) contradicts --bitwidths \(bitwidths!)") }
      c.activationBit = activationBit
    }
    c.biasBit = biasBit
    c.residualBit = residualBit
    for (option, value) in [("--adjust-shift-cut", adjustShiftCut), ("--adjust-shift-bias", adjustShiftBias)] where !(0...1).contains(value) {
      throw ValidationError("\(option) must be 0 (leave positions) or 1 (enforce the DPU range), got \(value)")
    }
    c.adjustShiftCut = adjustShiftCut == 1 ? .adjust : .keep
    c.adjustShiftBias = adjustShiftBias == 1 ? .adjust : .keep
    c.method = try parseMethod(method)
    c.weightMethod = try weightMethod.map(parseMethod)
    if let nodesBit {
      for (n, v) in try QuantizationConfig.parsePairs(nodesBit, option: "nodes_bit") {
        guard let b = Int(v) else { throw ValidationError("nodes_bit \(n):\(v): bits must be an integer") }
        guard c.nodesBit.updateValue(b, forKey: n) == nil else { throw ValidationError("--nodes-bit names \(n) twice") }
      }
    }
    if let nodesMethod {
      for (n, v) in try QuantizationConfig.parsePairs(nodesMethod, option: "nodes_method") {
        guard c.nodesMethod.updateValue(try parseMethod(v), forKey: n) == nil else { throw ValidationError("--nodes-method names \(n) twice") }
      }
    }
    let methods = [c.method] + (c.weightMethod.map { [$0] } ?? []) + Array(c.nodesMethod.values)
    if bins != nil && !methods.contains(where: \.usesBins) {
      warn("--bins has no effect: only percentile, entropy and mse use a histogram (methods here: \(Set(methods.map(\.description)).sorted().joined(separator: ", ")))")
    }
    if threshold != nil && !methods.contains(where: \.usesThreshold) {
      warn("--threshold has no effect: only the percentile method uses it")
    }
    func list(_ s: String?) -> [String] { s?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? [] }
    c.ignoreNodes = list(ignoreNodes)
    c.inputNodes = list(inputNodes)
    c.outputNodes = list(outputNodes)
    guard let alignment = QuantizationConfig.ConcatAlignment(rawValue: alignConcat) else {
      throw ValidationError("--align-concat must be 0 (all concats), 1 (output concats) or 2 (none), got \(alignConcat)")
    }
    c.alignConcat = alignment
    guard let at = QuantizationConfig.ArchType(rawValue: archType.uppercased()) else {
      throw ValidationError("--arch-type must be DEFAULT or DPUCADF8H, got \(archType)")
    }
    c.archType = at
    guard simulateDpu == 0 || simulateDpu == 1 else { throw ValidationError("--simulate-dpu must be 0 or 1") }
    c.simulateDPU = simulateDpu == 1
    guard let rounding = RoundingRule(rawValue: activationRounding) else {
      throw ValidationError("--activation-rounding '\(activationRounding)': expected one of \(RoundingRule.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    c.activationRounding = rounding
    c.fixedFractionalBits = fixPosition
    c.firstLayerBit = firstLayerBit
    c.lastLayerBit = lastLayerBit
    c.unsignedActivations = unsignedActivations
    guard let rq = RequantizeMode(rawValue: requantize) else {
      throw ValidationError("--requantize '\(requantize)': expected one of \(RequantizeMode.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    c.requantize = rq
    if perChannel {
      c.perChannelWeights = true
      if c.weightMethod == nil, [.nonOverflow, .minDiffs, .minDiffsDepthwise].contains(c.method) { c.weightMethod = .minMax }
    }
    try c.validate()
    return c
  }
}
