import CKernels

/// A strided range along one axis: start, start + step, ... < end (step > 0).
public struct SliceRange: Hashable, Sendable {
  public var start: Int
  public var end: Int
  public var step: Int
  public init(_ start: Int, _ end: Int, step: Int = 1) {
    precondition(step > 0, "slice step must be positive, got \(step)")
    self.start = start
    self.end = end
    self.step = step
  }
  public init(_ range: Range<Int>, step: Int = 1) { self.init(range.lowerBound, range.upperBound, step: step) }
  /// The whole axis.
  public static let all = SliceRange(0, Int.max)

  /// Clamps to an axis of length n (negative start/end count from the end, as in Python).
  public func resolved(length n: Int) -> (start: Int, count: Int) {
    func clampIndex(_ i: Int) -> Int { i < 0 ? max(0, i + n) : min(i, n) }
    let s = clampIndex(start), e = clampIndex(end)
    return (s, e > s ? (e - s - 1) / step + 1 : 0)
  }
}

extension Kernels {
  /// Copies the strided view (offset, shape, strides) of x into a new contiguous tensor.
  static func gather(_ x: Tensor, offset: Int, shape: Shape, strides: [Int]) -> Tensor {
    let x = x.rowMajor
    let out = Tensor(uninitializedShape: shape)
    if shape.count == 0 { return out }
    let (dims, s) = coalesce(shape.dims, [strides])
    dims.int64.withUnsafeBufferPointer { d in
      s[0].int64.withUnsafeBufferPointer { st in
        ck_gather(out.pointer, x.pointer + offset, Int32(dims.count), d.baseAddress, st.baseAddress)
      }
    }
    return out
  }

  /// Writes (or adds) x into the strided view (offset, strides) of `target`.
  static func scatter(_ x: Tensor, into target: inout Tensor, offset: Int, strides: [Int], accumulate: Bool) {
    if x.count == 0 { return }
    let x = x.rowMajor
    let (dims, s) = coalesce(x.shape.dims, [strides])
    target.withUnsafeMutableBufferPointer { buf in
      dims.int64.withUnsafeBufferPointer { d in
        s[0].int64.withUnsafeBufferPointer { st in
          ck_scatter(buf.baseAddress! + offset, st.baseAddress, x.pointer, Int32(dims.count), d.baseAddress, accumulate ? 1 : 0)
        }
      }
    }
  }

  /// Reorders axes: result axis i is input axis perm[i].
  public static func permute(_ x: Tensor, _ perm: [Int]) -> Tensor {
    precondition(perm.count == x.rank && Set(perm) == Set(0..<x.rank), "permute: \(perm) is not a permutation of the axes of \(x.shape)")
    let s = x.shape.strides
    return gather(x, offset: 0, shape: Shape(perm.map { x.shape.dims[$0] }), strides: perm.map { s[$0] })
  }

  /// Broadcasts x to `shape` (copying).
  public static func expand(_ x: Tensor, to shape: Shape) -> Tensor {
    guard Shape.broadcast(x.shape, shape) == shape else {
      preconditionFailure("expand: shape \(x.shape) cannot be expanded to \(shape)")
    }
    return gather(x, offset: 0, shape: shape, strides: x.shape.broadcastStrides(to: shape))
  }

  /// The sum of x over the axes that were broadcast to produce a tensor of x's shape from `shape`
  /// (the pullback of broadcasting): reduces `x` to `shape`.
  public static func sumToShape(_ x: Tensor, _ shape: Shape) -> Tensor {
    if x.shape == shape { return x }
    let offset = x.rank - shape.rank
    precondition(offset >= 0, "sumToShape: \(x.shape) has lower rank than \(shape)")
    var axes = Array(0..<offset)
    for i in 0..<shape.rank where shape.dims[i] == 1 && x.shape.dims[i + offset] != 1 { axes.append(i + offset) }
    let reduced = axes.isEmpty ? x : sum(x, axes: axes, keepDims: true)
    return reduced.reshapedRaw(to: shape)
  }

  /// Geometry of a slice: offset, result shape and element strides into x.
  static func sliceView(_ shape: Shape, _ ranges: [SliceRange]) -> (offset: Int, shape: Shape, strides: [Int]) {
    precondition(ranges.count <= shape.rank, "slice: \(ranges.count) ranges for shape \(shape)")
    let s = shape.strides
    var offset = 0
    var dims = shape.dims
    var strides = s
    for (axis, r) in ranges.enumerated() {
      let (start, count) = r.resolved(length: shape.dims[axis])
      offset += start * s[axis]
      dims[axis] = count
      strides[axis] = s[axis] * r.step
    }
    return (offset, Shape(dims), strides)
  }

  /// Elements at the given per-axis ranges (missing trailing axes are taken whole).
  public static func slice(_ x: Tensor, _ ranges: [SliceRange]) -> Tensor {
    let v = sliceView(x.shape, ranges)
    return gather(x, offset: v.offset, shape: v.shape, strides: v.strides)
  }

  /// The pullback of slice: g placed into zeros of `shape`.
  public static func sliceBackward(_ g: Tensor, inputShape shape: Shape, _ ranges: [SliceRange]) -> Tensor {
    let v = sliceView(shape, ranges)
    precondition(v.shape == g.shape, "sliceBackward: gradient \(g.shape) does not match slice \(v.shape)")
    var out = Tensor.zeros(shape)
    scatter(g, into: &out, offset: v.offset, strides: v.strides, accumulate: false)
    return out
  }

  /// Constant padding: before[i] / after[i] elements on each side of axis i.
  public static func pad(_ x: Tensor, before: [Int], after: [Int], value: Float = 0) -> Tensor {
    precondition(before.count == x.rank && after.count == x.rank, "pad: \(before.count)/\(after.count) pad amounts for shape \(x.shape)")
    precondition((before + after).allSatisfy { $0 >= 0 }, "pad: negative padding \(before) \(after)")
    let outShape = Shape(zip(x.shape.dims, zip(before, after)).map { $0 + $1.0 + $1.1 })
    var out = Tensor.full(outShape, value)
    let s = outShape.strides
    let offset = zip(before, s).reduce(0) { $0 + $1.0 * $1.1 }
    scatter(x, into: &out, offset: offset, strides: s, accumulate: false)
    return out
  }

  /// The pullback of pad: the interior of g.
  public static func padBackward(_ g: Tensor, before: [Int], inputShape: Shape) -> Tensor {
    let ranges = zip(before, inputShape.dims).map { SliceRange($0, $0 + $1) }
    return slice(g, ranges)
  }

  /// Joins tensors along `axis`; all other dimensions must match.
  public static func concat(_ xs: [Tensor], axis: Int) -> Tensor {
    precondition(!xs.isEmpty, "concat: no tensors")
    let a = xs[0].shape.normalized(axis)
    for x in xs {
      var d1 = x.shape.dims, d0 = xs[0].shape.dims
      precondition(d1.count == d0.count, "concat: shapes \(xs[0].shape) and \(x.shape) have different ranks")
      d1[a] = 0
      d0[a] = 0
      precondition(d1 == d0, "concat along axis \(a): shapes \(xs[0].shape) and \(x.shape) differ off that axis")
    }
    var dims = xs[0].shape.dims
    dims[a] = xs.reduce(0) { $0 + $1.shape.dims[a] }
    let outShape = Shape(dims)
    var out = Tensor(uninitializedShape: outShape)
    let s = outShape.strides
    var start = 0
    for x in xs {
      scatter(x, into: &out, offset: start * s[a], strides: s, accumulate: false)
      start += x.shape.dims[a]
    }
    return out
  }

  /// Splits x along `axis` into pieces of the given sizes.
  public static func split(_ x: Tensor, sizes: [Int], axis: Int) -> [Tensor] {
    let a = x.shape.normalized(axis)
    precondition(sizes.reduce(0, +) == x.shape.dims[a], "split: sizes \(sizes) do not add up to axis \(a) of \(x.shape)")
    var start = 0
    return sizes.map { n in
      var ranges = [SliceRange](repeating: .all, count: x.rank)
      ranges[a] = SliceRange(start, start + n)
      start += n
      return slice(x, ranges)
    }
  }

  /// A copy with the same shape (fresh storage).
  public static func copy(_ x: Tensor) -> Tensor {
    Tensor(shape: x.shape, storage: TensorStorage(copying: x.storage), layout: x.layout)
  }
}
