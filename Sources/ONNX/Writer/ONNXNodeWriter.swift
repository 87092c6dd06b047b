import Foundation
import Layers
import TensorCore

/// A layer that has an ONNX form: it writes the nodes computing its output from its inputs.
protocol ONNXWritable: Layer {
  func writeONNX(_ w: inout ONNXNodeWriter) throws
}

/// What one model node writes: its input value names and shapes (batch of one), the value its
/// last node must produce, and the nodes and initializers written so far.
struct ONNXNodeWriter {
  let node: Model.Node
  let inputs: [String]
  let inputShapes: [Shape]
  let output: String
  let outputShape: Shape
  let opset: Int
  private(set) var nodes: [Onnx_NodeProto] = []
  private(set) var initializers: [Onnx_TensorProto] = []
  var wroteOutput: Bool { nodes.last?.output.first == output }

  init(node: Model.Node, inputs: [String], inputShapes: [Shape], output: String, outputShape: Shape, opset: Int) {
    (self.node, self.inputs, self.inputShapes, self.output, self.outputShape, self.opset) = (node, inputs, inputShapes, output, outputShape, opset)
  }

  var name: String { node.name }
  var input: String { inputs[0] }
  var inputRank: Int { inputShapes[0].rank }

  func fail(_ message: String) -> ONNXError {
    ONNXError("ONNX writer: node '\(name)' (\(node.layer.kind)): \(message)")
  }

  /// Writes the node producing this model node's output (named after the model node).
  /// `nodeName` renames the ONNX node where the importer names the model node after an earlier
  /// node of the sequence.
  mutating func final(_ op: String, _ inputs: [String], _ attributes: [Onnx_AttributeProto] = [], nodeName: String? = nil) {
    append(op, name: nodeName ?? name, inputs, output: output, attributes)
  }

  /// Writes an intermediate node named `<node>/<suffix>` and returns its output value's name.
  mutating func step(_ op: String, _ suffix: String, _ inputs: [String], _ attributes: [Onnx_AttributeProto] = [],
                     nodeName: String? = nil) -> String {
    let value = "\(name)/\(suffix)"
    append(op, name: nodeName ?? value, inputs, output: value, attributes)
    return value
  }

  private mutating func append(_ op: String, name: String, _ inputs: [String], output: String, _ attributes: [Onnx_AttributeProto]) {
    var n = Onnx_NodeProto()
    n.opType = op
    n.name = name
    n.input = inputs
    n.output = [output]
    n.attribute = attributes
    nodes.append(n)
  }

  /// The layer's parameter or buffer `local` as an initializer under its full name.
  mutating func tensor(_ local: String, _ value: Tensor, shape: [Int]? = nil) -> String {
    let name = node.fullName(of: local)
    initializers.append(Self.floatTensor(name, value.scalars, shape: shape ?? value.shape.dims))
    return name
  }

  /// A constant of this node named `<node>/<suffix>`.
  mutating func constant(_ suffix: String, floats: [Float], shape: [Int]) -> String {
    let name = "\(self.name)/\(suffix)"
    initializers.append(Self.floatTensor(name, floats, shape: shape))
    return name
  }

  mutating func constant(_ suffix: String, ints: [Int]) -> String {
    let name = "\(self.name)/\(suffix)"
    var t = Onnx_TensorProto()
    t.name = name
    t.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
    t.dims = [Int64(ints.count)]
    t.int64Data = ints.map(Int64.init)
    initializers.append(t)
    return name
  }

  static func floatTensor(_ name: String, _ values: [Float], shape: [Int]) -> Onnx_TensorProto {
    rawTensor(name, type: .float, shape: shape, bitPatterns: values.map(\.bitPattern))
  }

  /// A tensor whose raw_data holds `bitPatterns` little-endian (float / double values by their bit patterns).
  static func rawTensor<B: FixedWidthInteger>(_ name: String, type: Onnx_TensorProto.DataType, shape: [Int],
                                              bitPatterns: [B]) -> Onnx_TensorProto {
    var t = Onnx_TensorProto()
    t.name = name
    t.dataType = Int32(type.rawValue)
    t.dims = shape.map(Int64.init)
    var data = Data(capacity: bitPatterns.count * MemoryLayout<B>.size)
    for v in bitPatterns { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
    t.rawData = data
    return t
  }
}

/// ONNX attributes.
enum ONNXAttribute {
  static func int(_ name: String, _ v: Int) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto(); a.name = name; a.type = .int; a.i = Int64(v); return a
  }
  static func ints(_ name: String, _ v: [Int]) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto(); a.name = name; a.type = .ints; a.ints = v.map(Int64.init); return a
  }
  static func float(_ name: String, _ v: Float) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto(); a.name = name; a.type = .float; a.f = v; return a
  }
  static func string(_ name: String, _ v: String) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto(); a.name = name; a.type = .string; a.s = Data(v.utf8); return a
  }
}
