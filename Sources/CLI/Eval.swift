import ArgumentParser
import Datasets
import Foundation
import Layers
import Simulator
import Training

struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Top-1 accuracy of a model on an image-folder test set.")

  @Option(help: "An ONNX model (.onnx), float weights (.h5), a quantized-model directory (`qat quantize`) or, with --simulate, a deploy directory (`qat export`).")
  var model: String
  @Flag(help: "Evaluate the deploy directory with the integer simulator alone.") var simulate = false
  @Option(help: "Architecture (resnet20, resnet32, ...); default: the file's 'architecture' attribute.")
  var arch: String?
  @Option(help: "Image folder with one subfolder per class (e.g. ../shared/data/cifar10/test).") var data: String
  @Option(help: "Evaluate only the first N images of the canonical order.") var limit: Int?
  @Option(help: "Batch size.") var batchSize = 250
  @Flag(help: "Print one JSON object instead of text.") var json = false
  @OptionGroup var input: InputOptions
  @OptionGroup var common: CommonOptions

  func validate() throws {
    try requireOption("--batch-size", batchSize, in: 1...maxBatchSize)
    try requireOption("--limit", limit, in: 1...Int(Int32.max))
  }

  func run() throws {
    try common.apply()
    let r: EvaluationResult
    var quantized = false
    if simulate {
      let sim = try Simulator(directory: model)
      let p = try input.deployPreprocessing(model, graph: sim.graph)
      let loader = try CIFARData.evaluationLoader(directory: data, limit: limit, batchSize: batchSize, preprocessing: p)
      r = try Evaluation.evaluate(loader: loader, progressLabel: json ? nil : "simulate") { try sim($0) }
      quantized = true
    } else {
      let (loaded, p) = try input.load(model, architecture: arch)
      let loader = try CIFARData.evaluationLoader(directory: data, limit: limit, batchSize: batchSize, preprocessing: p)
      quantized = loaded.quantized != nil
      r = try Evaluation.evaluate(loaded.model, loader: loader, progressLabel: json ? nil : "eval")
    }
    if json {
      try printJSON(["top1": rounded(r.top1, 4), "images": r.images, "correct": r.correct, "loss": rounded(r.loss, 6),
                     "seconds": rounded(r.seconds, 3), "model": model, "quantized": quantized, "simulated": simulate])
    } else {
      print(String(format: "top-1 %.2f %% (%d / %d), loss %.4f, %.1f s", r.top1, r.correct, r.images, r.loss, r.seconds))
    }
  }
}
