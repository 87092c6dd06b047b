import Autograd
import TensorCore

/// Training or inference behaviour of layers that differ between the two (batch norm, dropout).
public enum Phase: Sendable { case training, inference }

/// Non-trainable state saved in checkpoints (batch-norm running statistics, counters).
public final class Buffer: @unchecked Sendable {
  public var value: Tensor
  public init(_ value: Tensor) { self.value = value.detached }
}

/// A node operation of a `Model`. Layers are reference types: optimizers, BN folding, CLE and
/// AdaRound change their parameters in place, and transforms find them by identity.
public protocol Layer: AnyObject {
  /// The output for the given inputs (one per incoming edge).
  func forward(_ inputs: [Tensor]) -> Tensor
  /// Own trainable tensors with their PyTorch names ("weight", "bias").
  var namedParameters: [(name: String, parameter: Parameter)] { get }
  /// Own non-trainable tensors with their PyTorch names ("running_mean").
  var namedBuffers: [(name: String, buffer: Buffer)] { get }
  /// Switches between training and inference behaviour.
  func setPhase(_ phase: Phase)
  /// Floating-point operations (a multiply-add counts 2) for one forward pass with these shapes.
  func flops(inputs: [Shape], output: Shape) -> Int
  /// Short type name for summaries and error messages.
  var kind: String { get }
}

extension Layer {
  public var namedParameters: [(name: String, parameter: Parameter)] { [] }
  public var namedBuffers: [(name: String, buffer: Buffer)] { [] }
  public func setPhase(_ phase: Phase) {}
  public func flops(inputs: [Shape], output: Shape) -> Int { 0 }
  public var kind: String { String(describing: type(of: self)) }

  /// Forward for single-input layers.
  public func callAsFunction(_ x: Tensor) -> Tensor { forward([x]) }
}

/// Shape problems in user data (not programmer errors): thrown with what was expected.
public struct ShapeError: Error, CustomStringConvertible {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// A model definition that cannot be built (an invalid depth, a channel count that does not divide).
public struct ModelDefinitionError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// The one input of a single-input layer (traps naming the layer otherwise).
@inline(__always) public func single(_ inputs: [Tensor], _ layer: String) -> Tensor {
  precondition(inputs.count == 1, "\(layer) takes one input, got \(inputs.count)")
  return inputs[0]
}
