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

extension Tensor {
  /// Fake quantization with a learned scale `scale` (a one-element tensor): y = clamp(round(x/s),
  /// qmin, qmax)·s. The input gets the straight-through gradient (1 where qmin ≤ x/s ≤ qmax); the
  /// scale gets Σ g·r with r = round(x/s) − x/s inside the range and qmin / qmax outside (LSQ,
  /// Esser et al. 2020; TQT chains it through the log2 threshold).
  public func fakeQuantized(learnedScale scale: Tensor, qmin: Float, qmax: Float, rounding: RoundingRule) -> Tensor {
    precondition(scale.count == 1, "fakeQuantized(learnedScale:): scale must have one element, got \(scale.shape)")
    let s = scale.scalar
    precondition(s > 0 && s.isFinite, "fakeQuantized(learnedScale:): scale must be positive and finite, got \(s)")
    let grid = QuantGrid(scale: s, qmin: qmin, qmax: qmax, rounding: rounding)
    let x = detached
    let scaleShape = scale.shape
    return Kernels.fakeQuantize(self, grid).recorded(from: [self, scale]) { g in
      let (gx, sum) = Kernels.learnedRangeGradient(g, x, grid)
      return [gx, Tensor([Float(sum)], shape: scaleShape)]
    }
  }

  /// Identity in the forward pass; multiplies the gradient by `factor` (LSQ's gradient scale).
  public func scalingGradient(by factor: Float) -> Tensor {
    Kernels.copy(self).recorded(from: [self]) { g in [Kernels.scaleShift(g, scale: factor, shift: 0)] }
  }

  /// 2^x elementwise.
  public func exp2() -> Tensor { (self * Float(0.6931471805599453)).exp() }
}
