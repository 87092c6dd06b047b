import Autograd
import TensorCore

// Elementwise activation layers (one family, one file).

public final class ReLU: ActivationLayer, GridPreserving, PositivelyHomogeneous {
  public var fusedActivation: FusedActivation? { .relu }
  public init() {}
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "ReLU").relu() }
  public func flops(inputs: [Shape], output: Shape) -> Int { output.count }
}

public final class ReLU6: ActivationLayer {
  public var fusedActivation: FusedActivation? { .relu6 }
  public init() {}
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "ReLU6").relu6() }
  public func flops(inputs: [Shape], output: Shape) -> Int { output.count }
}

public final class LeakyReLU: ActivationLayer, PositivelyHomogeneous {
  /// Fusable at the DPU's slope only (simulate_dpu sets it).
  public var fusedActivation: FusedActivation? { negativeSlope == FusedActivation.leakySlope ? .leakyRelu : nil }
  public var negativeSlope: Float
  public init(negativeSlope: Float = 0.01) { self.negativeSlope = negativeSlope }
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "LeakyReLU").leakyRelu(alpha: negativeSlope) }
  public func flops(inputs: [Shape], output: Shape) -> Int { 2 * output.count }
}

public final class Sigmoid: Layer {
  public init() {}
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "Sigmoid").sigmoid() }
  public func flops(inputs: [Shape], output: Shape) -> Int { 4 * output.count }
}

public final class Tanh: Layer {
  public init() {}
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "Tanh").tanh() }
  public func flops(inputs: [Shape], output: Shape) -> Int { 4 * output.count }
}

public final class Hardsigmoid: Layer {
  public init() {}
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "Hardsigmoid").hardSigmoid() }
  public func flops(inputs: [Shape], output: Shape) -> Int { 3 * output.count }
}

public final class Hardswish: Layer {
  public init() {}
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "Hardswish").hardSwish() }
  public func flops(inputs: [Shape], output: Shape) -> Int { 4 * output.count }
}

public final class SiLU: Layer {
  public init() {}
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "SiLU").silu() }
  public func flops(inputs: [Shape], output: Shape) -> Int { 5 * output.count }
}
