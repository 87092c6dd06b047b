import DeployFormat
import Layers
import QAT
import TensorCore

/// A quantized weight-bearing layer: its core's op and geometry, the fused activation, integer
/// weight and bias in the payload, and the DPU shifts.
extension QuantizedLayer: Lowerable {
  public var loweredOutput: LoweredOutput { .quantized(fusingActivation: false) }

  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    guard let lowerable = core as? any LowerableWeightBearing else {
      throw context.unsupported("\(core.kind) has no op in the deploy format")
    }
    if let problem = lowerable.exportProblem(inputShape: context.inputShapes[0]) { throw context.unsupported(problem) }
    var d = lowerable.lowerAttributes(context)
    d.activation = activation
    if requantizesByMultiplier { return try lowerWithMultipliers(d, &context) }
    guard let fw = weightQuantizer.fixedPointFormat else { throw context.unsupported("its weight has no fix position") }
    d.weight = context.name + ".weight"
    d.weightBits = fw.bits
    d.weightFractionalBits = fw.fractionalBits
    context.add(context.name + ".weight", try integerWeight(fw))
    if biasValue != nil {
      guard let fb = biasQuantizer?.fixedPointFormat else { throw context.unsupported("its bias is not quantized") }
      d.bias = context.name + ".bias"
      d.biasBits = fb.bits
      d.biasFractionalBits = fb.fractionalBits
      if let b = try integerBias(fb) { context.add(context.name + ".bias", b) }
    }
    if let s = ShiftConstraints.shifts(self) { (d.shiftCut, d.shiftBias) = (s.cut, s.bias) }
    return d
  }
}

extension QuantizedLayer {
  /// Weight and bias codes with per-channel multipliers and shifts (`requantize` int16 / int32).
  func lowerWithMultipliers(_ node: DeployNode, _ context: inout LoweringContext) throws -> DeployNode {
    var d = node
    guard d.op != .convTranspose else { throw context.unsupported("multiplier requantization of a transposed convolution is not supported") }
    let form: IntegerLayerForm
    do { form = try integerForm() } catch { throw context.unsupported("\(error)") }
    d.weight = context.name + ".weight"
    d.weightBits = form.weight.format.bits
    context.add(context.name + ".weight", form.weight)
    d.weightScales = form.weightScales
    d.multiplierBits = requantize.multiplierBits
    d.multipliers = form.requantization.multipliers.map(\.multiplier)
    d.multiplierShifts = form.requantization.multipliers.map(\.shift)
    if let b = form.bias {
      d.bias = context.name + ".bias"
      d.biasBits = b.format.bits
      d.biasShifts = form.requantization.biasShifts
      context.add(context.name + ".bias", b)
    }
    return d
  }
}

/// The DPU's average pooling: window sums · multiplier / 2^shift.
extension DPUAvgPool: Lowerable {
  public var loweredOutput: LoweredOutput { .quantized(fusingActivation: false) }

  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    var d = context.node(geometry == nil ? .globalAvgPool : .avgPool)
    d.pool = geometry
    d.poolMultiplier = multiplier
    d.poolShift = shift
    return d
  }
}

/// Average pooling in its float form (simulate_dpu 0): exact in the integer format when every
/// window divides by the same power of two (the sum shifted); other areas need the DPU's factor.
extension AvgPool2D: Lowerable {
  public var loweredOutput: LoweredOutput { .quantized(fusingActivation: false) }

  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    if let problem = exportProblem(inputShapes: context.inputShapes) { throw context.unsupported(problem) }
    var d = context.node(.avgPool)
    d.pool = geometry
    (d.poolMultiplier, d.poolShift) = (1, (geometry.kernelH * geometry.kernelW).trailingZeroBitCount)
    return d
  }

  public func exportProblem(inputShapes: [[Int]]) -> String? {
    let area = geometry.kernelH * geometry.kernelW
    if area & (area - 1) != 0 { return AveragingProblem.area(area) }
    if !countIncludePad && (geometry.padH > 0 || geometry.padW > 0) { return "average pooling that excludes padding divides border windows by fewer cells; the integer format needs one divisor" }
    if geometry.ceilMode, let s = inputShapes.first, s.count == 3 {
      var floor = geometry
      floor.ceilMode = false
      if floor.outputSize(s[1], s[2]) != geometry.outputSize(s[1], s[2]) { return "ceil_mode adds partial windows with fewer cells; the integer format needs one divisor" }
    }
    return nil
  }
}

extension GlobalAvgPool: Lowerable {
  public var loweredOutput: LoweredOutput { .quantized(fusingActivation: false) }

  public func lower(_ context: inout LoweringContext) throws -> DeployNode? {
    if let problem = exportProblem(inputShapes: context.inputShapes) { throw context.unsupported(problem) }
    let s = context.inputShapes[0]
    var d = context.node(.globalAvgPool)
    (d.poolMultiplier, d.poolShift) = (1, (s[1] * s[2]).trailingZeroBitCount)
    return d
  }

  public func exportProblem(inputShapes: [[Int]]) -> String? {
    guard let s = inputShapes.first, s.count == 3 else { return "global average pooling of a non-[C, H, W] input" }
    let area = s[1] * s[2]
    return area & (area - 1) == 0 ? nil : AveragingProblem.area(area)
  }
}

enum AveragingProblem {
  static func area(_ n: Int) -> String {
    "an average over \(n) cells (not a power of two) has no exact integer form without the DPU's multiplier (simulate_dpu 1)"
  }
}
