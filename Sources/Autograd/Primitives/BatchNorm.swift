import TensorCore

extension Tensor {
  /// Batch normalisation with batch statistics over all axes but 1 (training mode), fused into
  /// one primitive: the composite form costs several extra passes over the activations (see
  /// `qat-bench train-step`); `AutogradTests` checks this primitive against the composite.
  /// Returns the output and the batch mean and biased variance (for running statistics).
  /// With `relu`, the ReLU that follows is fused in: one pass less forward and backward, the
  /// same bits as the two separate operations.
  public static func batchNorm(_ x: Tensor, gamma: Tensor, beta: Tensor, epsilon: Float, relu: Bool = false)
    -> (output: Tensor, mean: [Float], variance: [Float]) {
    batchNorm(x, gamma: gamma, beta: beta, epsilons: [Float](repeating: epsilon, count: x.shape[1]), relu: relu)
  }

  /// Batch normalisation with one ε per channel (QAT's Conv+BN normalises y/s as y with ε·s²).
  public static func batchNorm(_ x: Tensor, gamma: Tensor, beta: Tensor, epsilons: [Float], relu: Bool = false)
    -> (output: Tensor, mean: [Float], variance: [Float]) {
    let c = x.shape[1]
    precondition(gamma.shape == [c] && beta.shape == [c] && epsilons.count == c,
                 "batchNorm: gamma \(gamma.shape) / beta \(beta.shape) / \(epsilons.count) epsilons do not match \(c) channels of \(x.shape)")
    let (mean, variance) = Kernels.channelStats(x)
    let invStd = (0..<c).map { 1 / (variance[$0] + epsilons[$0]).squareRoot() }
    let gv = gamma.scalars, bv = beta.scalars
    let scale = (0..<c).map { gv[$0] * invStd[$0] }
    let shift = (0..<c).map { bv[$0] - mean[$0] * scale[$0] }
    let xv = x.detached
    // The ReLU's backward is the mask x·scale + shift > 0, recomputed exactly as the forward did.
    let mask = relu ? (scale: scale, shift: shift) : nil
    let y = Kernels.channelAffine(x, scale: scale, shift: shift, relu: relu).recorded(from: [x, gamma, beta]) { g in
      let g = Kernels.convertLayout(g, to: xv.layout)
      let (sumG, sumGX) = Kernels.channelGradSums(g, xv, mean: mean, reluMask: mask)
      let m = Double(xv.count / c)
      var a = [Float](repeating: 0, count: c), b = a, d = a, dGamma = a, dBeta = a
      for k in 0..<c {
        let s = Double(invStd[k]), gk = Double(gv[k])
        a[k] = Float(gk * s)
        b[k] = Float(-gk * s * s * s * sumGX[k] / m)
        d[k] = Float(-gk * s * sumG[k] / m)
        dGamma[k] = Float(s * sumGX[k])
        dBeta[k] = Float(sumG[k])
      }
      let dx = Kernels.channelGradInput(g, xv, mean: mean, a: a, b: b, d: d, reluMask: mask)
      return [dx, Tensor(dGamma), Tensor(dBeta)]
    }
    return (y, mean, variance)
  }

  /// y = x · scale[c] + shift[c] per channel (axis 1): inference-mode batch norm, bias add.
  public static func channelAffine(_ x: Tensor, scale: Tensor, shift: Tensor) -> Tensor {
    let c = x.shape[1]
    precondition(scale.shape == [c] && shift.shape == [c], "channelAffine: scale \(scale.shape) / shift \(shift.shape) do not match \(c) channels of \(x.shape)")
    let (xv, sv) = (x.detached, scale.scalars)
    return Kernels.channelAffine(x, scale: sv, shift: shift.scalars).recorded(from: [x, scale, shift]) { g in
      let dx = Kernels.channelAffine(g, scale: sv, shift: [Float](repeating: 0, count: c))
      let dScale = Kernels.channelGradSums(g, xv, mean: [Float](repeating: 0, count: c)).sumGX.map(Float.init)
      let dShift = Kernels.channelSums(g).map(Float.init)
      return [dx, Tensor(dScale), Tensor(dShift)]
    }
  }
}
