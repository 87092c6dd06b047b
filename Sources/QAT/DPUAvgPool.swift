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

  /// (k, n) with k / 2^n standing for 1 / area of a kh × kw window.
  public static func scaling(kernel: (Int, Int)) -> (Int, Int) {
    let area = kernel.0 * kernel.1
    precondition(area > 0, "DPUAvgPool: empty window")
    if area & (area - 1) == 0 { return (1, area.trailingZeroBitCount) }
    switch kernel {
    case (3, 3): return (7, 6)
    case (5, 5): return (10, 8)
    case (6, 6), (3, 6), (6, 3): return (7, 8)
    case (7, 7): return (21, 10)
    case (14, 14): return (21, 12)
    default: break
    }
    let limit = ceilLog2(area * 128)
    var best = (1, 0), bestError = Double.infinity
    for n in 0..<limit {
      let k = Int((Double(1 << n) / Double(area)).rounded())
      guard k > 0 else { continue }
      let e = abs(Double(k) / Double(1 << n) - 1 / Double(area))
      if e < bestError { (best, bestError) = ((k, n), e) }
    }
    return best
  }

  static func ceilLog2(_ x: Int) -> Int { x <= 1 ? 0 : Int.bitWidth - (x - 1).leadingZeroBitCount }

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
