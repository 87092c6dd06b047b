// Trains CIFAR ResNet-20 from scratch on the CIFAR-10 JPEG training images:
// SGD 0.1, momentum 0.9, weight decay 1e-4, cosine schedule, batch 128, random crop + flip.
//
//   swift run -c release cifar10-train --epochs 5
import ArgumentParser
import Datasets
import Layers
import TensorCore
import Training

struct Train: ParsableCommand {
  @Option(help: "Shared data root (default $QAT_DATA or ../shared).") var dataRoot: String?
  @Option var seed: UInt64 = 0
  @Option var epochs = 5
  @Option var batchSize = 128
  @Option var learningRate: Float = 0.1
  @Option var momentum: Float = 0.9
  @Option var weightDecay: Float = 1e-4
  @Option var threads = 2
  @Option(help: "Checkpoint after every epoch (and resume from it if it exists).") var checkpoint: String?
  @Option(help: "Write the final weights here (.h5).") var output: String?

  func run() throws {
    Threading.configure(threads: threads)
    let root = RecipeSupport.dataRoot(dataRoot)
    RecipeSupport.report("config", ["recipe": "cifar10-train", "seed": seed, "epochs": epochs, "batch_size": batchSize,
                                    "learning_rate": learningRate, "momentum": momentum, "weight_decay": weightDecay,
                                    "schedule": "cosine", "augmentation": "random crop 32 pad 4 + horizontal flip",
                                    "threads": threads, "data_root": root])
    let model = try Architecture.resnet20.make(seed: seed)
    let train = try CIFARData.trainingLoader(directory: root + "/data/cifar10/train", batchSize: batchSize, seed: seed)
    let test = try CIFARData.evaluationLoader(directory: root + "/data/cifar10/test")
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
    for epoch in first..<epochs {
      let r = try trainer.trainEpoch(train, epoch: epoch, progressLabel: "epoch \(epoch + 1)")
      let e = try Evaluation.evaluate(model, loader: test)
      RecipeSupport.report("epoch", ["epoch": epoch + 1, "train_loss": RecipeSupport.round3(r.meanLoss),
                                     "train_accuracy": RecipeSupport.round3(r.trainAccuracy), "test_top1": e.top1,
                                     "learning_rate": r.learningRate, "epoch_seconds": RecipeSupport.round3(r.seconds),
                                     "images_per_s": RecipeSupport.round3(r.imagesPerSecond)])
      if let checkpoint { try trainer.save(to: checkpoint, attributes: ["architecture": "resnet20"]) }
    }
    let final = try Evaluation.evaluate(model, loader: test)
    RecipeSupport.report("result", ["recipe": "cifar10-train", "final_top1": final.top1, "epochs": epochs,
                                    "wall_seconds": RecipeSupport.round3(monotonicSeconds() - t0), "seed": seed])
    if let output { try Checkpoint.save(model, attributes: ["architecture": "resnet20"], to: output) }
  }
}

import Foundation
Train.main()
