/// Average pooling without a division, as the DPU computes it: the window sum times
/// multiplier / 2^shift. Power-of-two areas are exact (multiplier 1); the DPU's fixed pairs cover
/// 3x3, 5x5, 6x6, 7x7 and 14x14; other areas use the k / 2^n closest to 1 / area with
/// n < 7 + ⌈log2 area⌉. The deploy graph stores the pair; the reader checks it against this.
public enum AveragePoolScaling {
  public static func dpu(kernelH: Int, kernelW: Int) -> (multiplier: Int, shift: Int) {
    let area = kernelH * kernelW
    precondition(area > 0, "AveragePoolScaling: empty window")
    if area & (area - 1) == 0 { return (1, area.trailingZeroBitCount) }
    switch (kernelH, kernelW) {
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
}
