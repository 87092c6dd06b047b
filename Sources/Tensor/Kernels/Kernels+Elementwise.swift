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

  public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Float) -> Tensor {
    binary(op, a, Tensor(scalar: b))
  }

  public static func unary(_ op: UnaryOp, _ x: Tensor) -> Tensor {
    let out = Tensor(uninitializedShape: x.shape)
    ck_unary(op.c, x.pointer, out.pointer, Int64(x.count))
    return out
  }

  /// cond != 0 ? a : b, broadcasting all three.
  public static func select(_ cond: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
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
    let out = Tensor(uninitializedShape: x.shape)
    ck_round(x.pointer, out.pointer, Int64(x.count), rule.c)
    return out
  }

  public static func clamp(_ x: Tensor, min lo: Float, max hi: Float) -> Tensor {
    precondition(lo <= hi, "clamp: min \(lo) > max \(hi)")
    let out = Tensor(uninitializedShape: x.shape)
    ck_clamp(x.pointer, out.pointer, Int64(x.count), lo, hi)
    return out
  }

  /// x * a + b
  public static func scaleShift(_ x: Tensor, scale a: Float, shift b: Float) -> Tensor {
    let out = Tensor(uninitializedShape: x.shape)
    ck_scale_shift(x.pointer, out.pointer, Int64(x.count), a, b)
    return out
  }

  /// 1 where lo <= x <= hi, else 0.
  public static func inRangeMask(_ x: Tensor, _ lo: Float, _ hi: Float) -> Tensor {
    let out = Tensor(uninitializedShape: x.shape)
    ck_in_range_mask(x.pointer, out.pointer, Int64(x.count), lo, hi)
    return out
  }

  /// y += a * x in place (shapes must match).
  public static func axpy(_ a: Float, _ x: Tensor, into y: inout Tensor) {
    precondition(x.shape == y.shape, "axpy: shapes \(x.shape) and \(y.shape) differ")
    y.withUnsafeMutableBufferPointer { ck_axpy(a, x.pointer, $0.baseAddress, Int64(x.count)) }
  }
}
