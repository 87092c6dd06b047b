import Autograd
import Layers
import TensorCore

/// Average pooling as the DPU computes it: the window sum times multiplier / 2^shift, never a
/// division (vai_q simulate_dpu). Power-of-two areas are exact (multiplier 1); the DPU's fixed
/// pairs cover 3x3, 5x5, 6x6, 7x7 and 14x14; other areas use the k / 2^n closest to 1 / area.
public final class DPUAvgPool: AveragePooling {
  /// nil: global pooling over H and W.
  public let geometry: Pool2DGeometry?
  public let multiplier: Int
  public let shift: Int

  /// A window (or, for global pooling, the input's H × W) of kernelH × kernelW cells.
  public init(geometry: Pool2DGeometry?, kernel: (h: Int, w: Int)) {
    self.geometry = geometry
    (multiplier, shift) = Self.scaling(kernel: kernel)
  }

  /// (k, n) with k / 2^n standing for 1 / area of a kh × kw window (`AveragePoolScaling.dpu`).
  public static func scaling(kernel: (Int, Int)) -> (Int, Int) {
    let s = AveragePoolScaling.dpu(kernelH: kernel.0, kernelW: kernel.1)
    return (s.multiplier, s.shift)
  }

  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "DPUAvgPool")
    let sum: Tensor
    if let g = geometry {
      sum = x.avgPool2D(g, countIncludePad: true, divisor: 1)
    } else {
      sum = x.sum(axes: [2, 3], keepDims: true)
    }
    return sum * Float(Double(multiplier) / Double(1 << shift))
  }

  public var kind: String { "DPUAvgPool" }
  public func flops(inputs: [Shape], output: Shape) -> Int { 2 * (inputs.first?.count ?? 0) }
}
