import Autograd
import Layers
import TensorCore

extension FusedActivation {
  /// The activation on float values (the fake-quant path).
  func apply(_ y: Tensor) -> Tensor {
    switch self {
    case .identity: y
    case .relu: y.relu()
    case .relu6: y.relu6()
    case .leakyRelu: y.leakyRelu(alpha: Self.leakySlope)
    }
  }
}

/// A weight-bearing layer prepared for quantization: its weight and bias pass through
/// FixNeurons and a following activation is fused into it (the DPU's Conv / Linear + ReLU /
/// ReLU6 / LeakyReLU patterns). Prepare, calibration, bias correction, AdaRound, the shift
/// constraints and export see every such layer through this protocol.
public protocol WeightQuantized: Layer {
  /// The float layer whose op this is.
  var core: any WeightBearing { get }
  var weightQuantizer: FixNeuron { get }
  var biasQuantizer: FixNeuron? { get }
  var activation: FusedActivation { get }
  /// How the accumulator reaches the output grid (`QuantizationConfig.requantize`, set by `Prepare`).
  var requantize: RequantizeMode { get set }
  /// The quantizers of this layer's input and output (set by `Prepare`).
  var inputQuantizer: FixNeuron? { get set }
  var outputQuantizer: FixNeuron? { get set }
  /// The batch norm trained with the layer (QAT's Conv / Linear + BN); nil once folded.
  var batchNorm: (any BatchNormalization)? { get }
  /// The trainable bias the deployed bias comes from (nil when it is derived, as in Conv + BN).
  var biasParameter: Parameter? { get }
  /// The weight and bias values the quantizers see (the folded ones for Conv + BN).
  var weightValue: Tensor { get }
  var biasValue: Tensor? { get }
  /// The plain quantized layer with the batch norm folded in, sharing the quantizers (itself when
  /// there is no batch norm).
  func folded() -> any WeightQuantized
  /// The first time (since `clearExactPathFailure()`) the exact integer path was needed and could
  /// not run, and why.
  var exactPathFailure: String? { get }
  func clearExactPathFailure()
}

extension WeightQuantized {
  public var weightParameter: Parameter { core.weight }
  /// Multiply-adds per output value (the GEMM's K).
  public var reductionLength: Int { core.reductionLength }

  /// The layer's product for input x with the given weight and bias, before the fused activation:
  /// what bias correction and AdaRound compare between the float and the quantized model.
  public func preActivation(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    core.apply(x, weight: weight, bias: bias)
  }

  /// Applies the fused activation unless the output quantizer applies it (fused ReLU).
  func activate(_ y: Tensor) -> Tensor {
    if activation == .relu && outputQuantizer?.clampsNegatives == true { return y }
    return activation.apply(y)
  }

  /// Integer codes of the fake-quantized weight (per-tensor power-of-two format).
  public func integerWeight(_ fw: FixedPointFormat) throws -> IntTensor {
    try IntTensor(onGrid: weightQuantizer.quantize(weightValue), format: fw)
  }

  /// Integer codes of the fake-quantized bias, nil without a bias; throws for a float bias.
  public func integerBias(_ fb: FixedPointFormat?) throws -> IntTensor? {
    guard let b = biasValue else { return nil }
    guard let fb, let q = biasQuantizer else { throw FixedPointError("the bias is not quantized to a fixed-point format") }
    return try IntTensor(onGrid: q.quantize(b), format: fb)
  }
}
