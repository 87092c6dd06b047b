// Quantization-aware training of a CIFAR network (ResNet-20 by default; any .h5 with its
// architecture, a swift-qat checkpoint or an ONNX file) with power-of-two per-tensor formats (DPU
// style), first conv and last linear layer at 8 bits. Calibrates on the 512-image list, trains on
// the JPEG training set, evaluates the fake-quant model every epoch, then folds BN, exports and
// checks the integer simulator against the fake-quant model.
//
//   swift run -c release cifar10-qat --weight-bit 4 --activation-bit 4 --unsigned-activations --weights runs/resnet20_finetuned.h5
//   swift run -c release cifar10-qat --reference     # PyTorch comparison: W8A8, 1 epoch, lr 1e-3
import ArgumentParser
import Autograd
import Datasets
import Export
import Foundation
import Layers
import QAT
import Simulator
import TensorCore
import Training

struct QATRecipe: ParsableCommand {
  @Option(help: "Shared data root (default $QAT_DATA or ../shared).") var dataRoot: String?
  @Option(help: "Float model to start from: .h5 weights (default <data root>/models/resnet20.h5), a swift-qat checkpoint or an ONNX file.")
  var weights: String?
  @Option(help: "Built-in architecture of .h5 weights (default: the file's 'architecture' attribute).") var arch: String?
  @Flag(help: "Replace ReLU6 by ReLU before cross-layer equalization (replace_relu6).") var replaceRelu6 = false
  @Option(help: "Weight and bias bits (vai_q weight_bit; default 8).") var weightBit: Int?
  @Option(help: "Activation bits (vai_q activation_bit; default 8).") var activationBit: Int?
  @Option(help: "xfDNN bitwidths: activations,parameters (e.g. 4,4), as `qat quantize --bitwidths`.") var bitwidths: String?
  @Option(help: "Bits of the first conv (0 keeps the global widths).") var firstLayerBit = 8
  @Option(help: "Bits of the last layer (0 keeps the global widths).") var lastLayerBit = 8
  @Option(help: "Bias bits (default: max(8, weight bits), as DPU biases stay 8-bit under low-bit weights).")
  var biasBit: Int?
  @Option(help: "Bits of the residual branches, the conv outputs that only residual adds read (default: the activation bits; low-bit papers keep them in float).")
  var residualBit: Int?
  // Spellings of earlier versions, refused with what to write instead.
  @Option(help: .hidden) var bits: String?
  @Option(help: .hidden) var endBits: Int?
  @Option(help: .hidden) var biasBits: Int?
  @Option(help: .hidden) var residualBits: Int?
  @Option(help: "Calibration method.") var method = "min-diffs"
  @Flag(help: "Unsigned formats after ReLU (one more level; TIDL style). Default: signed, as the DPU.")
  var unsignedActivations = false
  @Flag(help: "Cross-layer equalization of the float model before calibration (vai_q include_cle).") var includeCle = false
  @Option(help: "Range learning: none, tqt (learned fix positions) or lsq.") var rangeLearning = "tqt"
  @Option var seed: UInt64 = 0
  @Option var epochs = 15
  @Option var batchSize = 128
  @Option var learningRate: Float = 0.002
  @Option var momentum: Float = 0.9
  @Option var weightDecay: Float = 1e-4
  @Option(help: "cosine or constant") var schedule = "cosine"
  @Option(help: "Learning-rate multiplier of the range parameters.") var rangeLearningRateScale: Float = 1
  @Option(help: "Freeze BN statistics after this fraction of the steps (freeze_bn_stats; 0 uses the running statistics from the start, which measured best at 4 bits).")
  var freezeBNAt = 0.0
  @Option(help: "Freeze weight formats after this fraction of the steps.") var freezeRangesAt = 0.9
  @Option(help: "Knowledge distillation from the float model: share of the distillation term in the loss (0 = off).")
  var distillWeight: Float = 0
  @Option(help: "Distillation temperature.") var distillTemperature: Float = 4
  @Option var threads = 2
  @Option(help: "Test images for the simulator check and its accuracy.") var simulateImages = 10_000
  @Option(help: "Write the quantized model here.") var outputDir: String?
  @Flag(help: "The one-epoch comparison with PyTorch: SGD lr 1e-3 constant, momentum 0.9, no weight decay (W8A8 by default).")
  var reference = false

  func validate() throws {
    do { try RecipeSupport.refuseRemovedOptions(bits: bits, endBits: endBits, biasBits: biasBits, residualBits: residualBits) } catch {
      throw ValidationError("\(error)")
    }
    guard RecipeSupport.scheduleNames.contains(schedule) else {
      throw ValidationError("--schedule '\(schedule)': expected one of \(RecipeSupport.scheduleNames.joined(separator: ", "))")
    }
  }

  /// The configuration from --bitwidths / --weight-bit / --activation-bit and the per-role widths.
  func makeConfig() throws -> QuantizationConfig {
    var config = QuantizationConfig()
    if let bitwidths { try config.apply(bitwidths: bitwidths) }
    for (option, value, current) in [("--weight-bit", weightBit, config.weightBit), ("--activation-bit", activationBit, config.activationBit)] {
      if let value, bitwidths != nil, value != current { throw ValidationError("\(option) \(value) contradicts --bitwidths \(bitwidths!)") }
    }
    config.weightBit = weightBit ?? config.weightBit
    config.activationBit = activationBit ?? config.activationBit
    guard let calibration = CalibrationMethod.named(method) else {
      throw ValidationError("--method '\(method)': expected one of \(CalibrationMethod.names.joined(separator: ", "))")
    }
    config.method = calibration
    config.biasBit = biasBit ?? max(8, config.weightBit)
    config.unsignedActivations = unsignedActivations
    config.residualBit = residualBit
    if firstLayerBit > 0 { config.firstLayerBit = firstLayerBit }
    if lastLayerBit > 0 { config.lastLayerBit = lastLayerBit }
    try config.validate()
    return config
  }

  mutating func run() throws {
    if reference {
      (epochs, learningRate, weightDecay, schedule, rangeLearning) = (1, 1e-3, 0, "constant", "none")
      (freezeBNAt, freezeRangesAt) = (1.0, 1.0)
    }
    Threading.configure(threads: threads)
    let root = RecipeSupport.dataRoot(dataRoot)
    guard !replaceRelu6 || includeCle else { throw ValidationError("--replace-relu6 is part of cross-layer equalization: add --include-cle") }
    guard let learning = QuantSpec.Learning(rawValue: rangeLearning) else {
      throw ValidationError("--range-learning '\(rangeLearning)': expected none, tqt or lsq")
    }
    let config = try makeConfig()
    let weightsPath = weights ?? root + "/models/resnet20.h5"
    RecipeSupport.report("config", ["recipe": "cifar10-qat", "seed": seed, "weights": weightsPath, "replace_relu6": replaceRelu6, "weight_bit": config.weightBit,
                                    "activation_bit": config.activationBit, "first_layer_bit": config.firstLayerBit ?? 0,
                                    "last_layer_bit": config.lastLayerBit ?? 0, "bias_bit": config.biasBit ?? config.weightBit,
                                    "residual_bit": config.residualBit ?? config.activationBit,
                                    "unsigned_activations": unsignedActivations, "include_cle": includeCle, "method": method, "range_learning": rangeLearning, "epochs": epochs,
                                    "batch_size": batchSize, "learning_rate": learningRate, "momentum": momentum,
                                    "weight_decay": weightDecay, "schedule": schedule, "freeze_bn_at": freezeBNAt,
                                    "freeze_ranges_at": freezeRangesAt, "distill_weight": distillWeight,
                                    "distill_temperature": distillTemperature, "threads": threads, "scheme": "power-of-two per tensor"])
    let loaded = try ModelStore.load(weightsPath, architecture: arch)
    guard loaded.quantized == nil else { throw ValidationError("\(weightsPath) is already quantized; start from a float model") }
    let float = loaded.model
    let test = try CIFARData.evaluationLoader(directory: root + "/data/cifar10/test")
    let floatTop1 = try Evaluation.evaluate(float, loader: test).top1
    if includeCle {
      var options = CrossLayerEqualization.Options()
      options.replaceReLU6 = replaceRelu6
      let cle = CrossLayerEqualization.run(float, options)
      let equalizedTop1 = try Evaluation.evaluate(float, loader: test).top1
      RecipeSupport.report("cle", ["pairs": cle.pairs.count, "rounds": cle.rounds, "replaced_relu6": cle.replacedReLU6.count,
                                   "absorbed_layers": cle.absorbed.count, "float_top1_after": equalizedTop1])
    }
    let session = try QATSession(model: float, config: config)
    let unsupported = Exporter.unsupportedNodes(session.quantized)
    guard unsupported.isEmpty else {
      throw ValidationError("no exact integer form in the deploy format (the recipe exports at the end): "
                            + unsupported.map { "\($0.node): \($0.reason)" }.joined(separator: "; "))
    }
    var calib: [Tensor] = []
    var it = try CalibrationData(listFile: root + "/data/cifar10_calibration_512.txt").loader(preprocessing: .cifarResNet20).batches(epoch: 0)
    while let b = try it.next() { calib.append(b.images) }
    try session.calibrate(calib)
    if learning != .none { try session.enableRangeLearning(learning) }
    let start = try Evaluation.evaluate(session.model, loader: test)
    RecipeSupport.report("eval", ["epoch": 0, "fake_quant_top1": start.top1, "float_top1": floatTop1])

    let train = try CIFARData.trainingLoader(directory: root + "/data/cifar10/train", batchSize: batchSize, seed: seed)
    let steps = epochs * train.batchCount
    let lrSchedule = try RecipeSupport.learningRateSchedule(schedule, base: learningRate, totalSteps: steps)
    let optimizer = SGD(session.parameterGroups(weightDecay: weightDecay, rangeLearningRateScale: rangeLearningRateScale),
                        learningRate: learningRate, momentum: momentum)
    session.freezeBatchNormStep = freezeBNAt < 1 ? Int(Double(steps) * freezeBNAt) : nil
    session.freezeRangesStep = Int(Double(steps) * freezeRangesAt)
    let trainer = session.trainer(optimizer: optimizer, schedule: lrSchedule)
    if distillWeight > 0 {
      // A separate copy: the session's model shares nothing with the teacher.
      let teacher = try ModelStore.load(weightsPath, architecture: arch).model
      trainer.distillation = try Distillation(teacher: teacher, weight: distillWeight, temperature: distillTemperature)
    }
    let t0 = monotonicSeconds()
    for epoch in 0..<epochs {
      let r = try trainer.trainEpoch(train, epoch: epoch, progressLabel: "QAT epoch \(epoch + 1)")
      let e = try Evaluation.evaluate(session.model, loader: test)
      RecipeSupport.report("epoch", ["epoch": epoch + 1, "train_loss": RecipeSupport.round3(r.meanLoss),
                                     "train_accuracy": RecipeSupport.round3(r.trainAccuracy), "fake_quant_top1": e.top1,
                                     "learning_rate": r.learningRate, "epoch_seconds": RecipeSupport.round3(r.seconds)])
    }
    session.finish()
    let deploy = NSTemporaryDirectory() + "cifar10-qat-deploy-\(ProcessInfo.processInfo.processIdentifier)"
    try Exporter.export(session.quantized, to: deploy)
    let fakeQuant = try Evaluation.evaluate(session.model, loader: test)
    let sim = try Simulator(directory: deploy)
    let simTest = try CIFARData.evaluationLoader(directory: root + "/data/cifar10/test", limit: simulateImages, batchSize: 100)
    var check = BitExactReport()
    var b = simTest.batches(epoch: 0)
    while let batch = try b.next() { check.merge(try BitExactCheck.compare(session.quantized, sim, batch: batch.images)) }
    let simulated = try Evaluation.evaluate(loader: simTest) { try sim($0) }
    RecipeSupport.report("result", ["recipe": "cifar10-qat", "weight_bit": config.weightBit, "activation_bit": config.activationBit,
                                    "float_top1": floatTop1, "ptq_top1": start.top1,
                                    "fake_quant_top1": fakeQuant.top1, "simulator_top1": simulated.top1,
                                    "simulated_images": simulated.images, "mismatched_tensors": check.mismatchedTensors.count,
                                    "max_lsb_diff": check.maxLSBDifference, "tensors_compared": check.tensorsCompared,
                                    "train_seconds": RecipeSupport.round3(monotonicSeconds() - t0), "seed": seed])
    if let outputDir { try ModelStore.saveQuantized(session.quantized, source: loaded.source, preprocessing: nil, to: outputDir) }
    try? FileManager.default.removeItem(atPath: deploy)
  }
}

QATRecipe.main()
