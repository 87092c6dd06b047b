import Autograd
import Layers
import TensorCore

/// The DPU's hard sigmoid: relu6(x + 3) · 2731 / 2^14 (2731 / 2^14 ≈ 1/6 + 2^-14), what
/// `simulate_dpu` puts in place of PyTorch's hardsigmoid (α = 1/6, β = 1/2). With the input at fix
/// position fi ∈ [0, 9] every step is exact in float32 (the product needs at most 24 bits), so the
/// fake-quant model equals the integer op; `ShiftConstraints` keeps fi there.
public final class DPUHardSigmoid: Layer {
  public static let multiplier: Float = 2731
  public static let shift = 14
  public init() {}
  public func forward(_ inputs: [Tensor]) -> Tensor {
    (single(inputs, "DPUHardSigmoid") + 3).relu6() * (Self.multiplier / Float(1 << Self.shift))
  }
  public func flops(inputs: [Shape], output: Shape) -> Int { 3 * output.count }
}

/// The DPU's hard swish: x · q(hard_sigmoid(x)) with the DPU's hard sigmoid quantized at fix
/// position 7 (int8, half-up) inside the op; the output quantizer follows.
public final class DPUHardSwish: Layer {
  /// The fix position of the hard sigmoid inside the op.
  public static let sigmoidPosition = 7
  static let grid = QuantGrid(scale: 1 / Float(1 << sigmoidPosition), qmin: -128, qmax: 127, rounding: .halfUp)
  public init() {}
  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "DPUHardSwish")
    let h = ((x + 3).relu6() * (DPUHardSigmoid.multiplier / Float(1 << DPUHardSigmoid.shift))).fakeQuantized(Self.grid)
    return x * h
  }
  public func flops(inputs: [Shape], output: Shape) -> Int { 5 * output.count }
}

/// Hard sigmoid in PyTorch's form becomes the DPU's in the quantized region.
extension Hardsigmoid: DPUSimulated {
  public func dpuForm(input: () -> Shape?, quantized: Bool) -> (any Layer)? {
    quantized && isPyTorchForm ? DPUHardSigmoid() : nil
  }
}

/// Hard swish becomes the DPU's in the quantized region.
extension Hardswish: DPUSimulated {
  public func dpuForm(input: () -> Shape?, quantized: Bool) -> (any Layer)? { quantized ? DPUHardSwish() : nil }
}
