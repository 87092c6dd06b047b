import Layers
import TensorCore

/// A layer the DPU computes differently from its float definition (vai_q `simulate_dpu`):
/// `Prepare` replaces it by the DPU's form, so calibration, QAT and export all see what the
/// hardware computes.
public protocol DPUSimulated: Layer {
  /// The DPU's form of this layer, or nil to keep it. `input()` gives the layer's input shape for
  /// a batch of one (nil when unknown; computed on first use, by a forward pass); `quantized` tells
  /// whether the node is in the quantized region.
  func dpuForm(input: () -> Shape?, quantized: Bool) -> (any Layer)?
}

/// LeakyReLU: the DPU's slope 26/256, everywhere.
extension LeakyReLU: DPUSimulated {
  public func dpuForm(input: () -> Shape?, quantized: Bool) -> (any Layer)? { LeakyReLU(negativeSlope: FusedActivation.leakySlope) }
}

/// Average pooling computes sum · k / 2^n (the DPU's multipliers; exact for power-of-two areas)
/// when padding counts toward the area or there is none.
extension AvgPool2D: DPUSimulated {
  public func dpuForm(input: () -> Shape?, quantized: Bool) -> (any Layer)? {
    guard quantized, countIncludePad || (geometry.padH == 0 && geometry.padW == 0) else { return nil }
    return DPUAvgPool(geometry: geometry, kernel: geometry.kernel)
  }
}

/// Global average pooling: the same over the input's H·W.
extension GlobalAvgPool: DPUSimulated {
  public func dpuForm(input: () -> Shape?, quantized: Bool) -> (any Layer)? {
    guard quantized, let shape = input(), shape.rank == 4 else { return nil }
    return DPUAvgPool(geometry: nil, kernel: (shape[2], shape[3]))  // the DPU's factors for an H × W window
  }
}
