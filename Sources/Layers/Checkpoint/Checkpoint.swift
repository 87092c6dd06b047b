import Autograd
import Foundation
import HDF5IO
import TensorCore

/// HDF5 checkpoints: one float32 dataset per parameter and buffer named by its dotted PyTorch path
/// ("layer1.0.conv1.weight", "bn1.running_mean"), readable by h5py; optimizer state under
/// "optimizer/<parameter>/<state>"; extra tensors (e.g. quantization state) under "state/<name>";
/// the step counter and free-form metadata as root attributes; the model's graph, when it has one
/// (an imported ONNX model), as the bytes of that file under "graph/onnx". Files are written to a
/// temporary name and renamed, so a failed save never leaves half a file.
///
/// ```swift
/// try Checkpoint.save(model, to: "weights.h5")
/// try Checkpoint.load(into: model, from: "weights.h5")   // throws listing every mismatch
/// ```
public enum Checkpoint {
  public struct Contents {
    public var step: Int
    public var attributes: [String: String]
    /// Tensors stored under "state/..." (without the prefix).
    public var state: [String: Tensor]
  }

  public static func save(_ model: Model, optimizer: (any Optimizer)? = nil, step: Int = 0,
                          state: [String: Tensor] = [:], attributes: [String: String] = [:], graph: [UInt8]? = nil,
                          to path: String) throws {
    try writeAtomically(to: path) { file in
      if let graph { try file.write(graphDataset, shape: [graph.count], values: graph) }
      for (name, p) in model.namedParameters { try write(file, escaped(name), p.value) }
      for (name, b) in model.namedBuffers { try write(file, escaped(name), b.value) }
      if let optimizer {
        for (name, p) in model.namedParameters {
          for (key, value) in optimizer.state(of: p) { try write(file, "optimizer/\(escaped(name))/\(key)", value) }
        }
        try file.setAttribute("optimizer_step", numbers: [Double(optimizer.step)])
      }
      for (name, t) in state.sorted(by: { $0.key < $1.key }) { try write(file, "state/\(escaped(name))", t) }
      try file.setAttribute("step", numbers: [Double(step)])
      for (k, v) in attributes.sorted(by: { $0.key < $1.key }) { try file.setAttribute(k, string: v) }
    }
  }

  /// Loads parameters and buffers into `model` (and optimizer state when given). Missing,
  /// unexpected and mis-shaped tensors are all reported in one `CheckpointError`.
  @discardableResult
  public static func load(into model: Model, optimizer: (any Optimizer)? = nil, from path: String,
                          stateKeys: [String] = []) throws -> Contents {
    let file = try HDF5File(path: path, mode: .read)
    let stored = Set(try file.datasetNames())
    let expected = model.namedParameters.map(\.name) + model.namedBuffers.map(\.name)
    let expectedKeys = Set(expected.map(escaped))
    var problems = CheckpointError(file: path)
    problems.missing = expected.filter { !stored.contains(escaped($0)) }
    problems.unexpected = stored.filter {
      !$0.hasPrefix("optimizer/") && !$0.hasPrefix("state/") && $0 != graphDataset && !expectedKeys.contains($0)
    }.sorted()
    problems.missing += stateKeys.filter { !stored.contains("state/" + escaped($0)) }.map { "state/" + $0 }
    var values: [String: Tensor] = [:]
    for name in expected where stored.contains(escaped(name)) {
      let t = try read(file, escaped(name))
      values[name] = t
    }
    for (name, p) in model.namedParameters { if let t = values[name], t.shape != p.shape { problems.misshaped.append((name, p.shape, t.shape)) } }
    for (name, b) in model.namedBuffers { if let t = values[name], t.shape != b.value.shape { problems.misshaped.append((name, b.value.shape, t.shape)) } }
    if !problems.isEmpty { throw problems }
    // a variance below zero makes the batch norm's rsqrt NaN: every output would be garbage
    for (name, _) in model.namedBuffers where name.hasSuffix("running_var") {
      if let t = values[name], let i = t.scalars.firstIndex(where: { $0 < 0 }) {
        throw HDF5Error(file: path, object: escaped(name), "negative running variance \(t.scalars[i]) at channel \(i)")
      }
    }
    for (name, p) in model.namedParameters { p.value = values[name]! }
    for (name, b) in model.namedBuffers { b.value = values[name]! }
    let step = Int(try file.numericAttribute("step")?.first ?? 0)
    if let optimizer {
      let optimizerStep = Int(try file.numericAttribute("optimizer_step")?.first ?? 0)
      for (name, p) in model.namedParameters {
        var s: [String: Tensor] = [:]
        let prefix = "optimizer/\(escaped(name))/"
        for key in stored where key.hasPrefix(prefix) {
          s[String(key.dropFirst(prefix.count))] = try read(file, key)
        }
        try optimizer.setState(of: p, s, step: optimizerStep)
      }
    }
    var state: [String: Tensor] = [:]
    for key in stored where key.hasPrefix("state/") { state[unescaped(String(key.dropFirst(6)))] = try read(file, key) }
    var attributes: [String: String] = [:]
    for name in try file.attributeNames() where try file.isStringAttribute(name) {
      attributes[name] = try file.stringAttribute(name)
    }
    return Contents(step: step, attributes: attributes, state: state)
  }

  static func write(_ file: HDF5File, _ name: String, _ t: Tensor) throws {
    try file.write(name, shape: t.shape.dims, values: t.scalars)
  }

  static func escaped(_ name: String) -> String { HDF5Name.escaped(name) }
  static func unescaped(_ key: String) -> String { HDF5Name.unescaped(key) }

  /// Where a checkpoint keeps the bytes of the graph it was trained from.
  public static let graphDataset = "graph/onnx"

  /// The graph bytes a checkpoint carries, nil when it has none (a built-in architecture).
  public static func storedGraph(_ path: String) throws -> [UInt8]? {
    let file = try HDF5File(path: path, mode: .read)
    guard try file.datasetNames().contains(graphDataset) else { return nil }
    return try file.read(graphDataset, as: UInt8.self).values
  }

  static func read(_ file: HDF5File, _ name: String) throws -> Tensor {
    let (shape, values) = try file.read(name, as: Float.self)
    if let bad = values.firstIndex(where: { !$0.isFinite }) {
      throw HDF5Error(file: file.path, object: name, "non-finite value \(values[bad]) at flat index \(bad)")
    }
    return Tensor(values, shape: Shape(shape))
  }

  /// Writes through `body` into "<path>.tmp-<pid>", then renames onto path.
  public static func writeAtomically(to path: String, _ body: (HDF5File) throws -> Void) throws {
    try HDF5File.writeAtomically(to: path, body)
  }
}

/// Every mismatch between a checkpoint and a model, reported together.
public struct CheckpointError: Error, CustomStringConvertible {
  public var file: String
  public var missing: [String] = []
  public var unexpected: [String] = []
  public var misshaped: [(name: String, expected: Shape, found: Shape)] = []

  var isEmpty: Bool { missing.isEmpty && unexpected.isEmpty && misshaped.isEmpty }

  public var description: String {
    var lines = ["\(file): checkpoint does not match the model"]
    if !missing.isEmpty { lines.append("  missing (\(missing.count)): " + missing.joined(separator: ", ")) }
    if !unexpected.isEmpty { lines.append("  unexpected (\(unexpected.count)): " + unexpected.joined(separator: ", ")) }
    for m in misshaped { lines.append("  \(m.name): expected shape \(m.expected), found \(m.found)") }
    return lines.joined(separator: "\n")
  }
}
