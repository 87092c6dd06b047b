import TensorCore

extension Tensor {
  /// Sum over `axes` (all axes when nil).
  public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
    let inShape = shape
    let ax = axes ?? Array(0..<rank)
    let kept = Kernels.sum(self, axes: ax, keepDims: true)
    let y = keepDims ? kept : kept.reshapedRaw(to: reducedShape(ax, keepDims: false))
    return y.recorded(from: [self]) { g in
      [Kernels.expand(g.reshapedRaw(to: kept.shape), to: inShape)]
    }
  }

  public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
    let ax = axes ?? Array(0..<rank)
    let n = Set(ax.map { shape.normalized($0) }).reduce(1) { $0 * shape.dims[$1] }
    return sum(axes: ax, keepDims: keepDims) * (1 / Float(n))
  }

  /// Maximum over `axes`; the gradient is shared equally among tied maxima.
  public func max(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor { extreme(.max, axes: axes, keepDims: keepDims) }
  public func min(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor { extreme(.min, axes: axes, keepDims: keepDims) }

  private func extreme(_ op: ReduceOp, axes: [Int]?, keepDims: Bool) -> Tensor {
    let ax = axes ?? Array(0..<rank)
    let x = detached
    let kept = Kernels.reduce(op, self, axes: ax, keepDims: true)
    let y = keepDims ? kept : kept.reshapedRaw(to: reducedShape(ax, keepDims: false))
    return y.recorded(from: [self]) { g in
      let mask = Kernels.binary(.equal, x, kept)
      let count = Kernels.sum(mask, axes: ax, keepDims: true)
      let share = Kernels.binary(.divide, g.reshapedRaw(to: kept.shape), count)
      return [Kernels.binary(.multiply, mask, share)]
    }
  }

  func reducedShape(_ axes: [Int], keepDims: Bool) -> Shape {
    let set = Set(axes.map { shape.normalized($0) })
    return Shape(shape.dims.enumerated().compactMap { set.contains($0.offset) ? (keepDims ? 1 : nil) : $0.element })
  }

  /// Index of the largest element along `axis` (not differentiable).
  public func argmax(axis: Int) -> [Int] { Kernels.argmax(self, axis: axis) }
}
