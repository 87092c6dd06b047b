import Autograd
import TensorCore

/// Elementwise sum of its inputs (residual connections).
public final class Add: ResidualSum, BinaryArithmetic {
  public init() {}
  public var binaryOperation: BinaryOperation? { .add }
  public func forward(_ inputs: [Tensor]) -> Tensor {
    precondition(inputs.count >= 2, "Add takes at least two inputs, got \(inputs.count)")
    precondition(inputs.allSatisfy { $0.shape == inputs[0].shape }, "Add: input shapes differ: \(inputs.map(\.shape))")
    return inputs.dropFirst().reduce(inputs[0]) { $0 + $1 }
  }
  public func flops(inputs: [Shape], output: Shape) -> Int { (inputs.count - 1) * output.count }
}

/// Concatenation of its inputs along `axis` (channels by default).
public final class Concat: Concatenation {
  public let axis: Int
  public init(axis: Int = 1) { self.axis = axis }
  public func forward(_ inputs: [Tensor]) -> Tensor {
    precondition(!inputs.isEmpty, "Concat takes at least one input")
    return Tensor.concat(inputs, axis: axis)
  }
}
