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
    var d = lowerable.lowerAttributes(context)
    d.activation = activation
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
