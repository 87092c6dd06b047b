import CKernels

public enum ReduceOp: Sendable { case sum, max, min }

extension Kernels {
  /// Reduces over `axes` (any order, negative allowed). keepDims keeps reduced axes with size 1.
  public static func reduce(_ op: ReduceOp, _ x: Tensor, axes: [Int], keepDims: Bool = false) -> Tensor {
    let x = x.rowMajor
    let axisSet = Set(axes.map { x.shape.normalized($0) })
    var current = x
    // Reduce one maximal run of consecutive axes at a time, innermost run first.
    var remaining = axisSet.sorted()
    while let last = remaining.last {
      var first = last
      while remaining.contains(first - 1) { first -= 1 }
      remaining.removeAll { $0 >= first && $0 <= last }
      current = reduceRun(op, current, first: first, last: last)
    }
    let kept = x.shape.dims.enumerated().map { axisSet.contains($0.offset) ? 1 : $0.element }
    let finalShape = keepDims ? Shape(kept) : Shape(x.shape.dims.enumerated().filter { !axisSet.contains($0.offset) }.map(\.element))
    return current.reshapedRaw(to: finalShape)
  }

  /// Reduces axes first...last of x, keeping them as size 1.
  static func reduceRun(_ op: ReduceOp, _ x: Tensor, first: Int, last: Int) -> Tensor {
    let d = x.shape.dims
    let outer = d[..<first].reduce(1, *)
    let r = d[first...last].reduce(1, *)
    let inner = d[(last + 1)...].reduce(1, *)
    var outDims = d
    for a in first...last { outDims[a] = 1 }
    let out = Tensor(uninitializedShape: Shape(outDims))
    let cop: ck_reduce_op = switch op { case .sum: CK_SUM; case .max: CK_MAXR; case .min: CK_MINR }
    ck_reduce(cop, x.pointer, out.pointer, Int64(outer), Int64(r), Int64(inner))
    return out
  }

  public static func sum(_ x: Tensor, axes: [Int], keepDims: Bool = false) -> Tensor {
    reduce(.sum, x, axes: axes, keepDims: keepDims)
  }

  public static func mean(_ x: Tensor, axes: [Int], keepDims: Bool = false) -> Tensor {
    let n = Set(axes.map { x.shape.normalized($0) }).reduce(1) { $0 * x.shape.dims[$1] }
    return scaleShift(sum(x, axes: axes, keepDims: keepDims), scale: 1 / Float(n), shift: 0)
  }

  /// Sum of all elements as a rank-0 tensor.
  public static func sumAll(_ x: Tensor) -> Tensor {
    reduce(.sum, x.reshapedRaw(to: [x.count]), axes: [0])
  }

  /// Index of the largest (or smallest) element along `axis`; the first one on ties.
  public static func argmax(_ x: Tensor, axis: Int, keepDims: Bool = false, smallest: Bool = false) -> [Int] {
    let x = x.rowMajor
    let a = x.shape.normalized(axis)
    let d = x.shape.dims
    let outer = d[..<a].reduce(1, *), r = d[a], inner = d[(a + 1)...].reduce(1, *)
    precondition(r > 0, "argmax: axis \(axis) of shape \(x.shape) is empty")
    var out = [Int64](repeating: 0, count: outer * inner)
    out.withUnsafeMutableBufferPointer {
      ck_argmax(x.pointer, $0.baseAddress, Int64(outer), Int64(r), Int64(inner), smallest ? 1 : 0)
    }
    return out.map(Int.init)
  }
}
