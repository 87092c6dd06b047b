import Datasets
import Foundation
import Layers
import TensorCore

/// Float training from scratch on the CIFAR-10 JPEG training images (the cifar10-train and
/// cifar10-mobilenet recipes): SGD with momentum and weight decay, a cosine schedule, random crop
/// + flip, an evaluation on the test images after every epoch, a checkpoint after every epoch
/// that a rerun resumes from, and the final weights as HDF5.
public struct FloatTrainingRecipe {
  public var recipe: String
  public var architecture: Architecture
  public var dataRoot: String
  public var seed: UInt64 = 0
  public var epochs = 5
  public var batchSize = 128
  public var learningRate: Float = 0.1
  public var momentum: Float = 0.9
  public var weightDecay: Float = 1e-4
  public var threads = 2
  public var checkpoint: String?
  public var output: String?
  /// The final model as ONNX as well.
  public var onnx: String?

  public init(recipe: String, architecture: Architecture, dataRoot: String) {
    (self.recipe, self.architecture, self.dataRoot) = (recipe, architecture, dataRoot)
  }

  public func run() throws {
    Threading.configure(threads: threads)
    RecipeSupport.report("config", ["recipe": recipe, "architecture": architecture.rawValue, "seed": seed, "epochs": epochs,
                                    "batch_size": batchSize, "learning_rate": learningRate, "momentum": momentum,
                                    "weight_decay": weightDecay, "schedule": "cosine",
                                    "augmentation": "random crop 32 pad 4 + horizontal flip", "threads": threads, "data_root": dataRoot])
    let model = try architecture.make(seed: seed)
    let train = try CIFARData.trainingLoader(directory: dataRoot + "/data/cifar10/train", batchSize: batchSize, seed: seed)
    let test = try CIFARData.evaluationLoader(directory: dataRoot + "/data/cifar10/test")
    let optimizer = SGD(model.parameters, learningRate: learningRate, momentum: momentum, weightDecay: weightDecay)
    let trainer = Trainer(model: model, optimizer: optimizer,
                          schedule: CosineSchedule(base: learningRate, totalSteps: epochs * train.batchCount))
    var first = 0
    if let checkpoint, FileManager.default.fileExists(atPath: checkpoint) {
      try trainer.resume(from: checkpoint)
      first = trainer.step / train.batchCount
      RecipeSupport.report("resume", ["checkpoint": checkpoint, "step": trainer.step, "epoch": first])
    }
    let t0 = monotonicSeconds()
    let attributes = ["architecture": architecture.rawValue]
    for epoch in first..<epochs {
      let r = try trainer.trainEpoch(train, epoch: epoch, progressLabel: "epoch \(epoch + 1)")
      let e = try Evaluation.evaluate(model, loader: test)
      RecipeSupport.report("epoch", ["epoch": epoch + 1, "train_loss": RecipeSupport.round3(r.meanLoss),
                                     "train_accuracy": RecipeSupport.round3(r.trainAccuracy), "test_top1": e.top1,
                                     "learning_rate": r.learningRate, "epoch_seconds": RecipeSupport.round3(r.seconds),
                                     "images_per_s": RecipeSupport.round3(r.imagesPerSecond)])
      if let checkpoint { try trainer.save(to: checkpoint, attributes: attributes) }
    }
    let final = try Evaluation.evaluate(model, loader: test)
    RecipeSupport.report("result", ["recipe": recipe, "architecture": architecture.rawValue, "final_top1": final.top1, "epochs": epochs,
                                    "wall_seconds": RecipeSupport.round3(monotonicSeconds() - t0), "seed": seed])
    if let output { try Checkpoint.save(model, attributes: attributes, to: output) }
    if let onnx { try ModelStore.saveONNX(model, source: .architecture(architecture), to: onnx) }
  }
}
