import Autograd
import Layers
import TensorCore

/// Conv + BatchNorm for quantization-aware training (Jacob et al. 2018; PyTorch's ConvBn2d): the
/// convolution uses the fake-quantized *folded* weight w·γ/σ_running, so training sees the weights
/// the hardware will use. While batch-norm statistics are live, the output is divided back by
/// γ/σ_running and normalised with batch statistics (which also update the running ones); once
/// `freezeStatistics` is set (freeze_bn_stats) the layer computes exactly the folded convolution
/// conv(x, fq(w·s)) + fq(β − μ·s), s = γ/σ_running — what `folded()` turns it into for export.
public final class QuantizedConvBatchNorm: Layer, WeightQuantized {
  public let conv: Conv2D
  public let bn: BatchNorm2D
  public let weightQuantizer: FixNeuron
  public let biasQuantizer: FixNeuron?
  public let activation: FusedActivation?
  public var inputQuantizer: FixNeuron?
  public var outputQuantizer: FixNeuron?
  public private(set) var phase: Phase = .training

  public init(_ conv: Conv2D, _ bn: BatchNorm2D, activation: FusedActivation?, weightQuantizer: FixNeuron, biasQuantizer: FixNeuron?) {
    precondition(conv.outChannels == bn.channels, "QuantizedConvBatchNorm: conv has \(conv.outChannels) outputs, BN \(bn.channels) channels")
    self.conv = conv
    self.bn = bn
    self.activation = activation
    self.weightQuantizer = weightQuantizer
    self.biasQuantizer = biasQuantizer
  }

  public var weightParameter: Parameter { conv.weight }
  public var biasParameter: Parameter? { nil }
  public var weightValue: Tensor { foldedWeight.detached }
  public var biasValue: Tensor? { foldedBias.detached }
  public var reductionLength: Int { conv.inChannels / conv.geometry.groups * conv.kernelSize.h * conv.kernelSize.w }

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
  var foldScale: Tensor { bn.weight.tensor * (bn.runningVar.value + bn.epsilon).rsqrt() }

  /// The folded weight w · s (broadcast over the output-channel axis).
  public var foldedWeight: Tensor { conv.weight.tensor * foldScale.reshaped(to: [conv.outChannels, 1, 1, 1]) }

  /// The folded bias (b − μ)·s + β.
  public var foldedBias: Tensor {
    let b = conv.bias?.tensor ?? Tensor.zeros([conv.outChannels])
    return (b - bn.runningMean.value) * foldScale + bn.bias.tensor
  }

  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "QuantizedConvBatchNorm")
    let w = weightQuantizer(foldedWeight)
    let y: Tensor
    if phase == .training && !bn.freezeStatistics {
      // Live statistics: batch-normalise conv(x, fq(w·s)) / s. BN of y/s equals BN of y with ε·s²
      // per channel (its statistics are those of y scaled by 1/s), which saves a pass over y.
      var raw = Tensor.conv2d(x, weight: w, bias: nil, geometry: conv.geometry)
      let s = foldScale.scalars
      if let b = conv.bias { raw = raw + (b.tensor * foldScale).reshaped(to: [1, conv.outChannels, 1, 1]) }
      let eps = s.map { bn.epsilon * $0 * $0 }
      // The deployed bias is fq((b − μ)·s + β); its rounding error, measured on the running
      // statistics, is added to β as a constant so training sees the bias the hardware will use
      // (the gradient with respect to β is unchanged).
      var beta = bn.bias.tensor
      if let bq = biasQuantizer, bq.mode == .quantize {
        let exact = foldedBias.detached
        beta = beta + (bq(exact).detached - exact)
      }
      let (out, mean, variance) = Tensor.batchNorm(raw, gamma: bn.weight.tensor, beta: beta, epsilons: eps)
      if !bn.freezeStatistics {
        bn.updateRunningStatistics(mean: zip(mean, s).map { $0 / $1 }, variance: zip(variance, s).map { $0 / ($1 * $1) },
                                   count: raw.count / conv.outChannels)
      }
      y = out
    } else {
      let b = biasQuantizer.map { $0(foldedBias) } ?? foldedBias
      y = Tensor.conv2d(x, weight: w, bias: b, geometry: conv.geometry)
    }
    return activate(y)
  }

  /// The equivalent plain quantized convolution (BN folded into weight and bias), sharing this
  /// layer's quantizers: what export and the simulator run.
  public func folded() -> QuantizedConv2D {
    let c = Conv2D(weight: foldedWeight.detached, bias: foldedBias.detached, geometry: conv.geometry)
    let q = QuantizedConv2D(c, activation: activation, weightQuantizer: weightQuantizer, biasQuantizer: biasQuantizer)
    q.inputQuantizer = inputQuantizer
    q.outputQuantizer = outputQuantizer
    return q
  }

  public var namedParameters: [(name: String, parameter: Parameter)] {
    conv.namedParameters + bn.namedParameters.map { ("bn." + $0.name, $0.parameter) }
      + weightQuantizer.namedParameters.map { ("weight_quantizer." + $0.name, $0.parameter) }
      + (biasQuantizer?.namedParameters.map { ("bias_quantizer." + $0.name, $0.parameter) } ?? [])
  }

  public var namedBuffers: [(name: String, buffer: Buffer)] { bn.namedBuffers.map { ("bn." + $0.name, $0.buffer) } }

  public func flops(inputs: [Shape], output: Shape) -> Int { conv.flops(inputs: inputs, output: output) + 2 * output.count }
  public var kind: String { "QuantizedConvBatchNorm" }
}
