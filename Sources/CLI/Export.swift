import ArgumentParser
import Export
import DeployFormat
import Foundation
import ONNX
import QAT
import TensorCore
import Training

struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract: "Write the deploy graph (deploy.json + integer weights.h5) and quant_info.json / int8.json / xfdnn.json of a quantized model, or a float model as ONNX.")

  enum Format: String, ExpressibleByArgument, CaseIterable { case deploy, onnx, qdq }

  @Option(help: "Quantized-model directory written by `qat quantize` (deploy), or a float model: .onnx, or .h5 weights (onnx).") var model: String
  @Option(help: "Directory to write (deploy: the deploy graph; onnx: model.onnx).") var outputDir: String
  @Option(help: "deploy (the integer deploy graph of a quantized model), qdq (the same as a QDQ ONNX model: QuantizeLinear / DequantizeLinear on every tensor, with the deploy graph beside it) or onnx (a float model as ONNX).")
  var format: Format = .deploy
  @Option(help: "ONNX opset of --format onnx / qdq (13–19).") var opset = 17
  @Option(help: "qdq: native (QuantizeLinear's half-to-even rounding; per-channel weights as DequantizeLinear on axis 0, requantized by the runtime in float) or exact (the model's own rounding written out before each QuantizeLinear, and --requantize int16 / int32 layers' integer multipliers in float / double ops, so ONNX Runtime matches the simulator to 0 LSB).")
  var qdqRounding = "native"
  @Option(help: "qdq: every_tensor (a QuantizeLinear / DequantizeLinear pair after every tensor, as NVDLA / modelopt target_dla expect) or operator_inputs (ONNX Runtime's / TensorRT's convention: no pair after data movement that keeps its input's grid — max pool, reshape, flatten, transpose, slice, nearest upsampling, concat, zero padding).")
  var qdqPlacement = "every_tensor"
  @Option(help: "Architecture of float .h5 weights that do not name it.") var arch: String?
  @Flag(help: "Print one JSON object.") var json = false
  @OptionGroup var common: CommonOptions

  func validate() throws {
    if format == .deploy && opset != 17 { throw ValidationError("--opset applies to --format onnx and qdq") }
    guard QDQWriter.Rounding(rawValue: qdqRounding) != nil else { throw ValidationError("--qdq-rounding '\(qdqRounding)': expected native or exact") }
    if format != .qdq && qdqRounding != "native" { throw ValidationError("--qdq-rounding applies to --format qdq") }
    guard QDQWriter.Placement(rawValue: qdqPlacement) != nil else {
      throw ValidationError("--qdq-placement '\(qdqPlacement)': expected every_tensor or operator_inputs")
    }
    if format != .qdq && qdqPlacement != "every_tensor" { throw ValidationError("--qdq-placement applies to --format qdq") }
    guard ONNXWriter.supportedOpsets.contains(opset) else {
      throw ValidationError("--opset \(opset): the ONNX writer writes opsets \(ONNXWriter.supportedOpsets.lowerBound)–\(ONNXWriter.supportedOpsets.upperBound)")
    }
  }

  func run() throws {
    try common.apply()
    if format == .onnx { return try exportONNX() }
    guard QuantizedModel.isQuantizedDirectory(model) else {
      if model.lowercased().hasSuffix(".onnx") {
        throw ValidationError("\(model) is a float ONNX model; quantize it first (qat quantize --model \(model) ... --output-dir DIR) and export DIR")
      }
      throw ValidationError("\(model) is not a quantized-model directory (no quantization.json); run `qat quantize` first")
    }
    let loaded = try ModelStore.load(model)
    var qdq: QDQWriter.Report?
    let report = try Exporter.export(loaded.quantized!, to: outputDir) { staging in
      if let p = loaded.preprocessing { try ModelStore.writePreprocessing(p, to: staging) }
      if format == .qdq { qdq = try writeQDQ(in: staging) }
    }
    if let qdq { return try printQDQ(report, qdq) }
    if json {
      try printJSON(["output_dir": outputDir, "nodes": report.nodes, "tensors": report.tensors,
                     "adjustments": report.adjustments.map { ["node": $0.node, "tensor": $0.tensor, "from": $0.from, "to": $0.to, "reason": $0.reason] }])
    } else {
      print("exported \(report.nodes) nodes, \(report.tensors) tensors to \(outputDir)")
      for a in report.adjustments { print("  adjusted \(a.node) \(a.tensor): position \(a.from) -> \(a.to) (\(a.reason))") }
    }
  }

  /// The deploy graph just written to `directory`, as QDQ ONNX beside it.
  func writeQDQ(in directory: String) throws -> QDQWriter.Report {
    let graph = try DeployGraph.read(directory: directory)
    let payload = try DeployPayload.read(from: directory + "/" + DeployGraph.payloadFile)
    var options = QDQWriter.Options()
    (options.opset, options.rounding) = (opset, QDQWriter.Rounding(rawValue: qdqRounding)!)
    options.placement = QDQWriter.Placement(rawValue: qdqPlacement)!
    return try QDQWriter.write(graph, payload, to: directory + "/" + DeployGraph.qdqFile, options: options)
  }

  func printQDQ(_ deployed: Exporter.Report, _ report: QDQWriter.Report) throws {
    let path = outputDir + "/" + DeployGraph.qdqFile
    let note = report.otherRounding.isEmpty || qdqRounding == QDQWriter.Rounding.exact.rawValue ? "" :
      " (\(report.otherRounding.count) tensors round otherwise than half to even: exact ties differ in ONNX Runtime; --qdq-rounding exact or --activation-rounding half_even at quantize avoid it)"
    if json {
      try printJSON(["output": path, "deploy_nodes": deployed.nodes, "quantized_tensors": report.quantizedTensors, "opset": opset,
                     "rounding": qdqRounding, "placement": qdqPlacement, "tensors_not_half_even": report.otherRounding.count])
    } else {
      print("wrote \(path): \(report.quantizedTensors) tensors through QuantizeLinear / DequantizeLinear (\(qdqPlacement)), opset \(opset)" + note)
    }
  }

  /// A float model (ONNX or weights) written back as ONNX: same node and initializer names.
  func exportONNX() throws {
    guard !QuantizedModel.isQuantizedDirectory(model) else {
      throw ValidationError("--format onnx writes a float model (.onnx or .h5); \(model) is a quantized-model directory: export it with --format deploy")
    }
    let loaded = try ModelStore.load(model, architecture: arch)
    try createDirectory(outputDir)
    let path = outputDir + "/model.onnx"
    let t0 = Date()
    try ModelStore.saveONNX(loaded.model, source: loaded.source, opset: opset, to: path)
    let seconds = Date().timeIntervalSince(t0)
    let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    if json {
      try printJSON(["output": path, "nodes": loaded.model.nodes.count, "parameters": loaded.model.parameters.reduce(0) { $0 + $1.value.count },
                     "opset": opset, "bytes": bytes, "seconds": seconds])
    } else {
      print("wrote \(path): \(loaded.model.nodes.count) nodes, opset \(opset), \(bytes) bytes in \(String(format: "%.2f", seconds)) s")
    }
  }
}
