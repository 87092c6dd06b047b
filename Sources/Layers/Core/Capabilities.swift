import Autograd
import TensorCore

// Capabilities: what the graph transforms (quantization, batch-norm folding, cross-layer
// equalization, bias correction, AdaRound, export) need to know about a layer, declared by the
// layer itself. The transforms dispatch on these protocols, never on concrete layer types, so a
// new layer is its own file plus the conformances it has.

/// A layer computing a linear function of its input through a weight (output channels on
/// `outputChannelAxis`) and an optional bias [out]: convolution, fully connected. Quantization
/// gives it weight and bias quantizers and fuses a following activation into it; batch norms fold
/// into it; bias correction and AdaRound compare its output with other weights.
public protocol WeightBearing: Layer {
  var weight: Parameter { get }
  var bias: Parameter? { get }
  var inputChannels: Int { get }
  var outputChannels: Int { get }
  /// The weight axis of the output channels (0 for [out, in/groups, kh, kw] and [out, in]).
  var outputChannelAxis: Int { get }
  /// Channel groups: the inputs of group g feed only the outputs of group g.
  var groups: Int { get }
  /// Multiply-adds per output value (the GEMM's K).
  var reductionLength: Int { get }
  /// The layer's op with the given weight and bias instead of its own (no activation).
  func apply(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor
  /// A layer of the same kind and geometry holding other weight and bias values.
  func with(weight: Tensor, bias: Tensor?) -> any WeightBearing
  /// The axis of the output channels in this layer's output of rank r (1 for NCHW results).
  func outputChannelAxis(inOutputOfRank r: Int) -> Int
}

/// A weight-bearing layer with an integer form: exact sums of codes, the bias aligned by a shift,
/// the activation, one rounding onto `output` — what the integer simulator computes for it (and
/// the fake-quant model where float arithmetic could round).
public protocol IntegerWeightBearing: WeightBearing {
  /// `requantization`: per-channel integer multipliers instead of the positions' shift.
  func applyInteger(_ x: IntTensor, weight: IntTensor, bias: IntTensor?, activation: FusedActivation,
                    output: FixedPointFormat, rounding: RoundingRule, requantization: ChannelRequantization?) -> IntTensor
}

extension WeightBearing {
  public var outputChannelAxis: Int { 0 }
  public var groups: Int { 1 }
  public func outputChannelAxis(inOutputOfRank r: Int) -> Int { 1 }
  /// One input channel per group (vai_q method 2 quantizes these weights non-overflow).
  public var isDepthwise: Bool { groups > 1 && groups == inputChannels }
}

/// Batch normalisation: a per-channel affine from running statistics in inference, batch
/// statistics in training. It folds into the weight-bearing layer before it; QAT trains the pair
/// with the folded weight (`BatchNormalization.foldedWeight`).
public protocol BatchNormalization: Layer {
  var channels: Int { get }
  var epsilon: Float { get }
  /// γ and β.
  var weight: Parameter { get }
  var bias: Parameter { get }
  var runningMean: Buffer { get }
  var runningVar: Buffer { get }
  /// freeze_bn_stats: running statistics stop updating, also in training.
  var freezeStatistics: Bool { get set }
  /// Moves the running statistics toward a batch's (unbiased variance), as in training.
  func updateRunningStatistics(mean: [Float], variance: [Float], count: Int)
}

/// The batch-norm fold, the one place its formula lives: per output channel
/// s = γ / sqrt(σ² + ε), w' = w · s, b' = (b − μ) · s + β. Batch-norm inference (b = 0), the
/// post-training fold and QAT's folded Conv/Linear + BN all compute it here; it is differentiable
/// in γ, β and the weight.
extension BatchNormalization {
  /// s = γ / sqrt(running_var + ε) per channel.
  public var foldScale: Tensor { weight.tensor * (runningVar.value + epsilon).rsqrt() }

  /// (b − μ) · s + β; without a bias, b = 0.
  public func foldedBias(_ b: Tensor?, scale s: Tensor? = nil) -> Tensor {
    let s = s ?? foldScale
    return ((b ?? Tensor.zeros([channels])) - runningMean.value) * s + bias.tensor
  }

  /// w · s with s broadcast along `axis`, the weight's output-channel axis.
  public func foldedWeight(_ w: Tensor, axis: Int, scale s: Tensor? = nil) -> Tensor {
    precondition(w.shape[axis] == channels, "BN fold: weight \(w.shape) has \(w.shape[axis]) outputs on axis \(axis), BN \(channels) channels")
    var dims = [Int](repeating: 1, count: w.rank)
    dims[axis] = channels
    return w * (s ?? foldScale).reshaped(to: Shape(dims))
  }
}

/// An elementwise activation that a conv / linear / add node can apply to its exact sum before
/// requantization (the DPU's fused patterns).
public protocol ActivationLayer: Layer {
  /// The fused form of this activation; nil when this instance has none (a LeakyReLU whose slope
  /// is not the DPU's 26/256).
  var fusedActivation: FusedActivation? { get }
}

/// A layer whose output is non-negative whenever its input is (pools, data movement).
public protocol SignPreserving: Layer {
  var preservesSign: Bool { get }
}

/// A layer whose output values (in inference) are input values — selected, moved, repeated, the
/// maximum of a window, or zero — so its output stays on its input's fix-position grid and needs
/// no quantizer of its own (max pool, slice, zero padding, reshapes, nearest upsampling, ReLU,
/// dropout).
public protocol GridPreserving: SignPreserving {
  var preservesGrid: Bool { get }
}

extension SignPreserving { public var preservesSign: Bool { true } }
extension GridPreserving { public var preservesGrid: Bool { true } }

/// Averaging pools: the DPU computes them with its own output position tied to the input's
/// (`align_pool`) and a multiplier instead of a division.
public protocol AveragePooling: SignPreserving {}

/// The elementwise sum of branches (a residual connection): `residual_bit` applies to the
/// tensors that only sums read, and an activation right after it fuses into it.
public protocol ResidualSum: Layer {}

/// Joins its inputs along `axis`: under `align_concat` the inputs share one position.
public protocol Concatenation: Layer {
  var axis: Int { get }
}

/// f(s · x) = s · f(x) for s > 0 (ReLU, LeakyReLU): cross-layer equalization can scale the
/// channels on either side of it.
public protocol PositivelyHomogeneous: Layer {}

/// Cross-layer equalization's view of a weight-bearing layer: per-channel ranges and rescaling
/// of its output channels (weight rows and bias) and input channels (weight columns). The
/// defaults are for weights laid out [out, in/groups, taps...] (`outputChannelAxis` 0); a layer
/// with another layout implements the four methods itself.
public protocol ChannelScalable: WeightBearing {
  /// max |w| per output channel.
  func outputChannelRanges() -> [Float]
  /// max |w| per input channel.
  func inputChannelRanges() -> [Float]
  /// Output channel c: weight × (1 / s_c), bias ÷ s_c.
  func divideOutputChannels(by s: [Float])
  /// Input channel c: weight × s_c.
  func multiplyInputChannels(by s: [Float])
}

/// A layer whose output element depends only on the input element at the same position and on
/// its channel (axis 1): activations (sigmoid, tanh, clip, hard sigmoid / swish, SiLU, PReLU),
/// constant per-channel affine maps. On a quantized input it is a function of the input code,
/// which export writes as a table (one per channel where it depends on the channel).
public protocol Pointwise: Layer {
  /// Whether this instance is pointwise on an input of this rank (batch included): an
  /// elementwise op is only with a constant operand that varies at most along the channels.
  func isPointwise(inputRank: Int) -> Bool
}

extension Pointwise { public func isPointwise(inputRank: Int) -> Bool { true } }

/// Elementwise arithmetic of two tensors (broadcasting): what the deploy format's add / sub /
/// mul nodes compute, and the DPU's shift_read / shift_write rules constrain.
public protocol BinaryArithmetic: Layer {
  /// The operation on two inputs; nil when this instance has another form (one input and a
  /// constant, or an operation the deploy format has no node for).
  var binaryOperation: BinaryOperation? { get }
}

public enum BinaryOperation: String, Sendable { case add, subtract, multiply }
