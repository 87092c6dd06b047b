import TensorCore

// Straight-through estimators for quantization-aware training.

extension Tensor {
  /// Rounds with `rule`; the gradient passes through unchanged.
  public func roundedSTE(_ rule: RoundingRule) -> Tensor {
    Kernels.round(self, rule).recorded(from: [self]) { g in [g] }
  }

  /// Clamps to [lo, hi]; the gradient passes through unchanged (also where clamped).
  public func clampedSTE(min lo: Float, max hi: Float) -> Tensor {
    Kernels.clamp(self, min: lo, max: hi).recorded(from: [self]) { g in [g] }
  }

  /// Fake quantization onto `grid`; the gradient is 1 where the unclamped integer lies inside
  /// [qmin, qmax] and 0 outside.
  public func fakeQuantized(_ grid: QuantGrid) -> Tensor {
    let x = detached
    return Kernels.fakeQuantize(self, grid).recorded(from: [self]) { g in
      [Kernels.fakeQuantizeGradient(g, x, grid)]
    }
  }

  /// Per-channel fake quantization along `axis`.
  public func fakeQuantized(axis: Int, scales: [Float], zeroPoints: [Float]?, qmin: Float, qmax: Float,
                            rounding: RoundingRule) -> Tensor {
    let x = detached
    return Kernels.fakeQuantize(self, axis: axis, scales: scales, zeroPoints: zeroPoints, qmin: qmin, qmax: qmax,
                                rounding: rounding).recorded(from: [self]) { g in
      [Kernels.fakeQuantizeGradient(g, x, axis: axis, scales: scales, zeroPoints: zeroPoints, qmin: qmin, qmax: qmax,
                                    rounding: rounding)]
    }
  }
}
