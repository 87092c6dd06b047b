import TensorCore

/// A trainable tensor with identity: layers own parameters, optimizers and transforms (BN folding,
/// CLE, AdaRound) update them in place, and gradients are reported per parameter.
public final class Parameter: @unchecked Sendable {
  /// The current value (untracked).
  public var value: Tensor {
    didSet {
      precondition(value.shape == oldValue.shape || allowsReshape,
                   "Parameter: assigning shape \(value.shape) to a parameter of shape \(oldValue.shape)")
      value.tapeNode = nil
    }
  }
  /// False freezes the parameter: reading it records nothing and it receives no gradient.
  public var requiresGradient: Bool
  /// Set by loaders that replace a parameter wholesale (e.g. ONNX import); off by default.
  public var allowsReshape = false

  public init(_ value: Tensor, requiresGradient: Bool = true) {
    self.value = value.detached
    self.requiresGradient = requiresGradient
  }

  /// The value for use in a computation: a gradient leaf when the parameter is trainable.
  public var tensor: Tensor {
    guard requiresGradient else { return value }
    var t = value
    t.tapeNode = TapeNode(leaf: key, shape: value.shape)
    return t
  }

  public var key: GradientKey { GradientKey(self) }
  public var shape: Shape { value.shape }
}
