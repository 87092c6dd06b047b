import ArgumentParser
import Export
import Foundation
import QAT
import Training

struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract: "Write the deploy graph (deploy.json + integer weights.h5) and quant_info.json / int8.json / xfdnn.json of a quantized model.")

  @Option(help: "Quantized-model directory written by `qat quantize`.") var model: String
  @Option(help: "Deploy directory to write.") var outputDir: String
  @Flag(help: "Print one JSON object.") var json = false
  @OptionGroup var common: CommonOptions

  func run() throws {
    try common.apply()
    guard QuantizedModel.isQuantizedDirectory(model) else {
      if model.lowercased().hasSuffix(".onnx") {
        throw ValidationError("\(model) is a float ONNX model; quantize it first (qat quantize --model \(model) ... --output-dir DIR) and export DIR")
      }
      throw ValidationError("\(model) is not a quantized-model directory (no quantization.json); run `qat quantize` first")
    }
    let loaded = try ModelStore.load(model)
    let report = try Exporter.export(loaded.quantized!, to: outputDir)
    if let p = loaded.preprocessing { try ModelStore.writePreprocessing(p, to: outputDir) }
    if json {
      try printJSON(["output_dir": outputDir, "nodes": report.nodes, "tensors": report.tensors,
                     "adjustments": report.adjustments.map { ["node": $0.node, "tensor": $0.tensor, "from": $0.from, "to": $0.to, "reason": $0.reason] }])
    } else {
      print("exported \(report.nodes) nodes, \(report.tensors) tensors to \(outputDir)")
      for a in report.adjustments { print("  adjusted \(a.node) \(a.tensor): position \(a.from) -> \(a.to) (\(a.reason))") }
    }
  }
}
