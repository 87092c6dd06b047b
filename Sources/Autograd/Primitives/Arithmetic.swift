import TensorCore

// Broadcasting arithmetic. Pullbacks reduce cotangents back to each operand's shape.

extension Tensor {
  public static func + (a: Tensor, b: Tensor) -> Tensor {
    let (sa, sb) = (a.shape, b.shape)
    return Kernels.binary(.add, a, b).recorded(from: [a, b]) { g in
      [Kernels.sumToShape(g, sa), Kernels.sumToShape(g, sb)]
    }
  }

  public static func - (a: Tensor, b: Tensor) -> Tensor {
    let (sa, sb) = (a.shape, b.shape)
    return Kernels.binary(.subtract, a, b).recorded(from: [a, b]) { g in
      [Kernels.sumToShape(g, sa), Kernels.sumToShape(Kernels.unary(.negate, g), sb)]
    }
  }

  public static func * (a: Tensor, b: Tensor) -> Tensor {
    let (av, bv) = (a.detached, b.detached)
    return Kernels.binary(.multiply, a, b).recorded(from: [a, b]) { g in
      [Kernels.sumToShape(Kernels.binary(.multiply, g, bv), av.shape),
       Kernels.sumToShape(Kernels.binary(.multiply, g, av), bv.shape)]
    }
  }

  public static func / (a: Tensor, b: Tensor) -> Tensor {
    let (av, bv) = (a.detached, b.detached)
    return Kernels.binary(.divide, a, b).recorded(from: [a, b]) { g in
      let ga = Kernels.binary(.divide, g, bv)
      // d(a/b)/db = -a/b² = -(g/b)·(a/b)
      let gb = Kernels.unary(.negate, Kernels.binary(.multiply, ga, Kernels.binary(.divide, av, bv)))
      return [Kernels.sumToShape(ga, av.shape), Kernels.sumToShape(gb, bv.shape)]
    }
  }

  public static prefix func - (a: Tensor) -> Tensor {
    Kernels.unary(.negate, a).recorded(from: [a]) { g in [Kernels.unary(.negate, g)] }
  }

  public static func + (a: Tensor, s: Float) -> Tensor {
    Kernels.scaleShift(a, scale: 1, shift: s).recorded(from: [a]) { g in [g] }
  }
  public static func + (s: Float, a: Tensor) -> Tensor { a + s }
  public static func - (a: Tensor, s: Float) -> Tensor { a + (-s) }
  public static func - (s: Float, a: Tensor) -> Tensor {
    Kernels.scaleShift(a, scale: -1, shift: s).recorded(from: [a]) { g in [Kernels.unary(.negate, g)] }
  }
  public static func * (a: Tensor, s: Float) -> Tensor {
    Kernels.scaleShift(a, scale: s, shift: 0).recorded(from: [a]) { g in [Kernels.scaleShift(g, scale: s, shift: 0)] }
  }
  public static func * (s: Float, a: Tensor) -> Tensor { a * s }
  public static func / (a: Tensor, s: Float) -> Tensor {
    Kernels.binary(.divide, a, s).recorded(from: [a]) { g in [Kernels.binary(.divide, g, s)] }
  }
  public static func / (s: Float, a: Tensor) -> Tensor { Tensor(scalar: s) / a }

  /// Elementwise maximum; on ties the gradient goes to `self`.
  public func maximum(_ other: Tensor) -> Tensor {
    let mask = Kernels.binary(.greaterEqual, self, other)
    let (sa, sb) = (shape, other.shape)
    return Kernels.binary(.maximum, self, other).recorded(from: [self, other]) { g in
      let zero = Tensor(scalar: 0)
      return [Kernels.sumToShape(Kernels.select(mask, g, zero), sa), Kernels.sumToShape(Kernels.select(mask, zero, g), sb)]
    }
  }

  /// Elementwise minimum; on ties the gradient goes to `self`.
  public func minimum(_ other: Tensor) -> Tensor {
    let mask = Kernels.binary(.lessEqual, self, other)
    let (sa, sb) = (shape, other.shape)
    return Kernels.binary(.minimum, self, other).recorded(from: [self, other]) { g in
      let zero = Tensor(scalar: 0)
      return [Kernels.sumToShape(Kernels.select(mask, g, zero), sa), Kernels.sumToShape(Kernels.select(mask, zero, g), sb)]
    }
  }

  public func maximum(_ s: Float) -> Tensor { maximum(Tensor(scalar: s)) }
  public func minimum(_ s: Float) -> Tensor { minimum(Tensor(scalar: s)) }

  /// self^p elementwise for a constant exponent.
  public func pow(_ p: Float) -> Tensor {
    let x = detached
    return Kernels.binary(.power, self, p).recorded(from: [self]) { g in
      [Kernels.binary(.multiply, g, Kernels.scaleShift(Kernels.binary(.power, x, p - 1), scale: p, shift: 0))]
    }
  }

  /// cond != 0 ? a : b (cond is not differentiated).
  public static func select(_ cond: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
    let c = cond.detached
    let (sa, sb) = (a.shape, b.shape)
    return Kernels.select(c, a, b).recorded(from: [a, b]) { g in
      let zero = Tensor(scalar: 0)
      return [Kernels.sumToShape(Kernels.select(c, g, zero), sa), Kernels.sumToShape(Kernels.select(c, zero, g), sb)]
    }
  }

  // Comparisons give untracked 0/1 masks.
  public func equal(_ o: Tensor) -> Tensor { Kernels.binary(.equal, self, o) }
  public func notEqual(_ o: Tensor) -> Tensor { Kernels.binary(.notEqual, self, o) }
  public func less(_ o: Tensor) -> Tensor { Kernels.binary(.less, self, o) }
  public func lessEqual(_ o: Tensor) -> Tensor { Kernels.binary(.lessEqual, self, o) }
  public func greater(_ o: Tensor) -> Tensor { Kernels.binary(.greater, self, o) }
  public func greaterEqual(_ o: Tensor) -> Tensor { Kernels.binary(.greaterEqual, self, o) }
}
