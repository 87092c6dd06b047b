import Foundation
import Layers
import TensorCore

/// Imports an ONNX model as a trainable `Model` of swift-qat layers: initializers become
/// parameters (weights) or buffers (statistics, constants) under their ONNX names, node names are
/// kept (`--nodes-bit`, `--ignore-nodes` address them), shape-only subgraphs fold at import, and
/// constants fold into per-channel scales where they are. The operator specification of ONNX
/// defines each operator's meaning; anything outside the supported set is an error naming the
/// node, its op type and the supported list.
///
/// ```swift
/// let imported = try ONNXImporter.load(path: "mobilenet.onnx")
/// let model = imported.model                      // trainable, quantizable
/// print(imported.inputNames, imported.outputNames)
/// try ONNXWriter.write(model, to: "back.onnx")   // and out again, with the same names
/// ```
public enum ONNXImporter {
  public struct Options: Sendable {
    /// Per-sample input shapes by input name (xfDNN `dims`), for inputs whose non-batch
    /// dimensions the file leaves symbolic; the first graph input's when the name is "".
    public var inputShapes: [String: [Int]] = [:]
    public init() {}
  }

  /// What happened to one ONNX node.
  public struct NodeReport: Sendable {
    public enum Status: Sendable, Equatable {
      /// Became these model nodes (empty when it was an alias, e.g. Identity, or folded into the
      /// layer before it).
      case imported([String])
      /// Absorbed by the node that reads it (a sigmoid of a SiLU pair).
      case merged
      /// Computed at import (shape arithmetic, constants).
      case folded
      case unsupported(String)
      /// An input comes from an unsupported node.
      case blocked
    }
    public var name: String
    public var opType: String
    public var status: Status
    /// Per-sample output shapes (batch axis left out), where known.
    public var outputShapes: [[Int]]
  }

  public struct Result {
    public var model: Model
    public var file: ONNXFile
    public var nodes: [NodeReport]
    /// The graph's input and output value names, in the model's input and output order.
    public var inputNames: [String]
    public var outputNames: [String]
    /// The model node that computes each runtime value of the graph, by value name (values of
    /// nodes the model does not keep are left out).
    public var producers: [String: String] = [:]
  }

  /// Operators this importer reads (ONNX default domain, opsets 11–19).
  public static var supportedOperators: [String] { Importer.handlers.keys.sorted() }

  public static func load(path: String, options: Options = Options()) throws -> Result {
    try load(try ONNXFile(path: path), options: options)
  }

  /// Imports a decoded file; the first unsupported node throws, naming it and the supported list.
  public static func load(_ file: ONNXFile, options: Options = Options()) throws -> Result {
    let importer = Importer(file, options, keepGoing: false)
    return try importer.run()
  }

  /// Imports as far as possible and reports every node (`qat inspect`): all unsupported nodes at
  /// once, not only the first. `model` is nil when any node is unsupported.
  public static func inspect(_ file: ONNXFile, options: Options = Options()) throws -> (nodes: [NodeReport], model: Model?) {
    let importer = Importer(file, options, keepGoing: true)
    do {
      let r = try importer.run()
      return (r.nodes, r.model)
    } catch let e as IncompleteImport {
      return (e.nodes, nil)
    }
  }
}

/// Thrown by an import that went on past unsupported nodes (inspect mode).
struct IncompleteImport: Error { var nodes: [ONNXImporter.NodeReport] }

/// The state of one import.
final class Importer {
  let file: ONNXFile
  let options: ONNXImporter.Options
  let keepGoing: Bool
  var graph = ImportGraph()
  var values: [String: ImportValue] = [:]
  /// Readers of each ONNX value (nodes and graph outputs): folding into a producer needs one.
  var uses: [String: Int] = [:]
  /// Initializers already turned into a parameter (shared weights are refused).
  var claimed: [String: String] = [:]
  var reports: [ONNXImporter.NodeReport] = []
  var externalCache: [String: Data] = [:]
  /// The model node each ONNX value name is produced by (for folding into producers).
  var producerOfNode: [Int: String] = [:]

  /// Largest tensor per sample the importer builds (2^27 floats, 512 MiB).
  static let maxSampleElements = 1 << 27
  /// Largest constant an op creates from a small description (ConstantOfShape, Range, broadcasts).
  static let maxGeneratedElements = 1 << 22

  init(_ file: ONNXFile, _ options: ONNXImporter.Options, keepGoing: Bool) {
    self.file = file
    self.options = options
    self.keepGoing = keepGoing
  }

  var opset: Int { file.opset }

  func run() throws -> ONNXImporter.Result {
    let g = file.graph
    guard g.sparseInitializer.isEmpty else { throw ONNXError("\(file.path): sparse initializers are not supported") }
    for t in g.initializer {
      guard !t.name.isEmpty else { throw ONNXError("\(file.path): an initializer has no name") }
      guard values[t.name] == nil else { throw ONNXError("\(file.path): initializer '\(t.name)' is defined twice") }
      values[t.name] = .constant(try ConstantTensor(t, file: file, cache: &externalCache))
    }
    let inputNames = try addInputs(g)
    for n in g.node { for i in n.input where !i.isEmpty { uses[i, default: 0] += 1 } }
    for o in g.output { uses[o.name, default: 0] += 1 }
    for (k, n) in g.node.enumerated() { try importNode(n, index: k) }
    if reports.contains(where: { if case .unsupported = $0.status { true } else { $0.status == .blocked } }) {
      throw IncompleteImport(nodes: reports)
    }
    guard !g.output.isEmpty else { throw ONNXError("\(file.path): the graph has no outputs") }
    let outputs = try g.output.map { o -> Int in
      switch values[o.name] {
      case .runtime(let r)?: return r.node
      case .constant?: throw ONNXError("\(file.path): graph output '\(o.name)' is a constant (it does not depend on an input)")
      default: throw ONNXError("\(file.path): graph output '\(o.name)' is produced by no node")
      }
    }
    let model = graph.build(outputs: outputs)
    let kept = Set(model.nodes.map(\.name))
    for k in reports.indices {
      guard case .imported(let names) = reports[k].status, !names.isEmpty else { continue }
      let left = names.filter(kept.contains)
      reports[k].status = left.isEmpty ? .merged : .imported(left)
    }
    var result = ONNXImporter.Result(model: model, file: file, nodes: reports, inputNames: inputNames, outputNames: g.output.map(\.name))
    for (name, v) in values {
      if case .runtime(let r) = v, kept.contains(graph.nodes[r.node].name) { result.producers[name] = graph.nodes[r.node].name }
    }
    return result
  }

  /// Graph inputs that are not initializers become `Input` nodes: batch axis first, the other
  /// dimensions static (or given in the options).
  func addInputs(_ g: Onnx_GraphProto) throws -> [String] {
    var names: [String] = []
    for (k, v) in g.input.enumerated() where values[v.name] == nil {
      guard !v.name.isEmpty else { throw ONNXError("\(file.path): graph input \(k) has no name") }
      guard case .tensorType(let t)? = v.type.value else { throw ONNXError("\(file.path): graph input '\(v.name)' is not a tensor") }
      guard t.elemType == Int32(Onnx_TensorProto.DataType.float.rawValue) else {
        throw ONNXError("\(file.path): graph input '\(v.name)' has element type \(t.elemType); only float32 inputs are supported")
      }
      let override = options.inputShapes[v.name] ?? (names.isEmpty ? options.inputShapes[""] : nil)
      let sample: [Int]
      if let override {
        guard override.allSatisfy({ $0 > 0 && $0 <= 1 << 24 }), override.reduce(1, { $0.multipliedReportingOverflow(by: $1).partialValue }) <= Importer.maxSampleElements else {
          throw ONNXError("\(file.path): input '\(v.name)': dims \(override) must be positive and hold at most \(Importer.maxSampleElements) elements")
        }
        if t.hasShape, t.shape.dim.count != override.count + 1 {
          throw ONNXError("\(file.path): input '\(v.name)' has rank \(t.shape.dim.count); dims \(override) give \(override.count + 1) with the batch axis")
        }
        sample = override
      } else {
        guard t.hasShape, t.shape.dim.count >= 2 else {
          throw ONNXError("\(file.path): input '\(v.name)' has no shape of rank ≥ 2 (batch first); give its dims (--dims C,H,W)")
        }
        sample = try t.shape.dim.dropFirst().enumerated().map { axis, d in
          guard case .dimValue(let n)? = d.value, n > 0, n <= 1 << 24 else {
            throw ONNXError("\(file.path): input '\(v.name)' axis \(axis + 1) is dynamic or invalid; give its dims (--dims C,H,W)")
          }
          return Int(n)
        }
      }
      guard sample.reduce(1, { $0.multipliedReportingOverflow(by: $1).partialValue }) <= Importer.maxSampleElements else {
        throw ONNXError("\(file.path): input '\(v.name)' [N] + \(sample) holds more than \(Importer.maxSampleElements) elements per sample")
      }
      let node = graph.add(v.name, Input(shape: Shape(sample)), [])
      graph.inputs.append(node)
      values[v.name] = .runtime(RuntimeValue(node: node, sample: sample))
      names.append(v.name)
    }
    guard !names.isEmpty else { throw ONNXError("\(file.path): the graph has no input besides its initializers") }
    return names
  }

  func importNode(_ n: Onnx_NodeProto, index k: Int) throws {
    let name = n.name.isEmpty ? "\(n.opType)_\(k)" : n.name
    var report = ONNXImporter.NodeReport(name: name, opType: n.opType, status: .folded, outputShapes: [])
    defer { reports.append(report) }
    func failing(_ message: String, status: ONNXImporter.NodeReport.Status) throws {
      for o in n.output where !o.isEmpty { values[o] = .unknown }
      report.status = status
      if !keepGoing { throw ONNXError(message) }
    }
    let inputs = n.input.map { $0.isEmpty ? nil : values[$0] }
    for (i, name) in n.input.enumerated() where !name.isEmpty && inputs[i] == nil {
      throw ONNXError("\(file.path): node '\(report.name)' (\(n.opType)) reads '\(name)', which no node, input or initializer defines")
    }
    if inputs.contains(where: { if case .unknown? = $0 { true } else { false } }) {
      try failing("", status: .blocked)
      return
    }
    guard n.domain.isEmpty || n.domain == "ai.onnx" else {
      try failing("\(file.path): node '\(name)' uses op \(n.domain)::\(n.opType); only the default ONNX domain is supported",
                  status: .unsupported("domain \(n.domain)"))
      return
    }
    guard let handler = Importer.handlers[n.opType] else {
      try failing("\(file.path): node '\(name)': op type \(n.opType) is not supported (supported: \(ONNXImporter.supportedOperators.joined(separator: ", ")))",
                  status: .unsupported("op type \(n.opType)"))
      return
    }
    let before = graph.nodes.count
    let context = NodeContext(importer: self, node: n, name: name, inputs: inputs)
    let outputs: [ImportValue]
    do { outputs = try handler(self)(context) } catch let e as ONNXError {
      try failing(e.description, status: .unsupported(e.description))
      return
    }
    guard outputs.count >= n.output.filter({ !$0.isEmpty }).count || outputs.count == n.output.count else {
      throw ONNXError("\(file.path): node '\(name)' (\(n.opType)): \(n.output.count) outputs requested, the op gives \(outputs.count)")
    }
    for (o, v) in zip(n.output, outputs) where !o.isEmpty {
      guard values[o] == nil else { throw ONNXError("\(file.path): node '\(name)' writes '\(o)', which is already defined") }
      values[o] = v
    }
    for v in outputs {
      guard let sample = v.runtime?.sample else { continue }
      var elements = 1
      for d in sample {
        let (p, overflow) = elements.multipliedReportingOverflow(by: d)
        guard !overflow, d > 0, p <= Importer.maxSampleElements else {
          throw ONNXError("\(file.path): node '\(name)' (\(n.opType)) produces [N] + \(sample), more than \(Importer.maxSampleElements) elements per sample")
        }
        elements = p
      }
    }
    report.outputShapes = outputs.map { $0.runtime?.sample ?? $0.constant?.shape ?? [] }
    let added = graph.nodes[before...].map(\.name)
    if outputs.contains(where: { $0.runtime != nil }) { report.status = .imported(added) }
  }

  /// The number of ONNX readers of a value (graph outputs count).
  func useCount(_ name: String) -> Int { uses[name] ?? 0 }

  /// Claims an initializer as a model tensor (parameter or buffer) under its name.
  func claim(_ initializer: String, by node: String) throws {
    if let other = claimed[initializer], other != node {
      throw ONNXError("\(file.path): initializer '\(initializer)' is a weight of both '\(other)' and '\(node)'; shared weights are not supported")
    }
    claimed[initializer] = node
  }
}
