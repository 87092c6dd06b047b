import Autograd
import Datasets
import Layers
import TensorCore

/// Accuracy and loss of a classifier over a dataset.
public struct EvaluationResult: Sendable, Codable {
  public var images: Int
  public var correct: Int
  /// Mean softmax cross-entropy.
  public var loss: Double
  public var seconds: Double
  /// Top-1 accuracy in percent.
  public var top1: Double { images == 0 ? 0 : 100 * Double(correct) / Double(images) }
}

public enum Evaluation {
  /// Runs the model in inference mode over every batch (no autodiff tape) and counts correct
  /// top-1 predictions. The model's phase is restored afterwards.
  public static func evaluate(_ model: Model, loader: DataLoader, progressLabel: String? = nil) throws -> EvaluationResult {
    let previous = model.phase
    model.setPhase(.inference)
    defer { model.setPhase(previous) }
    return try model.withoutGradients {
      try evaluate(loader: loader, progressLabel: progressLabel) { x in
        try model.validate(input: x)
        return model(x)
      }
    }
  }

  /// Top-1 accuracy of any classifier `forward` (logits [batch, classes]) over the loader.
  public static func evaluate(loader: DataLoader, progressLabel: String? = nil,
                              forward: (Tensor) throws -> Tensor) throws -> EvaluationResult {
    let start = monotonicSeconds()
    var result = EvaluationResult(images: 0, correct: 0, loss: 0, seconds: 0)
    var lossSum = 0.0
    let bar = progressLabel.map { ProgressBar(total: loader.dataset.count, label: $0, unit: "img") }
    var batches = loader.batches(epoch: 0)
    while let batch = try batches.next() {
      let logits = try forward(batch.images)
      try checkFinite(logits, batch)
      let predictions = logits.argmax(axis: 1)
      result.correct += zip(predictions, batch.labels).filter { $0 == $1 }.count
      result.images += batch.labels.count
      lossSum += Double(logits.softmaxCrossEntropy(labels: batch.labels).scalar) * Double(batch.labels.count)
      bar?.update(completed: result.images)
    }
    bar?.finish()
    result.loss = result.images == 0 ? 0 : lossSum / Double(result.images)
    result.seconds = monotonicSeconds() - start
    return result
  }

  static func checkFinite(_ logits: Tensor, _ batch: Batch) throws {
    let bad = logits.scalars.firstIndex { !$0.isFinite }
    if let bad {
      let row = bad / max(1, logits.shape[1])
      throw TrainingError("non-finite output \(logits.scalars[bad]) for sample \(batch.indices[row]) of the dataset")
    }
  }
}

/// A failure during training or evaluation caused by data or configuration.
public struct TrainingError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Seconds on a monotonic clock.
public func monotonicSeconds() -> Double {
  var t = timespec()
  clock_gettime(CLOCK_MONOTONIC, &t)
  return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}
