import Autograd
import Layers
import TensorCore

/// Activations fused into a quantized conv / linear layer (the DPU's Conv + ReLU / ReLU6 /
/// LeakyReLU patterns). The leaky slope is the DPU's 26/256.
public enum FusedActivation: String, Sendable, Codable {
  case relu, relu6, leakyRelu

  public static let leakySlope: Float = 26.0 / 256

  func apply(_ y: Tensor) -> Tensor {
    switch self {
    case .relu: y.relu()
    case .relu6: y.relu6()
    case .leakyRelu: y.leakyRelu(alpha: Self.leakySlope)
    }
  }

  public var integer: IntegerActivation {
    switch self {
    case .relu: .relu
    case .relu6: .relu6
    case .leakyRelu: .leakyRelu
    }
  }
}

/// Shared behaviour of quantized conv and linear layers: fake-quantized weight and bias, the fused
/// activation, and the exact inference path. The float path is exact while every partial sum
/// stays below 2^24 units (8-bit operands, K < 1024); beyond that (16-bit formats) inference runs
/// the simulator's integer kernels and requantizes onto the output quantizer's grid itself, so the
/// fake-quant model still equals the integer simulator.
public protocol WeightQuantized: Layer {
  var weightQuantizer: FixNeuron { get }
  var biasQuantizer: FixNeuron? { get }
  var weightParameter: Parameter { get }
  var biasParameter: Parameter? { get }
  var activation: FusedActivation? { get }
  /// The quantizers of this layer's input and output (set by `Prepare`).
  var inputQuantizer: FixNeuron? { get set }
  var outputQuantizer: FixNeuron? { get set }
  /// Multiply-adds per output value (the GEMM's K).
  var reductionLength: Int { get }
  /// The weight and bias values the quantizers see (folded ones for Conv+BN).
  var weightValue: Tensor { get }
  var biasValue: Tensor? { get }
}

extension WeightQuantized {
  public var weightValue: Tensor { weightParameter.value }
  public var biasValue: Tensor? { biasParameter?.value }

  /// Applies the fused activation unless the output quantizer applies it (fused ReLU).
  func activate(_ y: Tensor) -> Tensor {
    guard let activation else { return y }
    if activation == .relu && outputQuantizer?.clampsNegatives == true { return y }
    return activation.apply(y)
  }

  /// The exact-arithmetic context when the float path could round: formats of input, weight,
  /// bias and output, when all are per-tensor powers of two and the output quantizer is active.
  func exactContext(_ x: Tensor) -> (FixedPointFormat, FixedPointFormat, FixedPointFormat?, FixNeuron)? {
    guard !x.isTracked, !weightParameter.requiresGradient,
          let out = outputQuantizer, out.mode == .quantize, out.rangeParameter == nil,
          let fo = out.fixedPointFormat, fo.bits > 0,
          let fx = inputQuantizer?.fixedPointFormat, let fw = weightQuantizer.fixedPointFormat,
          weightQuantizer.mode == .quantize else { return nil }
    let fb = biasQuantizer?.fixedPointFormat
    if biasParameter != nil && biasQuantizer != nil && fb == nil { return nil }
    // largest partial sum in units of the accumulator
    let accUnits = Double(reductionLength) * Double(1 << (fx.bits - 1)) * Double(1 << (fw.bits - 1))
    let biasUnits = fb.map { Double(1 << ($0.bits - 1)) * Double.pow2(Double(max(0, fx.fractionalBits + fw.fractionalBits - $0.fractionalBits))) } ?? 0
    guard accUnits + biasUnits >= 16_777_216 || (activation == .leakyRelu && (accUnits + biasUnits) * 26 >= 16_777_216) else { return nil }
    return (fx, fw, fb, out)
  }

  /// Integer codes of the (fake-quantized) weight and bias.
  func integerWeights(_ fw: FixedPointFormat, _ fb: FixedPointFormat?) throws -> (IntTensor, IntTensor?) {
    let w = try IntTensor(onGrid: weightQuantizer.quantize(weightParameter.value), format: fw)
    let b = try biasParameter.map { p -> IntTensor in
      guard let fb, let q = biasQuantizer else { throw FixedPointError("float bias in an exact layer") }
      return try IntTensor(onGrid: q.quantize(p.value), format: fb)
    }
    return (w, b)
  }
}

/// The conv / linear product of a plain quantized layer (QuantizedConv2D or QuantizedLinear) for
/// input x with the given weight and bias, before its fused activation: what the post-training
/// tools (bias correction, AdaRound) compare between the float and the quantized model.
func preActivation(_ layer: any WeightQuantized, _ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
  if let c = layer as? QuantizedConv2D { return Tensor.conv2d(x, weight: weight, bias: bias, geometry: c.conv.geometry) }
  return Tensor.linear(x, weight: weight, bias: bias)
}

/// A convolution whose weight and bias pass through FixNeurons, with an optional fused activation.
/// Its input is quantized upstream and its output by the FixNeuron node that follows it.
public final class QuantizedConv2D: Layer, WeightQuantized {
  public let conv: Conv2D
  public let weightQuantizer: FixNeuron
  public let biasQuantizer: FixNeuron?
  public let activation: FusedActivation?
  public var inputQuantizer: FixNeuron?
  public var outputQuantizer: FixNeuron?

  public init(_ conv: Conv2D, activation: FusedActivation?, weightQuantizer: FixNeuron, biasQuantizer: FixNeuron?) {
    self.conv = conv
    self.activation = activation
    self.weightQuantizer = weightQuantizer
    self.biasQuantizer = biasQuantizer
  }

  public var weightParameter: Parameter { conv.weight }
  public var biasParameter: Parameter? { conv.bias }
  public var reductionLength: Int { conv.inChannels / conv.geometry.groups * conv.kernelSize.h * conv.kernelSize.w }

  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "QuantizedConv2D")
    if let (fx, fw, fb, out) = exactContext(x), let y = try? exactForward(x, fx, fw, fb, out) { return y }
    let w = weightQuantizer(conv.weight.tensor)
    let b: Tensor? = conv.bias.map { p in biasQuantizer.map { $0(p.tensor) } ?? p.tensor }
    return activate(Tensor.conv2d(x, weight: w, bias: b, geometry: conv.geometry))
  }

  func exactForward(_ x: Tensor, _ fx: FixedPointFormat, _ fw: FixedPointFormat, _ fb: FixedPointFormat?, _ out: FixNeuron) throws -> Tensor {
    let (w, b) = try integerWeights(fw, fb)
    let xi = try IntTensor(onGrid: x, format: fx)
    let y = IntegerKernels.conv2d(xi, weight: w, packed: nil, bias: b, geometry: conv.geometry,
                                  activation: activation?.integer ?? .none, output: out.fixedPointFormat!, rounding: out.spec.rounding)
    return y.dequantized()
  }

  public var namedParameters: [(name: String, parameter: Parameter)] {
    conv.namedParameters + weightQuantizer.namedParameters.map { ("weight_quantizer." + $0.name, $0.parameter) }
      + (biasQuantizer?.namedParameters.map { ("bias_quantizer." + $0.name, $0.parameter) } ?? [])
  }

  public func flops(inputs: [Shape], output: Shape) -> Int { conv.flops(inputs: inputs, output: output) }
  public var kind: String { "QuantizedConv2D" }
}

/// A linear layer whose weight and bias pass through FixNeurons, with an optional fused activation.
public final class QuantizedLinear: Layer, WeightQuantized {
  public let linear: Linear
  public let weightQuantizer: FixNeuron
  public let biasQuantizer: FixNeuron?
  public let activation: FusedActivation?
  public var inputQuantizer: FixNeuron?
  public var outputQuantizer: FixNeuron?

  public init(_ linear: Linear, activation: FusedActivation?, weightQuantizer: FixNeuron, biasQuantizer: FixNeuron?) {
    self.linear = linear
    self.activation = activation
    self.weightQuantizer = weightQuantizer
    self.biasQuantizer = biasQuantizer
  }

  public var weightParameter: Parameter { linear.weight }
  public var biasParameter: Parameter? { linear.bias }
  public var reductionLength: Int { linear.inFeatures }

  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "QuantizedLinear")
    if let (fx, fw, fb, out) = exactContext(x), let y = try? exactForward(x, fx, fw, fb, out) { return y }
    let w = weightQuantizer(linear.weight.tensor)
    let b: Tensor? = linear.bias.map { p in biasQuantizer.map { $0(p.tensor) } ?? p.tensor }
    return activate(Tensor.linear(x, weight: w, bias: b))
  }

  func exactForward(_ x: Tensor, _ fx: FixedPointFormat, _ fw: FixedPointFormat, _ fb: FixedPointFormat?, _ out: FixNeuron) throws -> Tensor {
    let (w, b) = try integerWeights(fw, fb)
    let xi = try IntTensor(onGrid: x.reshapedRaw(to: [x.shape[0], x.shape[1], 1, 1]), format: fx)
    let w4 = IntTensor(shape: [w.shape[0], w.shape[1], 1, 1], codes: w.codes, format: w.format)
    let y = IntegerKernels.conv2d(xi, weight: w4, packed: nil, bias: b, geometry: ConvGeometry(),
                                  activation: activation?.integer ?? .none, output: out.fixedPointFormat!, rounding: out.spec.rounding)
    return y.dequantized().reshapedRaw(to: [x.shape[0], w.shape[0]])
  }

  public var namedParameters: [(name: String, parameter: Parameter)] {
    linear.namedParameters + weightQuantizer.namedParameters.map { ("weight_quantizer." + $0.name, $0.parameter) }
      + (biasQuantizer?.namedParameters.map { ("bias_quantizer." + $0.name, $0.parameter) } ?? [])
  }

  public func flops(inputs: [Shape], output: Shape) -> Int { linear.flops(inputs: inputs, output: output) }
  public var kind: String { "QuantizedLinear" }
}
