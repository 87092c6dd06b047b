import Datasets
import Export
import Foundation
import Layers
import QAT
import TensorCore

/// Training any model on an image folder (`qat train`, `qat finetune`): float training from
/// scratch or from weights, QAT from a float model (prepared, calibrated, ranges learned) or
/// fine-tuning of a PTQ model. A checkpoint after every epoch holds parameters, optimizer state,
/// step and (QAT) the quantization state; `resume` continues from it bitwise as if the run had
/// not stopped (the data order and augmentation depend only on seed and epoch).
///
///     var run = TrainingRun(model: loaded, train: loader)
///     run.options.epochs = 10
///     run.quantization = QuantizationConfig()      // QAT; nil trains in float
///     run.calibration = batches
///     let result = try run.run()
public struct TrainingRun {
  public enum OptimizerKind: String, CaseIterable, Sendable { case sgd, adam }

  public struct Options: Sendable {
    public var epochs = 10
    public var optimizer = OptimizerKind.sgd
    public var learningRate: Float = 0.01
    public var momentum: Float = 0.9
    public var weightDecay: Float = 1e-4
    public var schedule = "cosine"
    /// QAT: freeze batch-norm statistics after this fraction of the steps (nil: never).
    public var freezeBNAt: Double?
    /// QAT: weight formats stop following the weights after this fraction of the steps.
    public var freezeRangesAt = 0.9
    public var rangeLearning = QuantSpec.Learning.tqt
    public var rangeLearningRateScale: Float = 1
    /// Knowledge distillation from `teacher`: share of the distillation term (0: off).
    public var distillWeight: Float = 0
    public var distillTemperature: Float = 4
    /// Written after every epoch; with `resume`, training continues from it if it exists.
    public var checkpoint: String?
    public var resume = false
    /// End after this epoch (the checkpoint then resumes the rest; for runs split across jobs).
    public var stopAfterEpoch: Int?
    /// QAT of a graph with nodes the deploy format cannot express (fake-quant evaluation only).
    public var allowUnexportable = false
    /// Progress bar label prefix (nil: no bar).
    public var progress: String? = "epoch"
    public init() {}
  }

  public struct EpochResult: Sendable {
    public var epoch: Int
    public var train: EpochReport
    public var testTop1: Double?
  }

  public struct Result {
    public var epochs: [EpochResult] = []
    /// The trained model: float, or the quantized model of a QAT run.
    public var model: Model
    public var quantized: QuantizedModel?
    public var resumedAtEpoch: Int?
    public var seconds: Double = 0
  }

  public var model: LoadedModel
  public var train: DataLoader
  public var test: DataLoader?
  public var options = Options()
  /// QAT from a float model with this configuration (a quantized model fine-tunes with its own).
  public var quantization: QuantizationConfig?
  /// Calibration batches of a QAT run from a float model.
  public var calibration: [Tensor] = []
  public var teacher: Model?
  /// Called after every epoch (reports, logging).
  public var onEpoch: ((EpochResult) -> Void)?

  public init(model: LoadedModel, train: DataLoader) {
    self.model = model
    self.train = train
  }

  public func run() throws -> Result {
    let steps = options.epochs * train.batchCount
    guard options.epochs >= 1, train.batchCount >= 1 else { throw TrainingError("training needs at least one epoch and one batch") }
    if model.quantized != nil, quantization != nil {
      throw TrainingError("the model is already quantized: fine-tune it with its own configuration (no quantization options)")
    }
    let schedule = try RecipeSupport.learningRateSchedule(options.schedule, base: options.learningRate, totalSteps: steps)
    var session: QATSession?
    if let q = model.quantized {
      session = QATSession(quantized: q)
    } else if let config = quantization {
      let s = try QATSession(model: model.model, config: config)
      guard !calibration.isEmpty else { throw TrainingError("QAT from a float model needs calibration images") }
      try s.calibrate(calibration)
      if options.rangeLearning != .none { try s.enableRangeLearning(options.rangeLearning) }
      session = s
    }
    if let session, !options.allowUnexportable {
      let bad = Exporter.unsupportedNodes(session.quantized)
      guard bad.isEmpty else {
        throw TrainingError("no exact integer form in the deploy format: " + bad.map { "\($0.node): \($0.reason)" }.joined(separator: "; ")
                            + " (keep them in float with ignore_nodes / output_nodes, or allow it for fake-quant evaluation only)")
      }
    }
    let network = session?.model ?? model.model
    let groups = session?.parameterGroups(weightDecay: options.weightDecay, rangeLearningRateScale: options.rangeLearningRateScale)
      ?? [ParameterGroup(network.parameters, weightDecay: options.weightDecay)]
    let optimizer: any Optimizer = switch options.optimizer {
    case .sgd: SGD(groups, learningRate: options.learningRate, momentum: options.momentum)
    case .adam: Adam(groups, learningRate: options.learningRate)
    }
    let trainer: Trainer
    if let session {
      session.freezeBatchNormStep = options.freezeBNAt.map { Int(Double(steps) * $0) }
      session.freezeRangesStep = Int(Double(steps) * options.freezeRangesAt)
      trainer = session.trainer(optimizer: optimizer, schedule: schedule)
    } else {
      trainer = Trainer(model: network, optimizer: optimizer, schedule: schedule)
    }
    if options.distillWeight > 0 {
      guard let teacher else { throw TrainingError("distillation needs a teacher model") }
      trainer.distillation = try Distillation(teacher: teacher, weight: options.distillWeight, temperature: options.distillTemperature)
    }
    var result = Result(model: network, quantized: session?.quantized)
    var first = 0
    if options.resume, let path = options.checkpoint, FileManager.default.fileExists(atPath: path) {
      if let session { try session.resume(trainer, from: path) } else { try trainer.resume(from: path) }
      guard trainer.step % train.batchCount == 0 else {
        throw TrainingError("\(path): step \(trainer.step) is not at an epoch boundary of \(train.batchCount) batches (another batch size or data set?)")
      }
      first = trainer.step / train.batchCount
      result.resumedAtEpoch = first
    }
    let start = monotonicSeconds()
    for epoch in first..<min(options.epochs, options.stopAfterEpoch ?? options.epochs) {
      let r = try trainer.trainEpoch(train, epoch: epoch, progressLabel: options.progress.map { "\($0) \(epoch + 1)/\(options.epochs)" })
      let top1 = try test.map { try Evaluation.evaluate(network, loader: $0).top1 }
      let e = EpochResult(epoch: epoch + 1, train: r, testTop1: top1)
      result.epochs.append(e)
      if let path = options.checkpoint {
        if let session { try session.saveCheckpoint(trainer, to: path, architecture: model.source.architectureName) } else {
          try trainer.save(to: path, attributes: model.source.architectureName.map { ["architecture": $0] } ?? [:])
        }
      }
      onEpoch?(e)
    }
    if (options.stopAfterEpoch ?? options.epochs) >= options.epochs { session?.finish() }
    result.seconds = monotonicSeconds() - start
    return result
  }
}
