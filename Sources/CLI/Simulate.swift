import ArgumentParser
import Datasets
import Foundation
import QAT
import Simulator
import TensorCore
import Training

struct Simulate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the integer simulator; with --check compare it with the fake-quant model at every tensor.")

  @Option(help: "Deploy directory written by `qat export`.") var deploy: String
  @Option(help: "Quantized-model directory (fake-quant side of --check).") var model: String?
  @Option(help: "Image folder with class subfolders.") var data: String
  @Option(help: "Only the first N images of the canonical order.") var limit: Int?
  @Option(help: "Batch size.") var batchSize = 100
  @Flag(help: "Compare every tensor with the fake-quant model.") var check = false
  @Flag(help: "Print one JSON object.") var json = false
  @OptionGroup var input: InputOptions
  @OptionGroup var common: CommonOptions

  func validate() throws {
    try requireOption("--batch-size", batchSize, in: 1...maxBatchSize)
    try requireOption("--limit", limit, in: 1...Int(Int32.max))
  }

  func run() throws {
    try common.apply()
    let sim = try Simulator(directory: deploy)
    let loader = try CIFARData.evaluationLoader(directory: data, limit: limit, batchSize: batchSize,
                                                preprocessing: try input.deployPreprocessing(deploy, graph: sim.graph))
    if check {
      guard let model else { throw ValidationError("--check needs --model (the quantized-model directory)") }
      guard let qm = try ModelStore.load(model).quantized else { throw ValidationError("\(model) is not a quantized-model directory") }
      var report = BitExactReport()
      let t0 = monotonicSeconds()
      var batches = loader.batches(epoch: 0)
      while let b = try batches.next() { report.merge(try BitExactCheck.compare(qm, sim, batch: b.images)) }
      let seconds = monotonicSeconds() - t0
      let summary: [String: Any] = ["images": report.images, "tensors_compared": report.tensorsCompared,
                                    "mismatched_tensors": report.mismatchedTensors.count, "values_compared": report.valuesCompared,
                                    "mismatched_values": report.mismatchedValues, "max_lsb_diff": report.maxLSBDifference,
                                    "first_mismatch": report.firstMismatch ?? NSNull(), "seconds": rounded(seconds, 3),
                                    "inexact_layers": report.inexactLayers]
      if json { try printJSON(summary) } else {
        print("\(report.images) images, \(report.tensorsCompared) tensors compared: \(report.mismatchedTensors.count) mismatched, max \(report.maxLSBDifference) LSB")
        for l in report.inexactLayers { print("  computed in float instead of exactly: \(l)") }
      }
      if !report.mismatchedTensors.isEmpty || !report.inexactLayers.isEmpty { throw ExitCode(1) }
      return
    }
    let r = try Evaluation.evaluate(loader: loader) { try sim($0) }
    if json { try printJSON(["top1": rounded(r.top1, 4), "images": r.images, "seconds": rounded(r.seconds, 3)]) }
    else { print(String(format: "simulator top-1 %.2f %% on %d images", r.top1, r.images)) }
  }
}
