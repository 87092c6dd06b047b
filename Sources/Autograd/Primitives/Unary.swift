import TensorCore

extension Tensor {
  public func exp() -> Tensor {
    let y = Kernels.unary(.exp, self)
    return y.recorded(from: [self]) { g in [Kernels.binary(.multiply, g, y)] }
  }

  public func log() -> Tensor {
    let x = detached
    return Kernels.unary(.log, self).recorded(from: [self]) { g in [Kernels.binary(.divide, g, x)] }
  }

  public func sqrt() -> Tensor {
    let y = Kernels.unary(.sqrt, self)
    return y.recorded(from: [self]) { g in [Kernels.binary(.divide, Kernels.scaleShift(g, scale: 0.5, shift: 0), y)] }
  }

  public func tanh() -> Tensor {
    let y = Kernels.unary(.tanh, self)
    return y.recorded(from: [self]) { g in
      // g · (1 − y²)
      [Kernels.binary(.multiply, g, Kernels.scaleShift(Kernels.unary(.square, y), scale: -1, shift: 1))]
    }
  }

  public func sigmoid() -> Tensor {
    let y = Kernels.unary(.sigmoid, self)
    return y.recorded(from: [self]) { g in
      // g · y · (1 − y)
      [Kernels.binary(.multiply, Kernels.binary(.multiply, g, y), Kernels.scaleShift(y, scale: -1, shift: 1))]
    }
  }

  public func abs() -> Tensor {
    let x = detached
    return Kernels.unary(.abs, self).recorded(from: [self]) { g in [Kernels.binary(.multiply, g, Kernels.unary(.sign, x))] }
  }

  public func relu() -> Tensor {
    let y = Kernels.unary(.relu, self)
    // y > 0 exactly where x > 0: one select pass instead of a mask and a multiply
    return y.recorded(from: [self]) { g in [Kernels.select(y, g, Tensor(scalar: 0))] }
  }

  /// relu(a + b) in one pass (a residual sum and its ReLU): the bits of `(a + b).relu()`.
  public static func addReLU(_ a: Tensor, _ b: Tensor) -> Tensor {
    let y = Kernels.addReLU(a, b)
    return y.recorded(from: [a, b]) { g in
      let masked = Kernels.select(y, g, Tensor(scalar: 0))
      return [masked, masked]
    }
  }

  public func squared() -> Tensor {
    let x = detached
    return Kernels.unary(.square, self).recorded(from: [self]) { g in
      [Kernels.binary(.multiply, g, Kernels.scaleShift(x, scale: 2, shift: 0))]
    }
  }

  public func rsqrt() -> Tensor {
    let y = Kernels.unary(.rsqrt, self)
    return y.recorded(from: [self]) { g in
      // d/dx x^-1/2 = -1/2 · y³
      [Kernels.binary(.multiply, g, Kernels.scaleShift(Kernels.binary(.multiply, y, Kernels.unary(.square, y)), scale: -0.5, shift: 0))]
    }
  }

  /// Clamps to [lo, hi]; the gradient is zero where the input was clamped.
  public func clamped(min lo: Float, max hi: Float) -> Tensor {
    let x = detached
    return Kernels.clamp(self, min: lo, max: hi).recorded(from: [self]) { g in
      [Kernels.binary(.multiply, g, Kernels.inRangeMask(x, lo, hi))]
    }
  }

  /// Rounds with an explicit rule. Not differentiable (zero gradient); use `roundedSTE` for
  /// straight-through training.
  public func rounded(_ rule: RoundingRule) -> Tensor { Kernels.round(self, rule) }
}
