import ArgumentParser
import DeployFormat
import Export
import Foundation
import ONNX
import Simulator
import TensorCore
import Training

/// A quantized model's QDQ export in ONNX Runtime against our integer simulator on CIFAR-10 test
/// images (scripts/ort_run.py, CPU provider): top-1 agreement, images whose logits differ, the
/// largest difference in LSB, both accuracies, and the export time against the deploy export's.
struct QDQBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "qdq",
    abstract: "QDQ export of a quantized-model directory run in ONNX Runtime against the integer simulator on test images.")

  @Option(help: "Quantized-model directory (qat quantize / cifar10-qat).") var model: String
  @Option(help: "Test images.") var images = 1000
  @Option(help: "native or exact (see qat export --qdq-rounding).") var qdqRounding = "native"
  @Option(help: "Python with numpy, onnx and onnxruntime.") var python = "python3"
  @Option(help: "Shared data root (default $QAT_DATA or ../shared).") var dataRoot: String?
  @OptionGroup var options: BenchOptions

  func run() throws {
    options.apply()
    guard let rounding = QDQWriter.Rounding(rawValue: qdqRounding) else { throw ValidationError("--qdq-rounding: native or exact") }
    let root = dataRoot ?? ProcessInfo.processInfo.environment["QAT_DATA"] ?? "../shared"
    let loaded = try ModelStore.load(model)
    guard let qm = loaded.quantized else { throw ValidationError("\(model) is not a quantized-model directory") }
    let dir = NSTemporaryDirectory() + "qat-bench-qdq-\(ProcessInfo.processInfo.processIdentifier)"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var t0 = now()
    try Exporter.export(qm, to: dir)
    let deploySeconds = now() - t0
    let sim = try Simulator(directory: dir)
    var qdq = QDQWriter.Options()
    qdq.rounding = rounding
    t0 = now()
    let report = try QDQWriter.write(sim.graph, try DeployPayload.read(from: dir + "/" + DeployGraph.payloadFile), to: dir + "/model.onnx", options: qdq)
    let qdqSeconds = now() - t0
    let loader = try CIFARData.evaluationLoader(directory: root + "/data/cifar10/test", limit: images, batchSize: images,
                                                preprocessing: loaded.preprocessing ?? .cifarResNet20)
    var batches = loader.batches(epoch: 0)
    guard let batch = try batches.next() else { throw ValidationError("no test images under \(root)/data/cifar10/test") }
    let x = batch.images, n = x.shape[0]
    try x.scalars.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: URL(fileURLWithPath: dir + "/input.bin"))
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [python, "scripts/ort_run.py", dir + "/model.onnx", dir + "/input.bin", x.shape.dims.map(String.init).joined(separator: ","), dir + "/out"]
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0, let data = FileManager.default.contents(atPath: dir + "/out.0.bin") else {
      throw ValidationError("scripts/ort_run.py failed (needs \(python) with numpy, onnx and onnxruntime: --python)")
    }
    let theirs = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    let output = sim.graph.outputs[0]
    let ours = try sim.run([x])[output]!
    let scale = Double(sign: .plus, exponent: sim.graph.tensors[output]!.fractionalBits, significand: 1)
    let codes = theirs.map { Int((Double($0) * scale).rounded()) }
    let classes = ours.shape.count / n
    var same = 0, differing = 0, worst = 0, oursRight = 0, theirsRight = 0
    for i in 0..<n {
      let a = ours.codes[(i * classes)..<((i + 1) * classes)].map(Int.init), b = Array(codes[(i * classes)..<((i + 1) * classes)])
      let ta = a.firstIndex(of: a.max()!)!, tb = b.firstIndex(of: b.max()!)!
      if ta == tb { same += 1 }
      if ta == batch.labels[i] { oursRight += 1 }
      if tb == batch.labels[i] { theirsRight += 1 }
      let d = zip(a, b).map { abs($0 - $1) }.max()!
      worst = max(worst, d)
      if d > 0 { differing += 1 }
    }
    emit([("name", "qdq"), ("model", model), ("images", n), ("rounding", qdqRounding),
          ("tensors_not_half_even", report.otherRounding.count), ("top1_identical", same), ("images_with_differing_logits", differing),
          ("max_lsb", worst), ("simulator_top1", Double(oursRight) / Double(n) * 100), ("onnxruntime_top1", Double(theirsRight) / Double(n) * 100),
          ("qdq_export_ms", qdqSeconds * 1e3), ("deploy_export_ms", deploySeconds * 1e3), ("ratio", qdqSeconds / deploySeconds)])
  }
}
