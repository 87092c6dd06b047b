import DeployFormat
import Foundation
import Layers
import QAT
import TensorCore

/// Writes a deploy directory: deploy.json (graph), weights.h5 (integer payload) and the
/// quantization summaries other tools read (vai_q quant_info, NVDLA int8.json, xfDNN JSON,
/// a TensorRT calibration cache).
///
/// ```swift
/// let report = try Exporter.export(quantizedModel, to: "deploy")
/// for a in report.adjustments { print(a.node, a.tensor, a.from, "->", a.to, a.reason) }
/// ```
public enum Exporter {
  public struct Report: Sendable {
    public var nodes: Int
    public var tensors: Int
    public var adjustments: [ShiftAdjustment]
  }

  /// Folds QAT Conv+BN layers, enforces the DPU shift ranges on `qm` (changing its positions),
  /// then lowers and writes the directory as one unit (`writeDirectoryAtomically`: the complete
  /// old or the complete new directory, whatever happens); `alongside` adds files to the new
  /// directory before it replaces the old one (its argument is the directory being written).
  @discardableResult
  public static func export(_ qm: QuantizedModel, to directory: String, enforceShifts: Bool = true,
                            alongside: (String) throws -> Void = { _ in }) throws -> Report {
    let unsupported = unsupportedNodes(qm)
    guard unsupported.isEmpty else {
      throw DeployError("no integer form in the deploy format: " + unsupported.map { "node \($0.node): \($0.reason)" }.joined(separator: "; ")
                        + " (keep them in float with ignore_nodes or end the quantized region with output_nodes)")
    }
    qm.foldBatchNorms()  // QAT Conv+BN layers become their folded convolutions
    if enforceShifts { try ShiftConstraints.enforce(qm) }
    let adjustments = qm.adjustments.map {
      ShiftAdjustment(node: $0.node, tensor: $0.tensor.rawValue, from: $0.from, to: $0.to, reason: $0.reason)
    }
    var (graph, payload) = try lower(qm)
    graph.adjustments = adjustments
    if qm.config.simulateDPU && enforceShifts {
      // the DPU target: every rule the configuration enables holds at every node, or nothing is written
      let broken = try DPURules.violations(graph, DPURules.Options(qm.config))
      guard broken.isEmpty else {
        throw DeployError("the graph breaks DPU rules that could not all be met (conflicting constraints): \(broken.joined(separator: "; "))")
      }
    }
    try writeDirectoryAtomically(directory, owns: DeployGraph.directoryFiles.contains) { staging in
      try payload.write(to: staging + "/" + DeployGraph.payloadFile)
      try graph.write(directory: staging)
      try QuantizationSummaries.write(graph, payload: payload, to: staging)
      try alongside(staging)
    }
    return Report(nodes: graph.nodes.count, tensors: graph.tensors.count, adjustments: adjustments)
  }

  /// The deploy graph and payload of a calibrated model (no files written, no positions moved).
  public static func lower(_ qm: QuantizedModel) throws -> (DeployGraph, DeployPayload) {
    var l = Lowering(qm)
    return try l.run()
  }
}

extension DPURules.Options {
  /// The rules a quantization configuration enables.
  public init(_ config: QuantizationConfig) {
    self.init()
    alignConcat = config.alignConcat == .all
    alignPool = config.alignPool
    shiftCut = config.adjustShiftCut == .adjust
    shiftBias = config.adjustShiftBias == .adjust
  }
}

extension Exporter {
  /// The nodes of a prepared model the deploy format cannot express (checked before calibration:
  /// `qat inspect` and `qat quantize` name them up front), with the reason.
  public static func unsupportedNodes(_ qm: QuantizedModel) -> [(node: String, reason: String)] {
    let model = qm.model
    let shapes = model.outputShapes().mapValues { Array($0.dims.dropFirst()) }
    return model.nodes.indices.compactMap { i in
      let node = model.nodes[i]
      if model.inputNodes.contains(i) || qm.activationQuantizer(atNode: i) != nil || qm.floatNodes.contains(node.name) { return nil }
      if let w = node.layer as? any WeightQuantized {
        guard let core = w.core as? any LowerableWeightBearing else { return (node.name, "\(w.core.kind) has no deploy op") }
        return core.exportProblem(inputShape: shapes[node.inputs[0]] ?? []).map { (node.name, $0) }
      }
      guard let lowerable = node.layer as? any Lowerable else {
        return (node.name, "\(node.layer.kind) has no integer implementation in the deploy format")
      }
      return lowerable.exportProblem(inputShapes: node.inputs.map { shapes[$0] ?? [] }).map { (node.name, $0) }
    }
  }
}
