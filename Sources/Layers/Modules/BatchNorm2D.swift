import Autograd
import TensorCore

/// Batch normalisation over axis 1 (PyTorch's BatchNorm2d / BatchNorm1d on [N, C]).
/// Training: batch statistics, running statistics updated with `momentum` (unbiased variance).
/// Inference: running statistics.
public final class BatchNorm2D: BatchNormalization {
  public let channels: Int
  public var epsilon: Float
  public var momentum: Float
  /// γ and β.
  public let weight: Parameter
  public let bias: Parameter
  public let runningMean: Buffer
  public let runningVar: Buffer
  public private(set) var phase: Phase = .training
  /// When true (QAT's freeze_bn_stats) running statistics stop updating even in training.
  public var freezeStatistics = false

  public init(_ channels: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
    self.channels = channels
    self.epsilon = epsilon
    self.momentum = momentum
    weight = Parameter(Tensor.ones([channels]))
    bias = Parameter(Tensor.zeros([channels]))
    runningMean = Buffer(Tensor.zeros([channels]))
    runningVar = Buffer(Tensor.ones([channels]))
  }

  public func setPhase(_ phase: Phase) { self.phase = phase }

  public var namedParameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }
  public var namedBuffers: [(name: String, buffer: Buffer)] { [("running_mean", runningMean), ("running_var", runningVar)] }

  public func forward(_ inputs: [Tensor]) -> Tensor { forward(inputs, fusingReLU: false) }

  /// With `fusingReLU`, returns relu(BN(x)): in training one pass less each way (`Model.forward`
  /// fuses a ReLU that is the only reader of a batch norm), the same bits as the two layers.
  public func forward(_ inputs: [Tensor], fusingReLU: Bool) -> Tensor {
    let x = single(inputs, "BatchNorm2D")
    precondition(x.rank >= 2 && x.shape[1] == channels, "BatchNorm2D(\(channels)): input \(x.shape) has \(x.rank >= 2 ? x.shape[1] : 0) channels")
    if phase == .inference {
      let s = foldScale
      let y = Tensor.channelAffine(x, scale: s, shift: foldedBias(nil, scale: s))
      return fusingReLU ? y.relu() : y
    }
    let (y, mean, variance) = Tensor.batchNorm(x, gamma: weight.tensor, beta: bias.tensor, epsilon: epsilon, relu: fusingReLU)
    if !freezeStatistics { updateRunningStatistics(mean: mean, variance: variance, count: x.count / channels) }
    return y
  }

  /// Moves the running statistics toward a batch's (unbiased variance), as in training.
  public func updateRunningStatistics(mean: [Float], variance: [Float], count: Int) {
    let unbias = count > 1 ? Float(count) / Float(count - 1) : 1
    let m = momentum
    let rm = runningMean.value.scalars, rv = runningVar.value.scalars
    runningMean.value = Tensor((0..<channels).map { (1 - m) * rm[$0] + m * mean[$0] })
    runningVar.value = Tensor((0..<channels).map { (1 - m) * rv[$0] + m * variance[$0] * unbias })
  }

  public func flops(inputs: [Shape], output: Shape) -> Int { 2 * output.count }
}
