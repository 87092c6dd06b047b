import Datasets
import Layers
import QAT
import TensorCore

/// The post-training quantization flow: prepare -> calibrate on a loader's batches -> freeze.
public enum PostTraining {
  public struct Report {
    public var calibration: Calibration.Report
    public var adaround: AdaRound.Report?
    public var biasCorrection: BiasCorrection.Report?
    /// Wall time of the whole flow.
    public var seconds: Double
  }

  /// Decodes the loader's batches once and calibrates on them (every pass reuses them).
  /// With `adaround`, then learns the weight rounding (`AdaRound`); with `biasCorrection`, then
  /// corrects the biases (`BiasCorrection`); both on the same batches.
  @discardableResult
  public static func calibrate(_ qm: QuantizedModel, loader: DataLoader, adaround: AdaRound.Options? = nil,
                               biasCorrection: Bool = false) throws -> Report {
    var batches: [Tensor] = []
    var it = loader.batches(epoch: 0)
    while let b = try it.next() { batches.append(b.images) }
    let start = monotonicSeconds()
    let calibration = try Calibration.calibrate(qm) { body in for b in batches { try body(b) } }
    try ShiftConstraints.enforce(qm)
    let rounding = try adaround.map { try AdaRound.apply(qm, batches: batches, options: $0) }
    let correction = biasCorrection ? try BiasCorrection.correct(qm) { body in for b in batches { try body(b) } } : nil
    return Report(calibration: calibration, adaround: rounding, biasCorrection: correction, seconds: monotonicSeconds() - start)
  }
}
