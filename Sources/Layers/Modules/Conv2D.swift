import Autograd
import TensorCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// 2-D convolution (PyTorch's Conv2d): weight [out, in/groups, kh, kw], optional bias [out].
public final class Conv2D: IntegerWeightBearing, ChannelScalable {
  public let inChannels: Int
  public let outChannels: Int
  public let kernelSize: (h: Int, w: Int)
  public let geometry: ConvGeometry
  public let weight: Parameter
  public let bias: Parameter?

  /// Kaiming-uniform initial weights (PyTorch's default: bound 1/sqrt(fan_in)).
  public init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), geometry: ConvGeometry = ConvGeometry(),
              bias: Bool = true, rng: inout RandomGenerator) {
    precondition(inChannels % geometry.groups == 0 && outChannels % geometry.groups == 0,
                 "Conv2D: channels \(inChannels)->\(outChannels) not divisible by \(geometry.groups) groups")
    self.inChannels = inChannels
    self.outChannels = outChannels
    kernelSize = (kernel.0, kernel.1)
    self.geometry = geometry
    let fanIn = inChannels / geometry.groups * kernel.0 * kernel.1
    let bound = 1 / Float(fanIn).squareRoot()
    weight = Parameter(Tensor.uniform([outChannels, inChannels / geometry.groups, kernel.0, kernel.1],
                                      low: -bound, high: bound, using: &rng))
    self.bias = bias ? Parameter(Tensor.uniform([outChannels], low: -bound, high: bound, using: &rng)) : nil
  }

  /// A convolution with the given weight (and bias) values.
  public init(weight: Tensor, bias: Tensor?, geometry: ConvGeometry) {
    precondition(weight.rank == 4, "Conv2D: weight must be [out, in/groups, kh, kw], got \(weight.shape)")
    outChannels = weight.shape[0]
    inChannels = weight.shape[1] * geometry.groups
    kernelSize = (weight.shape[2], weight.shape[3])
    self.geometry = geometry
    self.weight = Parameter(weight)
    self.bias = bias.map { Parameter($0) }
  }

  public func forward(_ inputs: [Tensor]) -> Tensor {
    Tensor.conv2d(single(inputs, "Conv2D"), weight: weight.tensor, bias: bias?.tensor, geometry: geometry)
  }

  public var namedParameters: [(name: String, parameter: Parameter)] {
    [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
  }

  public func flops(inputs: [Shape], output: Shape) -> Int {
    2 * output.count * (inChannels / geometry.groups) * kernelSize.h * kernelSize.w + (bias == nil ? 0 : output.count)
  }

  public var inputChannels: Int { inChannels }
  public var outputChannels: Int { outChannels }
  public var groups: Int { geometry.groups }
  public var reductionLength: Int { inChannels / geometry.groups * kernelSize.h * kernelSize.w }

  public func apply(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    Tensor.conv2d(x, weight: weight, bias: bias, geometry: geometry)
  }

  public func applyInteger(_ x: IntTensor, weight: IntTensor, bias: IntTensor?, activation: FusedActivation,
                           output: FixedPointFormat, rounding: RoundingRule, requantization: ChannelRequantization?) -> IntTensor {
    IntegerKernels.conv2d(x, weight: weight, packed: nil, bias: bias, geometry: geometry, activation: activation,
                          output: output, rounding: rounding, requantization: requantization)
  }

  public func with(weight: Tensor, bias: Tensor?) -> any WeightBearing { Conv2D(weight: weight, bias: bias, geometry: geometry) }

  /// Re-initialises the weight with Kaiming-normal values (std sqrt(2 / fan_in)), as He et al.
  public func kaimingNormal(using rng: inout RandomGenerator) {
    let fanIn = inChannels / geometry.groups * kernelSize.h * kernelSize.w
    weight.value = Tensor.normal(weight.shape, std: (2 / Float(fanIn)).squareRoot(), using: &rng)
  }
}
