import TensorCore

extension Tensor {
  /// Matrix product over the last two axes (batch axes broadcast).
  public func matmul(_ other: Tensor) -> Tensor {
    let (a, b) = (detached, other.detached)
    return Kernels.matmul(self, other).recorded(from: [self, other]) { g in
      // dA = g·Bᵀ, dB = Aᵀ·g, reduced over broadcast batch axes
      let ga = Kernels.matmul(g, b, transposeB: true)
      let gb = Kernels.matmul(a, g, transposeA: true)
      return [Kernels.sumToShape(ga, a.shape), Kernels.sumToShape(gb, b.shape)]
    }
  }

  /// x·wᵀ + b for x [N, in], w [out, in], b [out] (PyTorch's Linear).
  public static func linear(_ x: Tensor, weight w: Tensor, bias: Tensor?) -> Tensor {
    precondition(x.rank == 2 && w.rank == 2 && x.shape[1] == w.shape[1],
                 "linear: input \(x.shape) does not match weight \(w.shape) ([out, in])")
    let (xv, wv) = (x.detached, w.detached)
    var y = Kernels.matmul(x, w, transposeB: true)
    if let bias {
      precondition(bias.shape == [w.shape[0]], "linear: bias \(bias.shape) does not match weight \(w.shape)")
      y = Kernels.binary(.add, y, bias)
    }
    let inputs = bias.map { [x, w, $0] } ?? [x, w]
    return y.recorded(from: inputs) { g in
      let gx = Kernels.matmul(g, wv)
      let gw = Kernels.matmul(g, xv, transposeA: true)
      return bias == nil ? [gx, gw] : [gx, gw, Kernels.sum(g, axes: [0])]
    }
  }
}
