import TensorCore

/// A model input with its per-sample shape (the batch axis is not included).
public final class Input: Layer {
  public let shape: Shape
  public init(shape: Shape) { self.shape = shape }
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "Input") }
}
