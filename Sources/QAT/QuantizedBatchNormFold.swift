import Autograd
import Layers
import TensorCore

/// Conv + BatchNorm or Linear + BatchNorm for quantization-aware training (Jacob et al. 2018;
/// PyTorch's ConvBn2d / LinearBn1d): the layer uses the fake-quantized *folded* weight
/// w·γ/σ_running, so training sees the weights the hardware will use. While batch-norm statistics
/// are live, the output is divided back by γ/σ_running and normalised with batch statistics
/// (which also update the running ones); once `freezeStatistics` is set (freeze_bn_stats) the
/// layer computes exactly the folded layer op(x, fq(w·s)) + fq(β − μ·s), s = γ/σ_running — what
/// `folded()` turns it into for export.
public final class QuantizedBatchNormFold: Layer, WeightQuantized {
  /// The layer the batch norm follows.
  public enum Core {
    case conv(Conv2D)
    case linear(Linear)
  }

  public let core: Core
  public let bn: BatchNorm2D
  public let weightQuantizer: FixNeuron
  public let biasQuantizer: FixNeuron?
  public let activation: FusedActivation?
  public var inputQuantizer: FixNeuron?
  public var outputQuantizer: FixNeuron?
  public private(set) var phase: Phase = .training

  public init(_ core: Core, _ bn: BatchNorm2D, activation: FusedActivation?, weightQuantizer: FixNeuron, biasQuantizer: FixNeuron?) {
    self.core = core
    self.bn = bn
    self.activation = activation
    self.weightQuantizer = weightQuantizer
    self.biasQuantizer = biasQuantizer
    precondition(outChannels == bn.channels, "QuantizedBatchNormFold: layer has \(outChannels) outputs, BN \(bn.channels) channels")
  }

  public convenience init(_ conv: Conv2D, _ bn: BatchNorm2D, activation: FusedActivation?, weightQuantizer: FixNeuron, biasQuantizer: FixNeuron?) {
    self.init(.conv(conv), bn, activation: activation, weightQuantizer: weightQuantizer, biasQuantizer: biasQuantizer)
  }

  var outChannels: Int {
    switch core {
    case .conv(let c): c.outChannels
    case .linear(let l): l.outFeatures
    }
  }

  var coreLayer: any Layer {
    switch core {
    case .conv(let c): c
    case .linear(let l): l
    }
  }

  /// The weight's shape with every axis but the output channels set to 1 (for broadcasting).
  var channelShape: Shape {
    switch core {
    case .conv: [outChannels, 1, 1, 1]
    case .linear: [outChannels, 1]
    }
  }

  /// The core op with the given weight and bias.
  func apply(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
    switch core {
    case .conv(let c): Tensor.conv2d(x, weight: weight, bias: bias, geometry: c.geometry)
    case .linear: Tensor.linear(x, weight: weight, bias: bias)
    }
  }

  public var weightParameter: Parameter {
    switch core {
    case .conv(let c): c.weight
    case .linear(let l): l.weight
    }
  }

  var coreBias: Parameter? {
    switch core {
    case .conv(let c): c.bias
    case .linear(let l): l.bias
    }
  }

  public var biasParameter: Parameter? { nil }
  public var weightValue: Tensor { foldedWeight.detached }
  public var biasValue: Tensor? { foldedBias.detached }
  public var reductionLength: Int {
    switch core {
    case .conv(let c): c.inChannels / c.geometry.groups * c.kernelSize.h * c.kernelSize.w
    case .linear(let l): l.inFeatures
    }
  }

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
  public var foldScale: Tensor { bn.weight.tensor * (bn.runningVar.value + bn.epsilon).rsqrt() }

  /// The folded weight w · s (broadcast over the output-channel axis).
  public var foldedWeight: Tensor { weightParameter.tensor * foldScale.reshaped(to: channelShape) }

  /// The folded bias (b − μ)·s + β.
  public var foldedBias: Tensor {
    let b = coreBias?.tensor ?? Tensor.zeros([outChannels])
    return (b - bn.runningMean.value) * foldScale + bn.bias.tensor
  }

  public func forward(_ inputs: [Tensor]) -> Tensor {
    let x = single(inputs, "QuantizedBatchNormFold")
    let w = weightQuantizer(foldedWeight)
    let y: Tensor
    if phase == .training && !bn.freezeStatistics {
      // Live statistics: batch-normalise op(x, fq(w·s)) / s. BN of y/s equals BN of y with ε·s²
      // per channel (its statistics are those of y scaled by 1/s), which saves a pass over y.
      var raw = apply(x, weight: w, bias: nil)
      let s = foldScale.scalars
      if let b = coreBias {
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
      y = apply(x, weight: w, bias: b)
    }
    return activate(y)
  }

  /// The equivalent plain quantized layer (BN folded into weight and bias), sharing this layer's
  /// quantizers: what export and the simulator run.
  public func folded() -> any WeightQuantized {
    let q: any WeightQuantized
    switch core {
    case .conv(let c):
      q = QuantizedConv2D(Conv2D(weight: foldedWeight.detached, bias: foldedBias.detached, geometry: c.geometry),
                          activation: activation, weightQuantizer: weightQuantizer, biasQuantizer: biasQuantizer)
    case .linear:
      q = QuantizedLinear(Linear(weight: foldedWeight.detached, bias: foldedBias.detached),
                          activation: activation, weightQuantizer: weightQuantizer, biasQuantizer: biasQuantizer)
    }
    q.inputQuantizer = inputQuantizer
    q.outputQuantizer = outputQuantizer
    return q
  }

  public var namedParameters: [(name: String, parameter: Parameter)] {
    coreLayer.namedParameters + bn.namedParameters.map { ("bn." + $0.name, $0.parameter) }
      + weightQuantizer.namedParameters.map { ("weight_quantizer." + $0.name, $0.parameter) }
      + (biasQuantizer?.namedParameters.map { ("bias_quantizer." + $0.name, $0.parameter) } ?? [])
  }

  public var namedBuffers: [(name: String, buffer: Buffer)] { bn.namedBuffers.map { ("bn." + $0.name, $0.buffer) } }

  public func flops(inputs: [Shape], output: Shape) -> Int { coreLayer.flops(inputs: inputs, output: output) + 2 * output.count }
  public var kind: String { "QuantizedBatchNormFold" }
}
