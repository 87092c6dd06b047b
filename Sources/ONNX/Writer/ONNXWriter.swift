import Foundation
import Layers
import SwiftProtobuf
import TensorCore

/// Writes a float `Model` as an ONNX file: one ONNX node (or a short fixed sequence) per model
/// node, in the model's order, with the model's node names and its parameters and buffers as
/// initializers under their full names — so importing the file gives back the same nodes, names
/// and outputs. Layers write themselves through `ONNXWritable`; a node whose layer has no ONNX
/// form is an error naming it. Batch-norm layers are written in their inference form (running
/// statistics), dropout as an identity.
public enum ONNXWriter {
  /// Opsets of the default domain the writer emits (ONNX operator specification).
  public static let supportedOpsets = 13...19

  public struct Options: Sendable {
    public var opset = 17
    /// Names of the graph's output values, in the model's output order (an imported model's
    /// names, so a round trip keeps them); the output node's name when absent.
    public var outputNames: [String]? = nil
    /// Name of the symbolic batch dimension of the inputs and outputs.
    public var batchDimension = "N"
    public var graphName = "swift-qat"
    public init() {}
  }

  /// The ONNX IR version that goes with an opset (onnx/helper's table: opset 13–14 IR 7,
  /// 15–18 IR 8, 19 IR 9).
  public static func irVersion(forOpset opset: Int) -> Int64 { opset <= 14 ? 7 : opset <= 18 ? 8 : 9 }

  /// Serialised ONNX bytes of the model.
  public static func bytes(_ model: Model, options: Options = Options()) throws -> Data {
    try proto(model, options: options).serializedData()
  }

  /// Writes the model to path (a temporary file renamed into place).
  public static func write(_ model: Model, to path: String, options: Options = Options()) throws {
    try writeFileAtomically(path, try bytes(model, options: options))
  }

  static func proto(_ model: Model, options: Options) throws -> Onnx_ModelProto {
    guard supportedOpsets.contains(options.opset) else {
      throw ONNXError("ONNX writer: opset \(options.opset) is not supported (writes \(supportedOpsets.lowerBound)–\(supportedOpsets.upperBound))")
    }
    if let names = options.outputNames, names.count != model.outputNodes.count {
      throw ONNXError("ONNX writer: \(names.count) output names for the model's \(model.outputNodes.count) outputs")
    }
    let shapes = model.outputShapes()
    guard !shapes.isEmpty else { throw ONNXError("ONNX writer: the model has no input shape") }

    // value names: a node's output is named after the node, a model output as asked
    var valueName = model.nodes.map(\.name)
    for (k, o) in model.outputNodes.enumerated() {
      if let names = options.outputNames { valueName[o] = names[k] }
    }
    var graph = Onnx_GraphProto()
    graph.name = options.graphName
    var used = Set<String>()
    for (i, node) in model.nodes.enumerated() {
      guard let shape = shapes[i] else { continue }
      if model.inputNodes.contains(i) {
        graph.input.append(valueInfo(valueName[i], shape, batch: options.batchDimension))
        used.insert(valueName[i])
        continue
      }
      guard let layer = node.layer as? any ONNXWritable else {
        throw ONNXError("ONNX writer: node '\(node.name)' (\(node.layer.kind)) has no ONNX form")
      }
      var w = ONNXNodeWriter(node: node, inputs: node.inputs.map { valueName[$0] }, inputShapes: node.inputs.map { shapes[$0]! },
                             output: valueName[i], outputShape: shape, opset: options.opset)
      try layer.writeONNX(&w)
      guard w.wroteOutput else { throw ONNXError("ONNX writer: node '\(node.name)' (\(node.layer.kind)) wrote no node producing '\(valueName[i])'") }
      let intermediate = w.nodes.dropLast().flatMap(\.output)
      for t in intermediate + w.initializers.map(\.name) {
        guard used.insert(t).inserted else { throw ONNXError("ONNX writer: the name '\(t)' is used twice (node '\(node.name)')") }
      }
      guard used.insert(valueName[i]).inserted else { throw ONNXError("ONNX writer: the value name '\(valueName[i])' is used twice (node '\(node.name)')") }
      graph.node += w.nodes
      graph.initializer += w.initializers
    }
    for o in model.outputNodes {
      graph.output.append(valueInfo(valueName[o], shapes[o]!, batch: options.batchDimension))
    }
    var m = Onnx_ModelProto()
    m.irVersion = irVersion(forOpset: options.opset)
    m.producerName = "swift-qat"
    var opset = Onnx_OperatorSetIdProto()
    opset.domain = ""
    opset.version = Int64(options.opset)
    m.opsetImport = [opset]
    m.graph = graph
    return m
  }

  /// A float tensor's value info with the batch axis symbolic.
  static func valueInfo(_ name: String, _ shape: Shape, batch: String) -> Onnx_ValueInfoProto {
    var t = Onnx_TypeProto.Tensor()
    t.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
    var s = Onnx_TensorShapeProto()
    s.dim = shape.dims.enumerated().map { k, d in
      var dim = Onnx_TensorShapeProto.Dimension()
      dim.value = k == 0 ? .dimParam(batch) : .dimValue(Int64(d))
      return dim
    }
    t.shape = s
    var v = Onnx_ValueInfoProto()
    v.name = name
    v.type.value = .tensorType(t)
    return v
  }
}
