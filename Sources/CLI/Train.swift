import ArgumentParser
import Datasets
import Foundation
import Layers
import QAT
import TensorCore
import Training

/// The options `qat train` and `qat finetune` share.
struct TrainingOptions: ParsableArguments {
  @Option(help: "Training images: a folder of class subfolders.") var data: String
  @Option(help: "Test images (class subfolders), evaluated after every epoch.") var testData: String?
  @Option var epochs = 10
  @Option var batchSize = 128
  @Option(help: "sgd or adam.") var optimizer = "sgd"
  @Option var learningRate: Float = 0.01
  @Option var momentum: Float = 0.9
  @Option var weightDecay: Float = 1e-4
  @Option(help: "Learning-rate schedule: cosine or constant.") var schedule = "cosine"
  @Option(help: "crop-flip (random crop with 4 pixels of padding + horizontal flip), flip or none.") var augmentation = "crop-flip"
  @Option(help: "Seed of the data order, augmentation and (from scratch) initial weights.") var seed: UInt64 = 0
  @Option(help: "QAT: freeze batch-norm statistics after this fraction of the steps (freeze_bn_stats).") var freezeBnAt: Double?
  @Option(help: "QAT: weight formats stop following the weights after this fraction of the steps.") var freezeRangesAt = 0.9
  @Option(help: "QAT range learning: none, tqt (learned fix positions) or lsq.") var rangeLearning = "tqt"
  @Option(help: "Knowledge distillation from the float model: share of the distillation term (0: off).") var distillWeight: Float = 0
  @Option var distillTemperature: Float = 4
  @Option(help: "Checkpoint written after every epoch.") var checkpoint: String?
  @Flag(help: "Continue from --checkpoint if it exists (bitwise as if never interrupted).") var resume = false
  @Option(help: "Stop after this epoch (resume later with --resume; for runs split across jobs).") var stopAfterEpoch: Int?
  @Option(help: "Where the trained model goes: float weights (.h5) or ONNX (.onnx), or the quantized-model directory of a QAT run.") var output: String?
  @Flag(help: "QAT even when nodes have no integer form in the deploy format (fake-quant evaluation only).") var skipExportCheck = false
  @Flag(help: "Print one JSON object per epoch and one at the end.") var json = false

  func validate() throws {
    guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
    try requireOption("--batch-size", batchSize, in: 1...maxBatchSize)
    guard learningRate > 0, learningRate.isFinite, momentum >= 0, weightDecay >= 0 else {
      throw ValidationError("--learning-rate must be positive, --momentum and --weight-decay non-negative")
    }
    guard TrainingRun.OptimizerKind(rawValue: optimizer) != nil else { throw ValidationError("--optimizer '\(optimizer)': expected sgd or adam") }
    guard RecipeSupport.scheduleNames.contains(schedule) else {
      throw ValidationError("--schedule '\(schedule)': expected one of \(RecipeSupport.scheduleNames.joined(separator: ", "))")
    }
    guard ["crop-flip", "flip", "none"].contains(augmentation) else { throw ValidationError("--augmentation '\(augmentation)': expected crop-flip, flip or none") }
    guard QuantSpec.Learning(rawValue: rangeLearning) != nil else { throw ValidationError("--range-learning '\(rangeLearning)': expected none, tqt or lsq") }
    if let f = freezeBnAt, !(0...1).contains(f) { throw ValidationError("--freeze-bn-at must lie in [0, 1], got \(f)") }
    guard (0...1).contains(freezeRangesAt) else { throw ValidationError("--freeze-ranges-at must lie in [0, 1], got \(freezeRangesAt)") }
    guard (0...1).contains(distillWeight), distillTemperature > 0 else { throw ValidationError("--distill-weight must lie in [0, 1] and --distill-temperature be positive") }
    if resume && checkpoint == nil { throw ValidationError("--resume needs --checkpoint") }
    if let s = stopAfterEpoch, s < 1 || checkpoint == nil { throw ValidationError("--stop-after-epoch needs a positive epoch and --checkpoint") }
  }

  func runOptions() -> TrainingRun.Options {
    var o = TrainingRun.Options()
    (o.epochs, o.optimizer, o.learningRate, o.momentum) = (epochs, TrainingRun.OptimizerKind(rawValue: optimizer)!, learningRate, momentum)
    (o.weightDecay, o.schedule, o.freezeBNAt, o.freezeRangesAt) = (weightDecay, schedule, freezeBnAt, freezeRangesAt)
    (o.rangeLearning, o.distillWeight, o.distillTemperature) = (QuantSpec.Learning(rawValue: rangeLearning)!, distillWeight, distillTemperature)
    (o.checkpoint, o.resume, o.stopAfterEpoch, o.allowUnexportable) = (checkpoint, resume, stopAfterEpoch, skipExportCheck)
    return o
  }

  /// The training loader: the model's preprocessing after the chosen augmentation.
  func loader(_ preprocessing: Preprocessing, inputShape: Shape?) throws -> DataLoader {
    let side = inputShape.flatMap { $0.rank == 3 && $0[1] == $0[2] ? $0[1] : nil }
    let aug: Augmentation? = switch augmentation {
    case "crop-flip": side.map { Augmentation(randomCrop: $0, padding: 4, horizontalFlip: true) } ?? Augmentation(flipProbability: 0.5)
    case "flip": Augmentation(flipProbability: 0.5)
    default: nil
    }
    return try CIFARData.trainingLoader(directory: data, batchSize: batchSize, seed: seed, augmentation: aug, preprocessing: preprocessing)
  }

  /// Runs the training, reporting every epoch, and writes the result.
  func execute(_ run: inout TrainingRun, _ loaded: LoadedModel, _ preprocessing: Preprocessing) throws {
    run.test = try testData.map { try CIFARData.evaluationLoader(directory: $0, preprocessing: preprocessing) }
    if !json { run.options.progress = "epoch" } else { run.options.progress = nil }
    let json = self.json
    run.onEpoch = { e in
      var fields: [String: Any] = ["epoch": e.epoch, "train_loss": RecipeSupport.round3(e.train.meanLoss),
                                   "train_accuracy": RecipeSupport.round3(e.train.trainAccuracy), "learning_rate": e.train.learningRate,
                                   "epoch_seconds": RecipeSupport.round3(e.train.seconds), "images_per_s": RecipeSupport.round3(e.train.imagesPerSecond)]
      if let t = e.testTop1 { fields["test_top1"] = t }
      if json { try? printJSON(fields) } else {
        print("epoch \(e.epoch): loss \(String(format: "%.4f", e.train.meanLoss)), train \(String(format: "%.2f", e.train.trainAccuracy)) %"
              + (e.testTop1.map { ", test \(String(format: "%.2f", $0)) %" } ?? ""))
      }
    }
    if let output, output.lowercased().hasSuffix(".onnx"), run.model.quantized != nil || run.quantization != nil {
      throw ValidationError("--output \(output): a QAT run writes a quantized-model directory (then qat export), not a float ONNX file")
    }
    let result = try run.run()
    if let output {
      if let q = result.quantized {
        try ModelStore.saveQuantized(q, source: loaded.source, preprocessing: preprocessing, to: output)
      } else {
        try ModelStore.saveFloat(result.model, source: loaded.source, to: output)
      }
    }
    let summary: [String: Any] = ["epochs": run.options.epochs, "resumed_at_epoch": result.resumedAtEpoch ?? 0,
                                  "quantized": result.quantized != nil, "seconds": RecipeSupport.round3(result.seconds),
                                  "final_test_top1": result.epochs.last?.testTop1 ?? NSNull(), "output": output ?? NSNull()]
    if json { try printJSON(summary) } else { print("trained in \(String(format: "%.1f", result.seconds)) s" + (output.map { " -> \($0)" } ?? "")) }
  }
}

/// Calibration images for QAT from a float model.
struct CalibrationOptions: ParsableArguments {
  @Option(help: "Calibration images: a folder of images or of class subfolders.") var calibrationDirectory: String?
  @Option(help: "A list of calibration images (path[<TAB>label] per line).") var calibrationList: String?
  @Option(help: "Number of calibration images drawn at random from the directory.") var calibrationSize: Int?
  @Option(help: "Seed for drawing calibration images.") var calibrationSeed: UInt64?

  func batches(_ preprocessing: Preprocessing) throws -> [Tensor] {
    let data = CalibrationData(directory: calibrationDirectory, listFile: calibrationList, size: calibrationSize, seed: calibrationSeed)
    var it = try data.loader(preprocessing: preprocessing, batchSize: 128).batches(epoch: 0)
    var out: [Tensor] = []
    while let b = try it.next() { out.append(b.images) }
    return out
  }
}

struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train any model on an image folder: in float (from scratch with --arch, or from weights), or with --quantize as QAT.")

  @Option(help: "The model: ONNX (.onnx), float weights (.h5), a quantized-model directory (fine-tuned), or omitted with --arch to start from scratch.")
  var model: String?
  @Option(help: "Built-in architecture (\(Architecture.allCases.map(\.rawValue).joined(separator: ", "))): from scratch without --model, or of .h5 weights.")
  var arch: String?
  @Flag(help: "Quantization-aware training (the quantization options apply; calibration images needed from a float model).") var quantize = false
  @OptionGroup var training: TrainingOptions
  @OptionGroup var calibration: CalibrationOptions
  @OptionGroup var quantization: QuantizationOptions
  @OptionGroup var input: InputOptions
  @OptionGroup var common: CommonOptions

  func run() throws {
    try common.apply()
    let (loaded, preprocessing) = try TrainCommand.load(model: model, arch: arch, seed: training.seed, input: input)
    var run = TrainingRun(model: loaded, train: try training.loader(preprocessing, inputShape: loaded.model.inputShape()))
    run.options = training.runOptions()
    if quantize && loaded.quantized == nil {
      run.quantization = try quantization.makeConfig()
      run.calibration = try calibration.batches(preprocessing)
    }
    if run.options.distillWeight > 0 {
      guard loaded.quantized == nil, quantize else { throw ValidationError("--distill-weight distills the float model into its QAT model: add --quantize to a float model") }
      run.teacher = try TrainCommand.load(model: model, arch: arch, seed: training.seed, input: input).0.model
    }
    try training.execute(&run, loaded, preprocessing)
  }
}

/// `qat finetune`: QAT from a float model or fine-tuning of a PTQ (quantized) model directory.
struct Finetune: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Quantization-aware fine-tuning: of a float model (prepared and calibrated first) or of a quantized-model directory from qat quantize.")

  @Option(help: "A float model (.onnx, .h5) or a quantized-model directory.") var model: String
  @Option(help: "Built-in architecture of .h5 weights.") var arch: String?
  @OptionGroup var training: TrainingOptions
  @OptionGroup var calibration: CalibrationOptions
  @OptionGroup var quantization: QuantizationOptions
  @OptionGroup var input: InputOptions
  @OptionGroup var common: CommonOptions

  func run() throws {
    try common.apply()
    let (loaded, preprocessing) = try input.load(model, architecture: arch)
    var run = TrainingRun(model: loaded, train: try training.loader(preprocessing, inputShape: loaded.model.inputShape()))
    run.options = training.runOptions()
    if loaded.quantized == nil {
      run.quantization = try quantization.makeConfig()
      run.calibration = try calibration.batches(preprocessing)
    }
    if run.options.distillWeight > 0 {
      guard loaded.quantized == nil else { throw ValidationError("--distill-weight needs the float model as the teacher: start from it") }
      run.teacher = try input.load(model, architecture: arch).0.model
    }
    try training.execute(&run, loaded, preprocessing)
  }
}

enum TrainCommand {
  /// The model to train: a file, or a built-in architecture from scratch.
  static func load(model: String?, arch: String?, seed: UInt64, input: InputOptions) throws -> (LoadedModel, Preprocessing) {
    if let model { return try input.load(model, architecture: arch) }
    guard let arch else { throw ValidationError("pass --model (a file) or --arch (a built-in architecture, trained from scratch)") }
    let a = try Architecture.named(arch)
    let loaded = LoadedModel(model: try a.make(seed: seed), quantized: nil, source: .architecture(a), preprocessing: nil)
    let p = try input.choice().resolve(recorded: nil, source: loaded.source, inputShape: loaded.model.inputShape())
    return (loaded, p)
  }
}
