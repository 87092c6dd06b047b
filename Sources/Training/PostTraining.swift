import Datasets
import Layers
import QAT
import TensorCore

/// The post-training quantization flow: prepare -> calibrate on a loader's batches -> freeze.
public enum PostTraining {
  /// Decodes the loader's batches once and calibrates on them (every pass reuses them).
  /// With `biasCorrection`, then corrects the biases on the same batches (`BiasCorrection`).
  @discardableResult
  public static func calibrate(_ qm: QuantizedModel, loader: DataLoader, biasCorrection: Bool = false) throws -> Calibration.Report {
    var batches: [Tensor] = []
    var it = loader.batches(epoch: 0)
    while let b = try it.next() { batches.append(b.images) }
    let report = try Calibration.calibrate(qm) { body in for b in batches { try body(b) } }
    ShiftConstraints.enforce(qm)
    if biasCorrection { try BiasCorrection.correct(qm) { body in for b in batches { try body(b) } } }
    return report
  }

  /// Loads what `qat eval` / `qat export` accept as a model: a quantized-model directory (written
  /// by `qat quantize`) or float weights (.h5) with an architecture.
  public static func loadModel(_ path: String, architecture: String?) throws -> (model: Model, quantized: QuantizedModel?) {
    if QuantizedModel.isQuantizedDirectory(path) {
      let qm = try QuantizedModel.load(from: path) { try Architecture.named($0).make() }
      return (qm.model, qm)
    }
    return (try Architecture.loadFloatModel(weights: path, architecture: architecture), nil)
  }
}
