import Autograd
import Datasets
import Layers
import TensorCore

/// Figures of one training epoch.
public struct EpochReport: Sendable, Codable {
  public var epoch: Int
  public var steps: Int
  public var images: Int
  public var meanLoss: Double
  /// Top-1 accuracy on the (augmented) training batches, percent.
  public var trainAccuracy: Double
  public var learningRate: Float
  public var seconds: Double
  public var imagesPerSecond: Double { seconds > 0 ? Double(images) / seconds : 0 }
}

/// A frozen teacher model for knowledge distillation (e.g. the float model teaching its
/// low-bit quantized copy).
public struct Distillation {
  public let teacher: Model
  /// Share of the distillation term in the loss, in [0, 1].
  public let weight: Float
  public let temperature: Float

  public init(teacher: Model, weight: Float = 0.5, temperature: Float = 4) throws {
    guard (0...1).contains(weight) else { throw TrainingError("distillation weight must be in [0, 1], got \(weight)") }
    guard temperature > 0, temperature.isFinite else {
      throw TrainingError("distillation temperature must be positive, got \(temperature)")
    }
    (self.teacher, self.weight, self.temperature) = (teacher, weight, temperature)
  }

  /// Teacher logits for a batch: inference phase, nothing recorded.
  public func teacherLogits(_ images: Tensor) -> Tensor {
    let previous = teacher.phase
    teacher.setPhase(.inference)
    defer { teacher.setPhase(previous) }
    return teacher.withoutGradients { teacher(images).detached }
  }
}

/// A supervised classification training loop: softmax cross-entropy, an optimizer and a
/// learning-rate schedule indexed by the global step. Deterministic given the loader's seed.
public final class Trainer {
  public let model: Model
  public let optimizer: any Optimizer
  public let schedule: any LearningRateSchedule
  /// Optimizer steps taken so far (also the schedule's position).
  public private(set) var step = 0
  public var labelSmoothing: Float = 0
  /// Global gradient-norm clipping when set.
  public var clipNorm: Float?
  /// Knowledge distillation: when set, the loss is (1 − weight) · cross-entropy + weight ·
  /// T² · cross-entropy against the teacher's softened outputs. The teacher runs in inference
  /// phase without recording; its parameters never change.
  public var distillation: Distillation?
  /// Called after each optimizer step (e.g. to freeze batch-norm statistics at a given step); an
  /// error it throws ends the epoch with that error.
  public var afterStep: ((Int) throws -> Void)?

  public init(model: Model, optimizer: any Optimizer, schedule: any LearningRateSchedule) {
    self.model = model
    self.optimizer = optimizer
    self.schedule = schedule
  }

  /// One pass over the loader's batches of `epoch`.
  public func trainEpoch(_ loader: DataLoader, epoch: Int, progressLabel: String? = nil) throws -> EpochReport {
    model.setPhase(.training)
    let start = monotonicSeconds()
    var report = EpochReport(epoch: epoch, steps: 0, images: 0, meanLoss: 0, trainAccuracy: 0, learningRate: 0, seconds: 0)
    var lossSum = 0.0, correct = 0
    let bar = progressLabel.map { ProgressBar(total: loader.batchCount, label: $0, unit: "step") }
    var batches = loader.batches(epoch: epoch)
    while let batch = try batches.next() {
      try model.validate(input: batch.images)
      optimizer.learningRate = schedule.learningRate(at: step)
      report.learningRate = optimizer.learningRate
      var logitsValue = Tensor.zeros([1])
      let teacherLogits = distillation?.teacherLogits(batch.images)
      var (loss, grads) = valueWithGradients {
        let logits = model(batch.images)
        logitsValue = logits.detached
        let hard = logits.softmaxCrossEntropy(labels: batch.labels, labelSmoothing: labelSmoothing)
        guard let distillation, let teacherLogits else { return hard }
        let soft = logits.distillationLoss(teacherLogits: teacherLogits, temperature: distillation.temperature)
        return hard * (1 - distillation.weight) + soft * distillation.weight
      }
      guard loss.scalar.isFinite else {
        throw TrainingError("loss became \(loss.scalar) at step \(step) (epoch \(epoch)); lower the learning rate")
      }
      if let clipNorm { clipGradientNorm(&grads, maxNorm: clipNorm) }
      optimizer.update(grads)
      step += 1
      try afterStep?(step)
      lossSum += Double(loss.scalar) * Double(batch.labels.count)
      correct += zip(logitsValue.argmax(axis: 1), batch.labels).filter { $0 == $1 }.count
      report.steps += 1
      report.images += batch.labels.count
      if let bar {
        let seen = Double(report.images), rate = seen / max(monotonicSeconds() - start, 1e-9)
        bar.update(completed: report.steps, detail: "loss " + String(format: "%.3f", lossSum / seen) + " acc "
                   + String(format: "%.1f", 100 * Double(correct) / seen) + "% " + String(format: "%.0f", rate) + " img/s")
      }
      loss = Tensor.zeros([1])
    }
    bar?.finish()
    report.meanLoss = report.images > 0 ? lossSum / Double(report.images) : 0
    report.trainAccuracy = report.images > 0 ? 100 * Double(correct) / Double(report.images) : 0
    report.seconds = monotonicSeconds() - start
    return report
  }

  /// Saves model, optimizer state and step (atomically).
  public func save(to path: String, state: [String: Tensor] = [:], attributes: [String: String] = [:]) throws {
    try Checkpoint.save(model, optimizer: optimizer, step: step, state: state, attributes: attributes, to: path)
  }

  /// Restores model, optimizer state and step; training continues bitwise as if uninterrupted.
  @discardableResult
  public func resume(from path: String, stateKeys: [String] = []) throws -> Checkpoint.Contents {
    let contents = try Checkpoint.load(into: model, optimizer: optimizer, from: path, stateKeys: stateKeys)
    step = contents.step
    return contents
  }
}
