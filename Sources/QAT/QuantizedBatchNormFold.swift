import Autograd
import Layers
import TensorCore

/// A weight-bearing layer + batch norm for quantization-aware training (Jacob et al. 2018;
/// PyTorch's ConvBn2d / LinearBn1d): the layer uses the fake-quantized *folded* weight
/// w·γ/σ_running, so training sees the weights the hardware will use. While batch-norm statistics
/// are live, the output is divided back by γ/σ_running and normalised with batch statistics
/// (which also update the running ones); once `freezeStatistics` is set (freeze_bn_stats) the
/// layer computes exactly the folded layer op(x, fq(w·s)) + fq(β − μ·s), s = γ/σ_running — what
/// `folded()` turns it into for export. The fold is the batch norm's own
/// (`BatchNormalization.foldedWeight` / `foldedBias`).
public final class QuantizedBatchNormFold: Layer, WeightQuantized {
  public let core: any WeightBearing
  public let bn: any BatchNormalization
  public let weightQuantizer: FixNeuron
  public let biasQuantizer: FixNeuron?
  public let activation: FusedActivation
  public var requantize = RequantizeMode.powerOfTwo
  public var inputQuantizer: FixNeuron?
  public var outputQuantizer: FixNeuron?
  public private(set) var phase: Phase = .training

  public init(_ core: any WeightBearing, _ bn: any BatchNormalization, activation: FusedActivation,
              weightQuantizer: FixNeuron, biasQuantizer: FixNeuron?) {
    self.core = core
    self.bn = bn
    self.activation = activation
    self.weightQuantizer = weightQuantizer
    self.biasQuantizer = biasQuantizer
    precondition(core.outputChannels == bn.channels, "QuantizedBatchNormFold: layer has \(core.outputChannels) outputs, BN \(bn.channels) channels")
  }

  var outChannels: Int { core.outputChannels }

  public var batchNorm: (any BatchNormalization)? { bn }
  public var biasParameter: Parameter? { nil }
  public var weightValue: Tensor { foldedWeight.detached }
  public var biasValue: Tensor? { foldedBias.detached }

  public func setPhase(_ phase: Phase) {
    self.phase = phase
    bn.setPhase(phase)
  }

  /// freeze_bn_stats: stop updating running statistics and use them (the folded form).
  public var freezeStatistics: Bool {
    get { bn.freezeStatistics }
    set { bn.freezeStatistics = newValue }
  }

  /// s = γ / sqrt(running_var + ε) per output channel (differentiable in γ).
  public var foldScale: Tensor { bn.foldScale }

  /// The folded weight w · s (broadcast over the output-channel axis).
  public var foldedWeight: Tensor { bn.foldedWeight(core.weight.tensor, axis: core.outputChannelAxis) }

  /// The folded bias (b − μ)·s + β.
  public var foldedBias: Tensor { bn.foldedBias(core.bias?.tensor) }

  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "QuantizedBatchNormFold")
    let w = weightQuantizer(foldedWeight)
    let y: Tensor
    if phase == .training && !bn.freezeStatistics {
      // Live statistics: batch-normalise op(x, fq(w·s)) / s. BN of y/s equals BN of y with ε·s²
      // per channel (its statistics are those of y scaled by 1/s), which saves a pass over y.
      var raw = core.apply(x, weight: w, bias: nil)
      let s = foldScale.scalars
      if let b = core.bias {
        raw = raw + (b.tensor * foldScale).reshaped(to: [1, outChannels] + Array(repeating: 1, count: raw.rank - 2))
      }
      let eps = s.map { bn.epsilon * $0 * $0 }
      // (y/s − mean)/sqrt(var(y/s) + ε) = sign(s)·(y − mean(y))/sqrt(var(y) + ε·s²): channels whose
      // γ (hence s) is negative flip sign, which γ·sign(s) carries (same gradient for γ).
      var gamma = bn.weight.tensor
      if s.contains(where: { $0 < 0 }) { gamma = gamma * Tensor(s.map { $0 < 0 ? -1 : 1 }) }
      // The deployed bias is fq((b − μ)·s + β); its rounding error, measured on the running
      // statistics, is added to β as a constant so training sees the bias the hardware will use
      // (the gradient with respect to β is unchanged).
      var beta = bn.bias.tensor
      if let bq = biasQuantizer, bq.mode == .quantize {
        let exact = foldedBias.detached
        beta = beta + (bq(exact).detached - exact)
      }
      let (out, mean, variance) = Tensor.batchNorm(raw, gamma: gamma, beta: beta, epsilons: eps)
      bn.updateRunningStatistics(mean: zip(mean, s).map { $0 / $1 }, variance: zip(variance, s).map { $0 / ($1 * $1) },
                                 count: raw.count / outChannels)
      y = out
    } else {
      let b = biasQuantizer.map { $0(foldedBias) } ?? foldedBias
      y = core.apply(x, weight: w, bias: b)
    }
    return activate(y)
  }

  /// This training form computes in float only (it has no exact integer path); export and the
  /// bit-exact check use `folded()`, which has one.
  public var exactPathFailure: String? { nil }
  public func clearExactPathFailure() {}

  /// The equivalent plain quantized layer (BN folded into weight and bias), sharing this layer's
  /// quantizers: what export and the simulator run.
  public func folded() -> any WeightQuantized {
    let q = QuantizedLayer(core.with(weight: foldedWeight.detached, bias: foldedBias.detached),
                           activation: activation, weightQuantizer: weightQuantizer, biasQuantizer: biasQuantizer)
    q.inputQuantizer = inputQuantizer
    q.outputQuantizer = outputQuantizer
    q.requantize = requantize
    return q
  }

  public var namedParameters: [(name: String, parameter: Parameter)] {
    core.namedParameters + bn.namedParameters.map { ("bn." + $0.name, $0.parameter) }
      + weightQuantizer.namedParameters.map { ("weight_quantizer." + $0.name, $0.parameter) }
      + (biasQuantizer?.namedParameters.map { ("bias_quantizer." + $0.name, $0.parameter) } ?? [])
  }

  public var namedBuffers: [(name: String, buffer: Buffer)] { bn.namedBuffers.map { ("bn." + $0.name, $0.buffer) } }

  public func flops(inputs: [Shape], output: Shape) -> Int { core.flops(inputs: inputs, output: output) + 2 * output.count }
  public var kind: String { "QuantizedBatchNormFold" }
}
