import ArgumentParser
import Datasets
import Export
import Foundation
import Layers
import QAT
import Simulator
import TensorCore
import Training

/// Shared data for the quantization benchmarks: the pretrained ResNet-20 and its calibration images.
struct SharedModelData {
  let root: String
  init(_ option: String?) throws {
    root = option ?? ProcessInfo.processInfo.environment["QAT_DATA"] ?? "../shared"
    guard FileManager.default.fileExists(atPath: root + "/models/resnet20.h5") else {
      throw ValidationError("no pretrained model at \(root)/models/resnet20.h5 (set --data-root or QAT_DATA)")
    }
  }
  func model() throws -> Model { try Architecture.loadFloatModel(weights: root + "/models/resnet20.h5", architecture: "resnet20") }

  /// A float model file (.h5 with its architecture, a swift-qat checkpoint, .onnx), or the shared ResNet-20.
  func model(_ path: String?, arch: String?) throws -> Model {
    guard let path else { return try model() }
    return try ModelStore.load(path, architecture: arch).model
  }

  /// The 512 calibration images of cifar10_calibration_512.txt, decoded and preprocessed.
  func calibrationBatches(batchSize: Int) throws -> [Tensor] {
    let loader = try CalibrationData(listFile: root + "/data/cifar10_calibration_512.txt").loader(preprocessing: .cifarResNet20, batchSize: batchSize)
    var out: [Tensor] = []
    var it = loader.batches(epoch: 0)
    while let b = try it.next() { out.append(b.images) }
    return out
  }
}

struct CalibrateBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "calibrate",
    abstract: "Wall time of post-training calibration of ResNet-20 on 512 images (data in memory), per method.")

  @OptionGroup var options: BenchOptions
  @Option(help: "Shared data root (default $QAT_DATA or ../shared).") var dataRoot: String?
  @Option(help: "Calibration batch size.") var batch = 128

  func run() throws {
    options.apply()
    let data = try SharedModelData(dataRoot)
    let batches = try data.calibrationBatches(batchSize: batch)
    let reference = 1.35
    for method in ["min-diffs", "non-overflow", "percentile", "entropy", "mse"] {
      var config = QuantizationConfig()
      config.method = CalibrationMethod.named(method)!
      var times: [Double] = []
      for _ in 0..<max(1, options.repeats / 2) {
        let qm = try Prepare.quantize(try data.model(), config: config)
        let t0 = now()
        try Calibration.calibrate(qm) { body in for b in batches { try body(b) } }
        times.append(now() - t0)
      }
      let s = median(times)
      emit([("name", "calibrate-\(method)"), ("seconds", s), ("images", batches.reduce(0) { $0 + $1.shape[0] }),
            ("reference_seconds", reference), ("ratio", reference / s),
            ("reference", "PyTorch histogram calibration, 512 images (issue figure)"), ("threads", options.threads)])
    }
  }
}

struct SimulateBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "simulate",
    abstract: "Images per second of the integer simulator on a W8A8 model (ResNet-20 by default; test images decoded in memory first), against the fake-quant model's inference in the same run.")

  @OptionGroup var options: BenchOptions
  @Option(help: "Shared data root (default $QAT_DATA or ../shared).") var dataRoot: String?
  @Option(help: "Float model to quantize (.h5 with its architecture, .onnx; default the shared ResNet-20).") var model: String?
  @Option(help: "Built-in architecture of --model .h5 weights.") var arch: String?
  @Option(help: "Test images to run.") var images = 10_000
  @Option(help: "Batch size.") var batch = 100

  func run() throws {
    options.apply()
    let data = try SharedModelData(dataRoot)
    let qm = try Prepare.quantize(try data.model(model, arch: arch), config: QuantizationConfig())
    let calib = try data.calibrationBatches(batchSize: 128)
    try Calibration.calibrate(qm) { body in for b in calib { try body(b) } }
    let dir = NSTemporaryDirectory() + "qat-bench-deploy-\(ProcessInfo.processInfo.processIdentifier)"
    try Exporter.export(qm, to: dir)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let sim = try Simulator(directory: dir)
    let loader = try CIFARData.evaluationLoader(directory: data.root + "/data/cifar10/test", limit: images, batchSize: batch)
    var batches: [Batch] = []
    var it = loader.batches(epoch: 0)
    while let b = try it.next() { batches.append(b) }
    _ = try sim(batches[0].images)  // warm-up
    var correct = 0, count = 0
    let t0 = now()
    for b in batches {
      let logits = try sim(b.images)
      correct += zip(logits.argmax(axis: 1), b.labels).filter { $0 == $1 }.count
      count += b.labels.count
    }
    let seconds = now() - t0
    let rate = Double(count) / seconds
    // reference in the same run: the fake-quant model's inference on the same batches
    qm.model.setPhase(.inference)
    let t1 = now()
    qm.model.withoutGradients { for b in batches { _ = qm.model(b.images) } }
    let fakeQuantRate = Double(count) / (now() - t1)
    emit([("name", "simulate"), ("model", model ?? "resnet20"), ("images_per_s", rate), ("images", count),
          ("top1", 100 * Double(correct) / Double(count)), ("fake_quant_images_per_s", fakeQuantRate),
          ("ratio_to_fake_quant", rate / fakeQuantRate), ("target_images_per_s", 2000.0), ("ratio", rate / 2000),
          ("fbgemm_reference_images_per_s", 5300.0), ("threads", options.threads), ("batch", batch)])
  }
}
