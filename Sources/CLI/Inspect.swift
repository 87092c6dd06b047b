import ArgumentParser
import Autograd
import Export
import Foundation
import Layers
import ONNX
import QAT
import TensorCore
import Training

/// `qat inspect` (as vai_q_tensorflow's `inspect`): what a model holds and what quantizing it will
/// do — every ONNX node with its op type, output shapes and what it became, all unsupported ops at
/// once, the model's layers with shapes, parameters and FLOPs, the quantizers the configuration
/// places (bits, signedness, method) and the nodes the deploy format cannot express.
struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List a model's nodes, shapes, parameters and FLOPs, which nodes will be quantized and how, and the ops that are not supported.")

  @Option(help: "An ONNX model (.onnx), float weights (.h5) or a quantized-model directory.") var model: String
  @Option(help: "Built-in architecture of .h5 weights.") var arch: String?
  @Flag(help: "Print one JSON object.") var json = false
  @OptionGroup var quantization: QuantizationOptions
  @OptionGroup var input: InputOptions

  func run() throws {
    var report: [String: Any] = ["model": model]
    var loadedModel: Model?
    if model.lowercased().hasSuffix(".onnx") {
      let file = try ONNXFile(path: model)
      var options = ONNXImporter.Options()
      options.inputShapes = try input.choice().inputDims
      let (nodes, imported) = try ONNXImporter.inspect(file, options: options)
      report["opset"] = file.opset
      report["onnx_nodes"] = nodes.map(Self.describe)
      report["unsupported"] = nodes.compactMap { n -> [String: Any]? in
        guard case .unsupported(let why) = n.status else { return nil }
        return ["node": n.name, "op_type": n.opType, "reason": why]
      }
      report["blocked"] = nodes.filter { $0.status == .blocked }.map(\.name)
      loadedModel = imported
    } else {
      loadedModel = try ModelStore.load(model, architecture: arch, inputDims: try input.choice().inputDims).model
    }
    if let m = loadedModel {
      report["layers"] = Self.layers(m)
      report["parameters"] = m.parameters.reduce(0) { $0 + $1.value.count }
      report["flops_per_sample"] = (report["layers"] as! [[String: Any]]).reduce(0) { $0 + ($1["flops"] as! Int) }
      if !QuantizedModel.isQuantizedDirectory(model) {
        let qm = try Prepare.quantize(m, config: try quantization.makeConfig())
        report["quantizers"] = qm.quantizers.map { q -> [String: Any] in
          ["label": q.label, "role": q.role.rawValue, "bits": q.spec.bits, "signed": q.spec.signed, "method": q.spec.method.description]
        }
        report["not_exportable"] = Exporter.unsupportedNodes(qm).map { ["node": $0.node, "reason": $0.reason] }
      }
    }
    if json { try printJSON(report) } else { Self.print(report) }
    if let u = report["unsupported"] as? [Any], !u.isEmpty { throw ExitCode(1) }
  }

  static func describe(_ n: ONNXImporter.NodeReport) -> [String: Any] {
    var d: [String: Any] = ["node": n.name, "op_type": n.opType, "output_shapes": n.outputShapes]
    switch n.status {
    case .imported(let layers): (d["status"], d["layers"]) = ("imported", layers)
    case .folded: d["status"] = "folded"
    case .merged: d["status"] = "merged into its reader"
    case .unsupported(let why): (d["status"], d["reason"]) = ("unsupported", why)
    case .blocked: d["status"] = "blocked (reads an unsupported node's output)"
    }
    return d
  }

  /// Each node's layer kind, per-sample output shape, parameters and FLOPs (a pass on a batch of one).
  static func layers(_ m: Model) -> [[String: Any]] {
    guard let input = m.inputShape() else { return [] }
    m.setPhase(.inference)
    var shapes: [Int: Shape] = [:]
    _ = m.withoutGradients { m.forward([Tensor.zeros(Shape([1] + input.dims))]) { i, t in shapes[i] = t.shape } }
    return m.nodes.indices.map { i in
      let n = m.nodes[i]
      let out = shapes[i] ?? []
      let ins = n.inputs.map { shapes[$0] ?? [] }
      return ["node": n.name, "kind": n.layer.kind, "output_shape": Array(out.dims.dropFirst()),
              "parameters": n.layer.namedParameters.reduce(0) { $0 + $1.parameter.value.count },
              "flops": n.layer.flops(inputs: ins, output: out)]
    }
  }

  static func print(_ r: [String: Any]) {
    if let nodes = r["onnx_nodes"] as? [[String: Any]] {
      Swift.print("ONNX opset \(r["opset"]!), \(nodes.count) nodes:")
      for n in nodes {
        let status = (n["status"] as! String) + ((n["layers"] as? [String]).map { $0.isEmpty ? "" : " -> " + $0.joined(separator: ", ") } ?? "")
        Swift.print("  \(n["node"]!) [\(n["op_type"]!)] \(n["output_shapes"]!) \(status)\((n["reason"] as? String).map { ": " + $0 } ?? "")")
      }
    }
    if let u = r["unsupported"] as? [[String: Any]], !u.isEmpty {
      Swift.print("unsupported (\(u.count)): " + u.map { "\($0["node"]!) (\($0["op_type"]!))" }.joined(separator: ", "))
      Swift.print("supported op types: \(ONNXImporter.supportedOperators.joined(separator: ", "))")
    }
    if let layers = r["layers"] as? [[String: Any]] {
      Swift.print("model: \(layers.count) nodes, \(r["parameters"]!) parameters, \(r["flops_per_sample"]!) FLOPs per sample")
      for l in layers { Swift.print("  \(l["node"]!) \(l["kind"]!) \(l["output_shape"]!) params \(l["parameters"]!) flops \(l["flops"]!)") }
    }
    if let q = r["quantizers"] as? [[String: Any]] {
      Swift.print("quantizers (\(q.count)):")
      for x in q { Swift.print("  \(x["label"]!) \(x["role"]!) \(x["bits"]!)-bit \((x["signed"] as! Bool) ? "signed" : "unsigned") \(x["method"]!)") }
    }
    if let n = r["not_exportable"] as? [[String: Any]], !n.isEmpty {
      Swift.print("not exportable to the deploy format (\(n.count)): " + n.map { "\($0["node"]!): \($0["reason"]!)" }.joined(separator: "; "))
    }
  }
}
