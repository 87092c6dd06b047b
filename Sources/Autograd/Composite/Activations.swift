import TensorCore

// Activations built from primitives (no hand-written pullbacks).

extension Tensor {
  public func relu6() -> Tensor { clamped(min: 0, max: 6) }

  public func leakyRelu(alpha: Float = 0.01) -> Tensor {
    let positive = relu()
    return positive - (-self).relu() * alpha
  }

  /// x·relu6(x + 3)/6 (PyTorch's Hardswish).
  public func hardSwish() -> Tensor { self * (self + 3).relu6() * (1 / 6) }

  /// relu6(x + 3)/6 (PyTorch's Hardsigmoid).
  public func hardSigmoid() -> Tensor { (self + 3).relu6() * (1 / 6) }

  /// x·sigmoid(x).
  public func silu() -> Tensor { self * sigmoid() }
}
