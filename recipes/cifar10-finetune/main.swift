// Fine-tunes the pretrained CIFAR ResNet-20 on the CIFAR-10 JPEG training images, evaluating on
// the JPEG test set after every epoch.
//
//   swift run -c release cifar10-finetune                 # default: 10 epochs, SGD 0.01 cosine
//   swift run -c release cifar10-finetune --reference     # PyTorch comparison: 1 epoch, lr 1e-3 constant
import ArgumentParser
import Datasets
import Layers
import TensorCore
import Training

struct Finetune: ParsableCommand {
  @Option(help: "Shared data root (default $QAT_DATA or ../shared).") var dataRoot: String?
  @Option(help: "Pretrained weights (default <data root>/models/resnet20.h5).") var weights: String?
  @Option var seed: UInt64 = 0
  @Option var epochs = 10
  @Option var batchSize = 128
  @Option var learningRate: Float = 0.01
  @Option var momentum: Float = 0.9
  @Option var weightDecay: Float = 1e-4
  @Option(help: "cosine or constant") var schedule = "cosine"
  @Option var threads = 2
  @Option(help: "Write the fine-tuned weights here (.h5).") var output: String?
  @Flag(help: "The one-epoch recipe measured in PyTorch: SGD lr 1e-3 constant, momentum 0.9, no weight decay.")
  var reference = false

  func validate() throws {
    guard RecipeSupport.scheduleNames.contains(schedule) else {
      throw ValidationError("--schedule '\(schedule)': expected one of \(RecipeSupport.scheduleNames.joined(separator: ", "))")
    }
  }

  mutating func run() throws {
    if reference { (epochs, learningRate, weightDecay, schedule) = (1, 1e-3, 0, "constant") }
    Threading.configure(threads: threads)
    let root = RecipeSupport.dataRoot(dataRoot)
    RecipeSupport.report("config", ["recipe": "cifar10-finetune", "seed": seed, "epochs": epochs, "batch_size": batchSize,
                                    "learning_rate": learningRate, "momentum": momentum, "weight_decay": weightDecay,
                                    "schedule": schedule, "augmentation": "random crop 32 pad 4 + horizontal flip",
                                    "threads": threads, "data_root": root])
    let model = try Architecture.loadFloatModel(weights: weights ?? root + "/models/resnet20.h5", architecture: "resnet20")
    let train = try CIFARData.trainingLoader(directory: root + "/data/cifar10/train", batchSize: batchSize, seed: seed)
    let test = try CIFARData.evaluationLoader(directory: root + "/data/cifar10/test")
    let start = try Evaluation.evaluate(model, loader: test)
    RecipeSupport.report("eval", ["epoch": 0, "top1": start.top1, "images": start.images])
    let steps = epochs * train.batchCount
    let lrSchedule = try RecipeSupport.learningRateSchedule(schedule, base: learningRate, totalSteps: steps)
    let optimizer = SGD(model.parameters, learningRate: learningRate, momentum: momentum, weightDecay: weightDecay)
    let trainer = Trainer(model: model, optimizer: optimizer, schedule: lrSchedule)
    let t0 = monotonicSeconds()
    for epoch in 0..<epochs {
      let r = try trainer.trainEpoch(train, epoch: epoch, progressLabel: "epoch \(epoch + 1)")
      let e = try Evaluation.evaluate(model, loader: test)
      RecipeSupport.report("epoch", ["epoch": epoch + 1, "train_loss": RecipeSupport.round3(r.meanLoss),
                                     "train_accuracy": RecipeSupport.round3(r.trainAccuracy), "test_top1": e.top1,
                                     "learning_rate": r.learningRate, "epoch_seconds": RecipeSupport.round3(r.seconds),
                                     "images_per_s": RecipeSupport.round3(r.imagesPerSecond)])
    }
    let final = try Evaluation.evaluate(model, loader: test)
    RecipeSupport.report("result", ["recipe": "cifar10-finetune", "start_top1": start.top1, "final_top1": final.top1,
                                    "epochs": epochs, "wall_seconds": RecipeSupport.round3(monotonicSeconds() - t0), "seed": seed])
    if let output { try Checkpoint.save(model, attributes: ["architecture": "resnet20"], to: output) }
  }
}

Finetune.main()
