import ArgumentParser
import Datasets
import Foundation
import Layers
import Simulator
import Training

struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Top-1 accuracy of a model on an image-folder test set.")

  @Option(help: "Float weights (.h5), a quantized-model directory (`qat quantize`) or, with --simulate, a deploy directory (`qat export`).")
  var model: String
  @Flag(help: "Evaluate the deploy directory with the integer simulator alone.") var simulate = false
  @Option(help: "Architecture (resnet20, resnet32, ...); default: the file's 'architecture' attribute.")
  var arch: String?
  @Option(help: "Image folder with one subfolder per class (e.g. ../shared/data/cifar10/test).") var data: String
  @Option(help: "Evaluate only the first N images of the canonical order.") var limit: Int?
  @Option(help: "Batch size.") var batchSize = 250
  @Flag(help: "Print one JSON object instead of text.") var json = false
  @OptionGroup var common: CommonOptions

  func run() throws {
    try common.apply()
    let loader = try CIFARData.evaluationLoader(directory: data, limit: limit, batchSize: batchSize)
    let r: EvaluationResult
    var quantized = false
    if simulate {
      let sim = try Simulator(directory: model)
      r = try Evaluation.evaluate(loader: loader, progressLabel: json ? nil : "simulate") { try sim($0) }
      quantized = true
    } else {
      let (net, qm) = try PostTraining.loadModel(model, architecture: arch)
      quantized = qm != nil
      r = try Evaluation.evaluate(net, loader: loader, progressLabel: json ? nil : "eval")
    }
    if json {
      try printJSON(["top1": rounded(r.top1, 4), "images": r.images, "correct": r.correct, "loss": rounded(r.loss, 6),
                     "seconds": rounded(r.seconds, 3), "model": model, "quantized": quantized, "simulated": simulate])
    } else {
      print(String(format: "top-1 %.2f %% (%d / %d), loss %.4f, %.1f s", r.top1, r.correct, r.images, r.loss, r.seconds))
    }
  }
}
