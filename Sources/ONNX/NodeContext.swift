import Foundation
import Layers
import TensorCore

/// One ONNX node being imported: typed access to its inputs and attributes, errors naming the
/// file, the node and the op, and adding model nodes named after it.
struct NodeContext {
  let importer: Importer
  let node: Onnx_NodeProto
  let name: String
  let inputs: [ImportValue?]

  var op: String { node.opType }
  var opset: Int { importer.opset }

  func fail(_ message: String) -> ONNXError {
    ONNXError("\(importer.file.path): node '\(name)' (\(op)): \(message)")
  }

  func inputName(_ i: Int) -> String { i < node.input.count ? node.input[i] : "" }

  // MARK: inputs

  func has(_ i: Int) -> Bool { i < inputs.count && inputs[i] != nil }

  /// Input i, which must be present (not an empty name).
  func value(_ i: Int) throws -> ImportValue {
    guard has(i) else { throw fail("input \(i) is missing") }
    return inputs[i]!
  }

  func requireInputs(_ range: ClosedRange<Int>) throws {
    let present = inputs.count
    guard range.contains(present) else {
      throw fail("takes \(range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound)–\(range.upperBound)") inputs, got \(present)")
    }
  }

  /// Input i as a tensor computed by the model.
  func runtime(_ i: Int) throws -> RuntimeValue {
    guard has(i) else { throw fail("input \(i) is missing") }
    guard let r = inputs[i]!.runtime else {
      throw fail("input \(i) ('\(inputName(i))') is a constant where this importer needs a computed tensor")
    }
    return r
  }

  /// Input i as a value known at import (an initializer, a Constant or a folded shape).
  func constant(_ i: Int) throws -> ConstantTensor {
    guard has(i) else { throw fail("input \(i) is missing") }
    guard let c = inputs[i]!.constant else {
      throw fail("input \(i) ('\(inputName(i))') must be known at import (an initializer or a foldable shape computation); a computed value there is not supported")
    }
    return c
  }

  func optionalConstant(_ i: Int) throws -> ConstantTensor? { has(i) ? try constant(i) : nil }

  /// Integer values of constant input i.
  func ints(_ i: Int) throws -> [Int] { try constant(i).intValues("node '\(name)' input \(i) ('\(inputName(i))')") }

  // MARK: attributes

  func attribute(_ key: String) -> Onnx_AttributeProto? { node.attribute.first { $0.name == key } }

  func int(_ key: String, default value: Int? = nil) throws -> Int {
    guard let a = attribute(key) else {
      guard let value else { throw fail("attribute '\(key)' is missing") }
      return value
    }
    guard a.type == .int || (a.type == .undefined && a.hasI) else { throw fail("attribute '\(key)' must be an integer") }
    guard a.i >= Int64(Int32.min), a.i <= Int64(Int32.max) else { throw fail("attribute '\(key)' = \(a.i) is out of range") }
    return Int(a.i)
  }

  func ints(_ key: String) throws -> [Int]? {
    guard let a = attribute(key) else { return nil }
    guard a.type == .ints || a.type == .undefined else { throw fail("attribute '\(key)' must be a list of integers") }
    guard a.ints.allSatisfy({ $0 >= Int64(Int32.min) && $0 <= Int64(Int32.max) }) || key == "starts" || key == "ends" else {
      throw fail("attribute '\(key)' has a value out of range")
    }
    return a.ints.map { Int(clamping: $0) }
  }

  func float(_ key: String, default value: Float) throws -> Float {
    guard let a = attribute(key) else { return value }
    guard a.type == .float || (a.type == .undefined && a.hasF) else { throw fail("attribute '\(key)' must be a float") }
    guard a.f.isFinite else { throw fail("attribute '\(key)' = \(a.f) must be finite") }
    return a.f
  }

  func floats(_ key: String) throws -> [Float]? {
    guard let a = attribute(key) else { return nil }
    guard a.type == .floats || a.type == .undefined else { throw fail("attribute '\(key)' must be a list of floats") }
    return a.floats
  }

  func string(_ key: String, default value: String) throws -> String {
    guard let a = attribute(key) else { return value }
    guard a.type == .string || (a.type == .undefined && a.hasS) else { throw fail("attribute '\(key)' must be a string") }
    return String(decoding: a.s, as: UTF8.self)
  }

  func tensor(_ key: String) throws -> ConstantTensor? {
    guard let a = attribute(key) else { return nil }
    guard a.type == .tensor || (a.type == .undefined && a.hasT) else { throw fail("attribute '\(key)' must be a tensor") }
    return try ConstantTensor(a.t, file: importer.file, cache: &importer.externalCache)
  }

  /// Attributes this importer does not implement: refused when set to anything but their default.
  func refuse(_ key: String, unless allowed: (Onnx_AttributeProto) -> Bool) throws {
    if let a = attribute(key), !allowed(a) { throw fail("attribute '\(key)' with this value is not supported") }
  }

  // MARK: building

  /// Adds a model node named after this ONNX node.
  func add(_ layer: any Layer, _ inputs: [RuntimeValue], suffix: String? = nil, tensorNames: [String: String] = [:]) -> Int {
    importer.graph.add(suffix.map { "\(name)/\($0)" } ?? name, layer, inputs.map(\.node), tensorNames: tensorNames)
  }

  /// Claims initializer input i as this node's tensor `local` ("weight", "running_mean", ...).
  func claim(_ i: Int, as local: String, into names: inout [String: String]) throws {
    let initializer = inputName(i)
    try importer.claim(initializer, by: name)
    names[local] = initializer
  }

  /// The one reader of input i's value, and that reader is this node (folding into the producer
  /// is then safe).
  func isSoleReader(of i: Int) -> Bool { importer.useCount(inputName(i)) == 1 }
}

/// Normalises an axis against a rank (negative axes count from the end).
func normalizedAxis(_ axis: Int, rank: Int, _ context: NodeContext) throws -> Int {
  let a = axis < 0 ? axis + rank : axis
  guard (0..<rank).contains(a) else { throw context.fail("axis \(axis) is out of range for rank \(rank)") }
  return a
}
