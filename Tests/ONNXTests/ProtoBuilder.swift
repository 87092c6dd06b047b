import Foundation
import SwiftProtobuf
@testable import ONNX

/// Small ONNX models built in the tests (no Python needed): a graph of nodes over a float input
/// [batch, C, H, W], with float initializers.
struct ProtoBuilder {
  var nodes: [Onnx_NodeProto] = []
  var initializers: [Onnx_TensorProto] = []
  var inputShape: [Int64] = [1, 2, 6, 6]
  var outputs: [String] = []
  var opset: Int64 = 17

  static func tensor(_ name: String, _ dims: [Int64], _ values: [Float]) -> Onnx_TensorProto {
    var t = Onnx_TensorProto()
    t.name = name
    t.dims = dims
    t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    t.floatData = values
    return t
  }

  static func ints(_ name: String, _ values: [Int64]) -> Onnx_TensorProto {
    var t = Onnx_TensorProto()
    t.name = name
    t.dims = [Int64(values.count)]
    t.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
    t.int64Data = values
    return t
  }

  static func attribute(_ name: String, ints: [Int64]) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name
    a.type = .ints
    a.ints = ints
    return a
  }

  static func attribute(_ name: String, int: Int64) -> Onnx_AttributeProto {
    var a = Onnx_AttributeProto()
    a.name = name
    a.type = .int
    a.i = int
    return a
  }

  mutating func node(_ op: String, _ inputs: [String], _ output: String, name: String? = nil, attributes: [Onnx_AttributeProto] = []) {
    var n = Onnx_NodeProto()
    n.opType = op
    n.input = inputs
    n.output = [output]
    n.name = name ?? output
    n.attribute = attributes
    nodes.append(n)
  }

  /// A conv (2 → 3 channels, 3x3, pad 1) and a ReLU.
  static func convRelu() -> ProtoBuilder {
    var b = ProtoBuilder()
    b.initializers = [tensor("w", [3, 2, 3, 3], (0..<54).map { Float($0 % 7) * 0.1 - 0.3 }), tensor("b", [3], [0.1, -0.2, 0.3])]
    b.node("Conv", ["input", "w", "b"], "conv", attributes: [attribute("pads", ints: [1, 1, 1, 1])])
    b.node("Relu", ["conv"], "relu")
    b.outputs = ["relu"]
    return b
  }

  var model: Onnx_ModelProto {
    var m = Onnx_ModelProto()
    m.irVersion = 8
    var opsetId = Onnx_OperatorSetIdProto()
    opsetId.version = opset
    m.opsetImport = [opsetId]
    var g = Onnx_GraphProto()
    g.name = "test"
    g.node = nodes
    g.initializer = initializers
    var input = Onnx_ValueInfoProto()
    input.name = "input"
    var type = Onnx_TypeProto.Tensor()
    type.elemType = 1
    var shape = Onnx_TensorShapeProto()
    shape.dim = inputShape.map { v in var d = Onnx_TensorShapeProto.Dimension(); d.dimValue = v; return d }
    type.shape = shape
    input.type.tensorType = type
    g.input = [input]
    g.output = outputs.map { o in var v = Onnx_ValueInfoProto(); v.name = o; return v }
    m.graph = g
    return m
  }

  func bytes() throws -> Data { try model.serializedData() }

  /// Imports these bytes, returning the error message (nil when the import succeeds).
  static func importError(_ data: Data) -> String? {
    do {
      _ = try ONNXImporter.load(try ONNXFile(bytes: data, path: "test.onnx"))
      return nil
    } catch { return "\(error)" }
  }
}
