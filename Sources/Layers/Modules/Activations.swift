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

public final class LeakyReLU: ActivationLayer, PositivelyHomogeneous, Pointwise {
  /// Fusable at the DPU's slope only (simulate_dpu sets it).
  public var fusedActivation: FusedActivation? { negativeSlope == FusedActivation.leakySlope ? .leakyRelu : nil }
  public var negativeSlope: Float
  public init(negativeSlope: Float = 0.01) { self.negativeSlope = negativeSlope }
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "LeakyReLU").leakyRelu(alpha: negativeSlope) }
  public func flops(inputs: [Shape], output: Shape) -> Int { 2 * output.count }
}

public final class Sigmoid: Pointwise {
  public init() {}
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "Sigmoid").sigmoid() }
  public func flops(inputs: [Shape], output: Shape) -> Int { 4 * output.count }
}

public final class Tanh: Pointwise {
  public init() {}
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "Tanh").tanh() }
  public func flops(inputs: [Shape], output: Shape) -> Int { 4 * output.count }
}

/// max(0, min(1, α·x + β)); the defaults α = 1/6, β = 1/2 are PyTorch's (relu6(x + 3) / 6), ONNX's
/// are α = 0.2, β = 0.5.
public final class Hardsigmoid: Pointwise {
  public let alpha: Float
  public let beta: Float
  public init(alpha: Float = 1.0 / 6, beta: Float = 0.5) {
    self.alpha = alpha
    self.beta = beta
  }
  public var isPyTorchForm: Bool { alpha == 1.0 / 6 && beta == 0.5 }
  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "Hardsigmoid")
    return isPyTorchForm ? x.hardSigmoid() : (x * alpha + beta).clamped(min: 0, max: 1)
  }
  public func flops(inputs: [Shape], output: Shape) -> Int { 3 * output.count }
}

/// Clamps to [min, max] (ONNX Clip with bounds other than ReLU6's 0 and 6).
public final class Clip: Pointwise {
  public let min: Float
  public let max: Float
  public init(min: Float, max: Float) {
    precondition(min <= max, "Clip: min \(min) exceeds max \(max)")
    (self.min, self.max) = (min, max)
  }
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "Clip").clamped(min: min, max: max) }
  public func flops(inputs: [Shape], output: Shape) -> Int { 2 * output.count }
}

/// max(0, x) + slope · min(0, x) with a learned slope, broadcast against the input from the right
/// (PyTorch's PReLU: one slope or one per channel, shape [C, 1, 1]).
public final class PReLU: Pointwise {
  public let slope: Parameter
  public init(slope: Tensor) { self.slope = Parameter(slope) }
  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "PReLU")
    return x.maximum(0) + slope.tensor * x.minimum(0)
  }
  public var namedParameters: [(name: String, parameter: Parameter)] { [("weight", slope)] }
  public func flops(inputs: [Shape], output: Shape) -> Int { 3 * output.count }
}

/// Softmax over `axis`; `coerced` (ONNX opsets < 13) normalises over all axes from `axis` on,
/// as one flattened axis.
public final class Softmax: Layer {
  public let axis: Int
  public let coerced: Bool
  public init(axis: Int = -1, coerced: Bool = false) { (self.axis, self.coerced) = (axis, coerced) }
  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "Softmax")
    let a = axis < 0 ? axis + x.rank : axis
    precondition(a >= 1 && a < x.rank, "Softmax: axis \(axis) out of range for \(x.shape) (the batch axis cannot be normalised)")
    if coerced {
      let rows = x.shape.dims[..<a].reduce(1, *)
      return x.reshaped(to: [rows, x.count / Swift.max(1, rows)]).softmax().reshaped(to: x.shape)
    }
    if a == x.rank - 1 { return x.softmax() }
    var perm = Array(0..<x.rank)
    perm.swapAt(a, x.rank - 1)
    return x.permuted(perm).softmax().permuted(perm)
  }
  public func flops(inputs: [Shape], output: Shape) -> Int { 5 * output.count }
}

public final class Hardswish: Pointwise {
  public init() {}
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "Hardswish").hardSwish() }
  public func flops(inputs: [Shape], output: Shape) -> Int { 4 * output.count }
}

public final class SiLU: Pointwise {
  public init() {}
  public func forward(_ inputs: [Tensor]) -> Tensor { single(inputs, "SiLU").silu() }
  public func flops(inputs: [Shape], output: Shape) -> Int { 5 * output.count }
}
