import TensorCore

extension Tensor {
  /// Same elements in a new shape; one dimension may be -1 (inferred).
  public func reshaped(to dims: [Int]) -> Tensor {
    let newShape = inferShape(dims)
    let inShape = shape
    return reshapedRaw(to: newShape).recorded(from: [self]) { g in [g.reshapedRaw(to: inShape)] }
  }

  public func reshaped(to s: Shape) -> Tensor { reshaped(to: s.dims) }

  func inferShape(_ dims: [Int]) -> Shape {
    let unknown = dims.filter { $0 == -1 }.count
    precondition(unknown <= 1, "reshape: more than one -1 in \(dims)")
    if unknown == 0 {
      precondition(dims.reduce(1, *) == count, "reshape: cannot reshape \(shape) to \(dims)")
      return Shape(dims)
    }
    let known = dims.filter { $0 != -1 }.reduce(1, *)
    precondition(known > 0 && count % known == 0, "reshape: cannot reshape \(shape) to \(dims)")
    return Shape(dims.map { $0 == -1 ? count / known : $0 })
  }

  /// Collapses axes from `startAxis` on into one: [N, C, H, W] -> [N, C·H·W].
  public func flattened(from startAxis: Int = 1) -> Tensor {
    let a = startAxis < 0 ? startAxis + rank : startAxis
    precondition(a >= 0 && a <= rank, "flatten: axis \(startAxis) out of range for \(shape)")
    return reshaped(to: Array(shape.dims[..<a]) + [shape.dims[a...].reduce(1, *)])
  }

  public func permuted(_ perm: [Int]) -> Tensor {
    var inverse = [Int](repeating: 0, count: perm.count)
    for (i, p) in perm.enumerated() { inverse[p] = i }
    return Kernels.permute(self, perm).recorded(from: [self]) { g in [Kernels.permute(g, inverse)] }
  }

  /// Swaps the last two axes.
  public func transposed() -> Tensor {
    precondition(rank >= 2, "transposed: needs rank >= 2, got \(shape)")
    var p = Array(0..<rank)
    p.swapAt(rank - 1, rank - 2)
    return permuted(p)
  }

  public func expanded(to s: Shape) -> Tensor {
    let inShape = shape
    return Kernels.expand(self, to: s).recorded(from: [self]) { g in [Kernels.sumToShape(g, inShape)] }
  }

  public func sliced(_ ranges: [SliceRange]) -> Tensor {
    let inShape = shape
    return Kernels.slice(self, ranges).recorded(from: [self]) { g in
      [Kernels.sliceBackward(g, inputShape: inShape, ranges)]
    }
  }

  /// Constant padding: before[i] / after[i] elements on each side of axis i.
  public func padded(before: [Int], after: [Int], value: Float = 0) -> Tensor {
    let inShape = shape
    return Kernels.pad(self, before: before, after: after, value: value).recorded(from: [self]) { g in
      [Kernels.padBackward(g, before: before, inputShape: inShape)]
    }
  }

  public static func concat(_ xs: [Tensor], axis: Int) -> Tensor {
    let sizes = xs.map { $0.shape.dims[$0.shape.normalized(axis)] }
    return Kernels.concat(xs, axis: axis).recorded(from: xs) { g in Kernels.split(g, sizes: sizes, axis: axis) }
  }

  public func split(sizes: [Int], axis: Int) -> [Tensor] {
    let a = shape.normalized(axis)
    var start = 0
    return sizes.map { n in
      var r = [SliceRange](repeating: .all, count: rank)
      r[a] = SliceRange(start, start + n)
      start += n
      return sliced(r)
    }
  }
}
