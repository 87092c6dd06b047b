import DeployFormat
import Foundation
import Layers
import QAT
import TensorCore

/// Writes a deploy directory: deploy.json (graph), weights.h5 (integer payload) and the
/// quantization summaries other tools read (vai_q quant_info, NVDLA int8.json, xfDNN JSON).
public enum Exporter {
  public struct Report: Sendable {
    public var nodes: Int
    public var tensors: Int
    public var adjustments: [ShiftAdjustment]
  }

  /// Folds QAT Conv+BN layers, enforces the DPU shift ranges on `qm` (changing its positions),
  /// then lowers and writes.
  @discardableResult
  public static func export(_ qm: QuantizedModel, to directory: String, enforceShifts: Bool = true) throws -> Report {
    qm.foldBatchNorms()  // QAT Conv+BN layers become their folded convolutions
    if enforceShifts { ShiftConstraints.enforce(qm) }
    let adjustments = qm.adjustments.map {
      ShiftAdjustment(node: $0.node, tensor: $0.tensor.rawValue, from: $0.from, to: $0.to, reason: $0.reason)
    }
    var (graph, payload) = try lower(qm)
    graph.adjustments = adjustments
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try payload.write(to: directory + "/" + DeployGraph.payloadFile)
    try graph.write(directory: directory)
    try QuantizationSummaries.write(graph, payload: payload, to: directory)
    return Report(nodes: graph.nodes.count, tensors: graph.tensors.count, adjustments: adjustments)
  }

  /// The deploy graph and payload of a calibrated model (no files written, no positions moved).
  public static func lower(_ qm: QuantizedModel) throws -> (DeployGraph, DeployPayload) {
    var l = Lowering(qm)
    return try l.run()
  }
}

extension Exporter {
  /// The nodes of a prepared model the deploy format cannot express (checked before calibration:
  /// `qat inspect` and `qat quantize` name them up front), with the reason.
  public static func unsupportedNodes(_ qm: QuantizedModel) -> [(node: String, reason: String)] {
    let model = qm.model
    return model.nodes.indices.compactMap { i in
      let node = model.nodes[i]
      if model.inputNodes.contains(i) || qm.activationQuantizer(atNode: i) != nil { return nil }
      if let w = node.layer as? any WeightQuantized {
        return w.core is any LowerableWeightBearing ? nil : (node.name, "\(w.core.kind) has no deploy op")
      }
      return node.layer is any Lowerable ? nil : (node.name, "\(node.layer.kind) has no integer implementation in the deploy format")
    }
  }
}
