import CKernels

/// Per-channel kernels for [N, C] and [N, C, H, W] tensors (batch norm, bias, per-channel scales).
extension Kernels {
  static func channelDims(_ x: Tensor, _ op: String) -> (n: Int, c: Int, hw: Int) {
    precondition(x.rank >= 2, "\(op): expected [N, C, ...], got shape \(x.shape)")
    let d = x.shape.dims
    return (d[0], d[1], d[2...].reduce(1, *))
  }

  /// Block size argument for the C kernels (1 = row-major).
  static func block(_ x: Tensor) -> Int64 { Int64(x.layout.block) }

  /// Per-channel mean and biased variance over all axes but 1.
  public static func channelStats(_ x: Tensor) -> (mean: [Float], variance: [Float]) {
    let (n, c, hw) = channelDims(x, "channelStats")
    var mean = [Float](repeating: 0, count: c), variance = mean
    mean.withUnsafeMutableBufferPointer { m in
      variance.withUnsafeMutableBufferPointer { v in
        ck_channel_stats(x.storagePointer, Int64(n), Int64(c), Int64(hw), block(x), m.baseAddress, v.baseAddress)
      }
    }
    return (mean, variance)
  }

  /// Per-channel sums over all axes but 1 (double precision).
  public static func channelSums(_ x: Tensor) -> [Double] {
    let (n, c, hw) = channelDims(x, "channelSums")
    var s = [Double](repeating: 0, count: c)
    s.withUnsafeMutableBufferPointer { ck_channel_sums(x.storagePointer, Int64(n), Int64(c), Int64(hw), block(x), $0.baseAddress) }
    return s
  }

  /// y = x * scale[c] + shift[c], optionally followed by ReLU.
  public static func channelAffine(_ x: Tensor, scale: [Float], shift: [Float], relu: Bool = false) -> Tensor {
    let (n, c, hw) = channelDims(x, "channelAffine")
    precondition(scale.count == c && shift.count == c, "channelAffine: \(scale.count) scales / \(shift.count) shifts for \(c) channels of \(x.shape)")
    let out = Tensor(uninitializedShape: x.shape, layout: x.layout)
    ck_channel_affine(x.storagePointer, out.storagePointer, Int64(n), Int64(c), Int64(hw), block(x), scale, shift, relu ? 1 : 0)
    return out
  }

  /// Per channel: (Σ g, Σ g·(x − mean[c])) in double. With `reluMask` (the scale and shift of a
  /// batch norm whose ReLU was fused into it), g counts only where x·scale[c] + shift[c] > 0.
  public static func channelGradSums(_ g: Tensor, _ x: Tensor, mean: [Float], reluMask: (scale: [Float], shift: [Float])? = nil)
    -> (sumG: [Double], sumGX: [Double]) {
    precondition(g.shape == x.shape, "channelGradSums: gradient \(g.shape) and input \(x.shape) differ")
    let g = convertLayout(g, to: x.layout)
    let (n, c, hw) = channelDims(x, "channelGradSums")
    var sg = [Double](repeating: 0, count: c), sgx = sg
    withMask(reluMask) { ms, mt in
      sg.withUnsafeMutableBufferPointer { a in
        sgx.withUnsafeMutableBufferPointer { b in
          ck_channel_grad_sums(g.storagePointer, x.storagePointer, Int64(n), Int64(c), Int64(hw), block(x), mean, ms, mt,
                               a.baseAddress, b.baseAddress)
        }
      }
    }
    return (sg, sgx)
  }

  /// Per channel: dx = a[c]·g + b[c]·(x − mean[c]) + d[c], g masked as in `channelGradSums`.
  public static func channelGradInput(_ g: Tensor, _ x: Tensor, mean: [Float], a: [Float], b: [Float], d: [Float],
                                      reluMask: (scale: [Float], shift: [Float])? = nil) -> Tensor {
    let (n, c, hw) = channelDims(x, "channelGradInput")
    let g = convertLayout(g, to: x.layout)
    let out = Tensor(uninitializedShape: x.shape, layout: x.layout)
    withMask(reluMask) { ms, mt in
      ck_channel_grad_input(g.storagePointer, x.storagePointer, out.storagePointer, Int64(n), Int64(c), Int64(hw), block(x),
                            mean, a, b, d, ms, mt)
    }
    return out
  }

  private static func withMask(_ mask: (scale: [Float], shift: [Float])?,
                               _ body: (UnsafePointer<Float>?, UnsafePointer<Float>?) -> Void) {
    guard let mask else { return body(nil, nil) }
    mask.scale.withUnsafeBufferPointer { s in mask.shift.withUnsafeBufferPointer { t in body(s.baseAddress, t.baseAddress) } }
  }
}
