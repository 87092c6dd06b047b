import CKernels

/// Binary elementwise operations.
public enum BinaryOp: Sendable {
  case add, subtract, multiply, divide, maximum, minimum, equal, notEqual, less, lessEqual, greater, greaterEqual, power

  var c: ck_binary_op {
    switch self {
    case .add: CK_ADD
    case .subtract: CK_SUB
    case .multiply: CK_MUL
    case .divide: CK_DIV
    case .maximum: CK_MAX
    case .minimum: CK_MIN
    case .equal: CK_EQ
    case .notEqual: CK_NE
    case .less: CK_LT
    case .lessEqual: CK_LE
    case .greater: CK_GT
    case .greaterEqual: CK_GE
    case .power: CK_POW
    }
  }
}

/// Unary elementwise operations.
public enum UnaryOp: Sendable {
  case negate, abs, exp, log, sqrt, tanh, sigmoid, relu, square, reciprocal, rsqrt, sign, step

  var c: ck_unary_op {
    switch self {
    case .negate: CK_NEG
    case .abs: CK_ABS
    case .exp: CK_EXP
    case .log: CK_LOG
    case .sqrt: CK_SQRT
    case .tanh: CK_TANH
    case .sigmoid: CK_SIGMOID
    case .relu: CK_RELU
    case .square: CK_SQUARE
    case .reciprocal: CK_RECIPROCAL
    case .rsqrt: CK_RSQRT
    case .sign: CK_SIGN
    case .step: CK_STEP
    }
  }
}

extension Kernels {
  /// The broadcast shape of two operands; traps with both shapes when they are incompatible.
  public static func broadcastShape(_ a: Shape, _ b: Shape, _ op: String) -> Shape {
    guard let s = Shape.broadcast(a, b) else {
      preconditionFailure("\(op): shapes \(a) and \(b) cannot be broadcast together")
    }
    return s
  }

  public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
    // Layout-preserving fast paths: equal shapes in one layout, or a one-element operand.
    if a.layout != .rowMajor || b.layout != .rowMajor {
      if a.shape == b.shape {
        // convert toward the blocked operand: activations and their gradients stay blocked
        let layout = a.layout == .rowMajor ? b.layout : a.layout
        return flatBinary(op, convertLayout(a, to: layout), convertLayout(b, to: layout), layout: layout)
      }
      if b.count == 1 && b.rank <= a.rank { return flatBinary(op, a, b, layout: a.layout) }
      if a.count == 1 && a.rank <= b.rank { return flatBinary(op, a, b, layout: b.layout) }
      return binary(op, a.rowMajor, b.rowMajor)
    }
    let outShape = broadcastShape(a.shape, b.shape, "\(op)")
    let out = Tensor(uninitializedShape: outShape)
    let (dims, strides) = coalesce(outShape.dims, [a.shape.broadcastStrides(to: outShape), b.shape.broadcastStrides(to: outShape)])
    dims.int64.withUnsafeBufferPointer { d in
      strides[0].int64.withUnsafeBufferPointer { sa in
        strides[1].int64.withUnsafeBufferPointer { sb in
          ck_binary(op.c, Int32(dims.count), d.baseAddress, out.pointer, a.pointer, sa.baseAddress, b.pointer, sb.baseAddress)
        }
      }
    }
    return out
  }

  /// a op b on the stored elements of same-layout operands (one may be a single element).
  static func flatBinary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, layout: TensorLayout) -> Tensor {
    let shape = a.count >= b.count ? a.shape : b.shape
    let out = Tensor(uninitializedShape: shape, layout: layout)
    let n = Int64(shape.count)
    var dims = [n]
    var sa: [Int64] = [a.count == 1 ? 0 : 1], sb: [Int64] = [b.count == 1 ? 0 : 1]
    ck_binary(op.c, 1, &dims, out.storagePointer, a.storagePointer, &sa, b.storagePointer, &sb)
    return out
  }

  public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Float) -> Tensor {
    binary(op, a, Tensor(scalar: b))
  }

  /// relu(a + b) in one pass, for operands of one shape (in the blocked operand's layout, if any).
  public static func addReLU(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.shape == b.shape, "addReLU: shapes \(a.shape) and \(b.shape) differ")
    let layout = a.layout == .rowMajor ? b.layout : a.layout
    let (a, b) = (convertLayout(a, to: layout), convertLayout(b, to: layout))
    let out = Tensor(uninitializedShape: a.shape, layout: a.layout)
    withExtendedLifetime((a, b)) { ck_add_relu(a.storagePointer, b.storagePointer, out.storagePointer, Int64(a.count)) }
    return out
  }

  public static func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor {
    let out = Tensor(uninitializedShape: x.shape, layout: x.layout)
    ck_unary(op.c, x.storagePointer, out.storagePointer, Int64(x.count))
    return out
  }

  /// cond != 0 ? a : b, broadcasting all three.
  public static func select(_ cond: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
    let ops = [cond, a, b]
    if ops.contains(where: { $0.layout != .rowMajor }) {
      let big = ops.filter { $0.count > 1 }
      if let first = big.first, big.allSatisfy({ $0.shape == first.shape }) {
        let layout = big.first { $0.layout != .rowMajor }!.layout
        let (c, x, y) = (convertLayout(cond, to: cond.count > 1 ? layout : cond.layout), convertLayout(a, to: a.count > 1 ? layout : a.layout),
                         convertLayout(b, to: b.count > 1 ? layout : b.layout))
        let out = Tensor(uninitializedShape: first.shape, layout: layout)
        var dims = [Int64(first.count)]
        var s = ops.map { [Int64($0.count == 1 ? 0 : 1)] }
        ck_select(1, &dims, out.storagePointer, c.storagePointer, &s[0], x.storagePointer, &s[1], y.storagePointer, &s[2])
        return out
      }
      return select(cond.rowMajor, a.rowMajor, b.rowMajor)
    }
    let ab = broadcastShape(a.shape, b.shape, "select")
    let outShape = broadcastShape(cond.shape, ab, "select")
    let out = Tensor(uninitializedShape: outShape)
    let (dims, s) = coalesce(outShape.dims, [cond.shape.broadcastStrides(to: outShape),
                                             a.shape.broadcastStrides(to: outShape),
                                             b.shape.broadcastStrides(to: outShape)])
    dims.int64.withUnsafeBufferPointer { d in
      s[0].int64.withUnsafeBufferPointer { sc in
        s[1].int64.withUnsafeBufferPointer { sa in
          s[2].int64.withUnsafeBufferPointer { sb in
            ck_select(Int32(dims.count), d.baseAddress, out.pointer, cond.pointer, sc.baseAddress,
                      a.pointer, sa.baseAddress, b.pointer, sb.baseAddress)
          }
        }
      }
    }
    return out
  }

  public static func round(_ x: Tensor, _ rule: RoundingRule) -> Tensor {
    let out = Tensor(uninitializedShape: x.shape, layout: x.layout)
    ck_round(x.storagePointer, out.storagePointer, Int64(x.count), rule.c)
    return out
  }

  public static func clamp(_ x: Tensor, min lo: Float, max hi: Float) -> Tensor {
    precondition(lo <= hi, "clamp: min \(lo) > max \(hi)")
    let out = Tensor(uninitializedShape: x.shape, layout: x.layout)
    ck_clamp(x.storagePointer, out.storagePointer, Int64(x.count), lo, hi)
    return out
  }

  /// x * a + b
  public static func scaleShift(_ x: Tensor, scale a: Float, shift b: Float) -> Tensor {
    let out = Tensor(uninitializedShape: x.shape, layout: x.layout)
    ck_scale_shift(x.storagePointer, out.storagePointer, Int64(x.count), a, b)
    return out
  }

  /// 1 where lo <= x <= hi, else 0.
  public static func inRangeMask(_ x: Tensor, _ lo: Float, _ hi: Float) -> Tensor {
    let out = Tensor(uninitializedShape: x.shape, layout: x.layout)
    ck_in_range_mask(x.storagePointer, out.storagePointer, Int64(x.count), lo, hi)
    return out
  }

  /// y += a * x in place (shapes must match).
  public static func axpy(_ a: Float, _ x: Tensor, into y: inout Tensor) {
    precondition(x.shape == y.shape, "axpy: shapes \(x.shape) and \(y.shape) differ")
    let x = x.rowMajor
    y.withUnsafeMutableBufferPointer { ck_axpy(a, x.pointer, $0.baseAddress, Int64(x.count)) }
  }
}
