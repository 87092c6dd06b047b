import Autograd
import Layers
import TensorCore

/// A convolution whose weight and bias pass through FixNeurons. Its input is quantized upstream
/// and its output by the activation FixNeuron that follows it (after a fused activation).
public final class QuantizedConv2D: Layer {
  public let conv: Conv2D
  public let weightQuantizer: FixNeuron
  public let biasQuantizer: FixNeuron?

  public init(_ conv: Conv2D, weightQuantizer: FixNeuron, biasQuantizer: FixNeuron?) {
    self.conv = conv
    self.weightQuantizer = weightQuantizer
    self.biasQuantizer = biasQuantizer
  }

  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "QuantizedConv2D")
    let w = weightQuantizer(conv.weight.tensor)
    let b: Tensor? = conv.bias.map { p in biasQuantizer.map { $0(p.tensor) } ?? p.tensor }
    return Tensor.conv2d(x, weight: w, bias: b, geometry: conv.geometry)
  }

  public var namedParameters: [(name: String, parameter: Parameter)] {
    conv.namedParameters + weightQuantizer.namedParameters.map { ("weight_quantizer." + $0.name, $0.parameter) }
      + (biasQuantizer?.namedParameters.map { ("bias_quantizer." + $0.name, $0.parameter) } ?? [])
  }

  public func flops(inputs: [Shape], output: Shape) -> Int { conv.flops(inputs: inputs, output: output) }
  public var kind: String { "QuantizedConv2D" }
}

/// A linear layer whose weight and bias pass through FixNeurons.
public final class QuantizedLinear: Layer {
  public let linear: Linear
  public let weightQuantizer: FixNeuron
  public let biasQuantizer: FixNeuron?

  public init(_ linear: Linear, weightQuantizer: FixNeuron, biasQuantizer: FixNeuron?) {
    self.linear = linear
    self.weightQuantizer = weightQuantizer
    self.biasQuantizer = biasQuantizer
  }

  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "QuantizedLinear")
    let w = weightQuantizer(linear.weight.tensor)
    let b: Tensor? = linear.bias.map { p in biasQuantizer.map { $0(p.tensor) } ?? p.tensor }
    return Tensor.linear(x, weight: w, bias: b)
  }

  public var namedParameters: [(name: String, parameter: Parameter)] {
    linear.namedParameters + weightQuantizer.namedParameters.map { ("weight_quantizer." + $0.name, $0.parameter) }
      + (biasQuantizer?.namedParameters.map { ("bias_quantizer." + $0.name, $0.parameter) } ?? [])
  }

  public func flops(inputs: [Shape], output: Shape) -> Int { linear.flops(inputs: inputs, output: output) }
  public var kind: String { "QuantizedLinear" }
}

/// Layers with weight and bias quantizers (the capability transforms and export use).
public protocol WeightQuantized: Layer {
  var weightQuantizer: FixNeuron { get }
  var biasQuantizer: FixNeuron? { get }
  var weightParameter: Parameter { get }
  var biasParameter: Parameter? { get }
}

extension QuantizedConv2D: WeightQuantized {
  public var weightParameter: Parameter { conv.weight }
  public var biasParameter: Parameter? { conv.bias }
}

extension QuantizedLinear: WeightQuantized {
  public var weightParameter: Parameter { linear.weight }
  public var biasParameter: Parameter? { linear.bias }
}
