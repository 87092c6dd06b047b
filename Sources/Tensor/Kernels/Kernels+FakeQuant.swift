import CKernels

/// The integer grid of a fake-quant operation: q = clamp(round(x / scale) + zeroPoint, qmin, qmax),
/// dequantized as (q − zeroPoint) · scale. Power-of-two formats use scale = 2^-fractionalBits.
public struct QuantGrid: Hashable, Sendable {
  public var scale: Float
  public var zeroPoint: Float
  public var qmin: Float
  public var qmax: Float
  public var rounding: RoundingRule

  public init(scale: Float, zeroPoint: Float = 0, qmin: Float, qmax: Float, rounding: RoundingRule) {
    precondition(scale > 0 && scale.isFinite, "QuantGrid: scale must be positive and finite, got \(scale)")
    precondition(qmin <= qmax, "QuantGrid: qmin \(qmin) > qmax \(qmax)")
    self.scale = scale
    self.zeroPoint = zeroPoint
    self.qmin = qmin
    self.qmax = qmax
    self.rounding = rounding
  }

  /// 1 / scale as the kernels multiply by it (exact for powers of two).
  public var inverseScale: Float { 1 / scale }
}

extension Kernels {
  public static func fakeQuantize(_ x: Tensor, _ grid: QuantGrid) -> Tensor {
    let out = Tensor(uninitializedShape: x.shape, layout: x.layout)
    ck_fake_quant(x.storagePointer, out.storagePointer, Int64(x.count), grid.inverseScale, grid.scale, grid.zeroPoint,
                  grid.qmin, grid.qmax, grid.rounding.c)
    return out
  }

  /// Straight-through gradient: g where the unclamped integer lies in [qmin, qmax], else 0.
  public static func fakeQuantizeGradient(_ g: Tensor, _ x: Tensor, _ grid: QuantGrid) -> Tensor {
    precondition(g.shape == x.shape, "fakeQuantizeGradient: gradient \(g.shape) and input \(x.shape) differ")
    let g = convertLayout(g, to: x.layout)
    let out = Tensor(uninitializedShape: x.shape, layout: x.layout)
    ck_fake_quant_grad(g.storagePointer, x.storagePointer, out.storagePointer, Int64(x.count), grid.inverseScale, grid.zeroPoint,
                       grid.qmin, grid.qmax, grid.rounding.c)
    return out
  }

  /// Per-channel fake-quant along `axis` (scales, zero points per channel; one rounding and range).
  public static func fakeQuantize(_ x: Tensor, axis: Int, scales: [Float], zeroPoints: [Float]?,
                                  qmin: Float, qmax: Float, rounding: RoundingRule) -> Tensor {
    let x = x.rowMajor
    let (outer, c, inner) = axisSplit(x.shape, axis, scales.count, "fakeQuantize")
    let inv = scales.map { 1 / $0 }
    let out = Tensor(uninitializedShape: x.shape)
    withOptionalPointer(zeroPoints) { zp in
      ck_fake_quant_channels(x.pointer, out.pointer, Int64(outer), Int64(c), Int64(inner), inv, scales, zp,
                             qmin, qmax, rounding.c)
    }
    return out
  }

  public static func fakeQuantizeGradient(_ g: Tensor, _ x: Tensor, axis: Int, scales: [Float], zeroPoints: [Float]?,
                                          qmin: Float, qmax: Float, rounding: RoundingRule) -> Tensor {
    let (x, g) = (x.rowMajor, g.rowMajor)
    let (outer, c, inner) = axisSplit(x.shape, axis, scales.count, "fakeQuantizeGradient")
    let inv = scales.map { 1 / $0 }
    let out = Tensor(uninitializedShape: x.shape)
    withOptionalPointer(zeroPoints) { zp in
      ck_fake_quant_channels_grad(g.pointer, x.pointer, out.pointer, Int64(outer), Int64(c), Int64(inner), inv, zp,
                                  qmin, qmax, rounding.c)
    }
    return out
  }

  static func axisSplit(_ shape: Shape, _ axis: Int, _ channels: Int, _ op: String) -> (Int, Int, Int) {
    let a = shape.normalized(axis)
    precondition(shape.dims[a] == channels, "\(op): \(channels) channel parameters for axis \(a) of \(shape)")
    return (shape.dims[..<a].reduce(1, *), shape.dims[a], shape.dims[(a + 1)...].reduce(1, *))
  }
}

func withOptionalPointer<R>(_ a: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
  guard let a else { return body(nil) }
  return a.withUnsafeBufferPointer { body($0.baseAddress) }
}

extension Kernels {
  /// Backward of learned-range fake quantization: the input's straight-through gradient and the
  /// sum Σ g·r that the scale's gradient is made of (see `ck_learned_range_grad`).
  public static func learnedRangeGradient(_ g: Tensor, _ x: Tensor, _ grid: QuantGrid) -> (Tensor, Double) {
    let g = convertLayout(g, to: x.layout)
    let out = Tensor(uninitializedShape: x.shape, layout: x.layout)
    let sum = ck_learned_range_grad(g.storagePointer, x.storagePointer, out.storagePointer, Int64(x.count),
                                    grid.inverseScale, grid.qmin, grid.qmax, grid.rounding.c)
    return (out, sum)
  }
}
