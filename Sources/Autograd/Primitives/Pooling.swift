import TensorCore

extension Tensor {
  public func maxPool2D(_ g: Pool2DGeometry) -> Tensor {
    let (y, arg) = Kernels.maxPool2D(self, g)
    let inShape = shape
    return y.recorded(from: [self]) { gy in [Kernels.maxPool2DBackward(gy, argmax: arg, inputShape: inShape)] }
  }

  public func avgPool2D(_ g: Pool2DGeometry, countIncludePad: Bool = true, divisor: Float? = nil) -> Tensor {
    let inShape = shape
    return Kernels.avgPool2D(self, g, countIncludePad: countIncludePad, divisor: divisor).recorded(from: [self]) { gy in
      [Kernels.avgPool2DBackward(gy, inputShape: inShape, g, countIncludePad: countIncludePad, divisor: divisor)]
    }
  }

  /// Mean over H and W: [N, C, H, W] -> [N, C, 1, 1].
  public func globalAvgPool2D() -> Tensor {
    precondition(rank == 4, "globalAvgPool2D: expected an NCHW tensor, got \(shape)")
    return mean(axes: [2, 3], keepDims: true)
  }

  /// Softmax over the last axis.
  public func softmax() -> Tensor {
    let y = Kernels.softmax(self)
    return y.recorded(from: [self]) { g in
      // y · (g − Σ g·y)
      let dot = Kernels.sum(Kernels.binary(.multiply, g, y), axes: [-1], keepDims: true)
      return [Kernels.binary(.multiply, y, Kernels.binary(.subtract, g, dot))]
    }
  }

  /// Log-softmax over the last axis (numerically stable).
  public func logSoftmax() -> Tensor {
    let y = Kernels.softmax(self, log: true)
    return y.recorded(from: [self]) { g in
      // g − softmax · Σ g
      let s = Kernels.unary(.exp, y)
      let total = Kernels.sum(g, axes: [-1], keepDims: true)
      return [Kernels.binary(.subtract, g, Kernels.binary(.multiply, s, total))]
    }
  }
}
