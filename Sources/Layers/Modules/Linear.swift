import Autograd
import TensorCore

/// Fully connected layer (PyTorch's Linear): y = x·Wᵀ + b, weight [out, in].
public final class Linear: IntegerWeightBearing, ChannelScalable {
  public let inFeatures: Int
  public let outFeatures: Int
  public let weight: Parameter
  public let bias: Parameter?

  public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, rng: inout RandomGenerator) {
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    let bound = 1 / Float(inFeatures).squareRoot()
    weight = Parameter(Tensor.uniform([outFeatures, inFeatures], low: -bound, high: bound, using: &rng))
    self.bias = bias ? Parameter(Tensor.uniform([outFeatures], low: -bound, high: bound, using: &rng)) : nil
  }

  public init(weight: Tensor, bias: Tensor?) {
    precondition(weight.rank == 2, "Linear: weight must be [out, in], got \(weight.shape)")
    outFeatures = weight.shape[0]
    inFeatures = weight.shape[1]
    self.weight = Parameter(weight)
    self.bias = bias.map { Parameter($0) }
  }

  public func forward(_ inputs: [Tensor]) -> Tensor { apply(single(inputs, "Linear"), weight: weight.tensor, bias: bias?.tensor) }

  public var namedParameters: [(name: String, parameter: Parameter)] {
    [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
  }

  public func flops(inputs: [Shape], output: Shape) -> Int { 2 * output.count * inFeatures + (bias == nil ? 0 : output.count) }

  public var inputChannels: Int { inFeatures }
  public var outputChannels: Int { outFeatures }
  public var reductionLength: Int { inFeatures }
  /// The last axis: [N, out], or [N, ..., out] for inputs of higher rank.
  public func outputChannelAxis(inOutputOfRank r: Int) -> Int { r - 1 }

  /// x [N, in] → [N, out]; an input of higher rank is transformed along its last axis, as
  /// PyTorch's Linear does ([N, ..., in] → [N, ..., out]).
  public func apply(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    guard x.rank > 2 else { return Tensor.linear(x, weight: weight, bias: bias) }
    let leading = Array(x.shape.dims.dropLast())
    let rows = x.reshaped(to: [leading.reduce(1, *), x.shape[x.rank - 1]])
    return Tensor.linear(rows, weight: weight, bias: bias).reshaped(to: Shape(leading + [weight.shape[0]]))
  }

  public func applyInteger(_ x: IntTensor, weight: IntTensor, bias: IntTensor?, activation: FusedActivation,
                           output: FixedPointFormat, rounding: RoundingRule, requantization: ChannelRequantization?) -> IntTensor {
    let w4 = IntTensor(shape: [weight.shape[0], weight.shape[1], 1, 1], codes: weight.codes, format: weight.format)
    guard x.shape.rank > 2 else {
      return IntegerKernels.linear(x, weight: w4, packed: nil, bias: bias, activation: activation, output: output, rounding: rounding,
                                   requantization: requantization)
    }
    let leading = Array(x.shape.dims.dropLast())
    let rows = IntTensor(shape: [leading.reduce(1, *), x.shape[x.shape.rank - 1]], codes: x.codes, format: x.format)
    var y = IntegerKernels.linear(rows, weight: w4, packed: nil, bias: bias, activation: activation, output: output, rounding: rounding,
                                   requantization: requantization)
    y.shape = Shape(leading + [weight.shape[0]])
    return y
  }

  public func with(weight: Tensor, bias: Tensor?) -> any WeightBearing { Linear(weight: weight, bias: bias) }

  public func kaimingNormal(using rng: inout RandomGenerator) {
    weight.value = Tensor.normal(weight.shape, std: (2 / Float(inFeatures)).squareRoot(), using: &rng)
  }
}
