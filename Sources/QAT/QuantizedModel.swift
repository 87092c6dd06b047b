import Autograd
import Layers
import TensorCore

/// A model prepared for quantization: the rewritten graph (batch norms folded, FixNeurons on the
/// input, every weight and bias and every activation output), the configuration it was prepared
/// with, and the groups of quantizers that must share a position (concat inputs, pool in/out).
/// Quantizers are referenced by identity; their labels name them only in files.
public final class QuantizedModel {
  public let model: Model
  public let config: QuantizationConfig
  /// Quantizers that share one fix position (the inputs and output of a concat), applied after calibration.
  public internal(set) var alignmentGroups: [[FixNeuron]] = []
  /// Outputs that take their input's position (average pools under align_pool, non-zero padding).
  public internal(set) var positionTies: [(output: FixNeuron, input: FixNeuron)] = []
  /// Position changes made for the DPU's shift ranges (kept in the quantization JSON).
  public internal(set) var adjustments: [ShiftConstraints.Adjustment] = []
  /// Nodes left in float (outside input_nodes / output_nodes, or in ignore_nodes): the deployed
  /// graph ends where they begin.
  public internal(set) var floatNodes: Set<String> = []
  /// The activation quantizer nodes `Prepare` inserted, by the identity of their layer.
  private var quantizerNodes: [ObjectIdentifier: FixNeuron] = [:]

  init(model: Model, config: QuantizationConfig) {
    self.model = model
    self.config = config
  }

  /// Records an activation quantizer inserted as a graph node.
  func registerNode(_ q: FixNeuron) { quantizerNodes[ObjectIdentifier(q)] = q }

  /// The activation (or input) quantizer that node i is, if it is one.
  public func activationQuantizer(atNode i: Int) -> FixNeuron? { quantizerNodes[ObjectIdentifier(model.nodes[i].layer)] }

  /// Activation and input quantizers (graph nodes), in node order.
  public var activationQuantizers: [FixNeuron] { model.nodes.indices.compactMap(activationQuantizer(atNode:)) }

  /// Layers with weight quantizers, with their node names.
  public var weightLayers: [(name: String, layer: any WeightQuantized)] {
    model.nodes.compactMap { n in (n.layer as? any WeightQuantized).map { (n.name, $0) } }
  }

  /// Every quantizer: weights and biases (node order), then activations (node order).
  public var quantizers: [FixNeuron] {
    weightLayers.flatMap { [$0.layer.weightQuantizer] + ($0.layer.biasQuantizer.map { [$0] } ?? []) } + activationQuantizers
  }

  /// The quantizer a file names (quantization JSON, command-line options, tests).
  public func quantizer(labelled label: String) -> FixNeuron? { quantizers.first { $0.label == label } }

  /// Sets every quantizer's mode (quantize fails if any is not calibrated).
  public func setMode(_ mode: FixNeuron.Mode) throws {
    for q in quantizers { try q.setMode(mode) }
  }

  /// Runs body on the float model (every quantizer bypassed), then switches every quantizer back
  /// to quantize, also when body throws. The model must be calibrated.
  public func asFloat<R>(_ body: () throws -> R) throws -> R {
    for q in quantizers { try q.setMode(.bypass) }
    let result: R
    do { result = try body() } catch {
      try setMode(.quantize)
      throw error
    }
    try setMode(.quantize)
    return result
  }

  public func callAsFunction(_ x: Tensor) -> Tensor { model(x) }

  /// Replaces every layer trained with its batch norm (QAT's Conv / Linear + BN) by its folded
  /// quantized layer (same quantizers): the form export and the simulator use. Outputs in
  /// inference mode are unchanged.
  public func foldBatchNorms() {
    for i in model.nodes.indices {
      if let l = model.nodes[i].layer as? any WeightQuantized, let bn = l.batchNorm {
        bn.freezeStatistics = true
        model.replaceLayer(at: i, with: l.folded())
      }
    }
    Prepare.linkQuantizers(self)
  }

  /// Forgets the recorded exact-path failures (before checking a new batch).
  public func clearExactPathFailures() {
    for (_, layer) in weightLayers { layer.clearExactPathFailure() }
  }

  /// Layers that needed the exact integer path and computed in float, with the reason.
  public var exactPathFailures: [(layer: String, reason: String)] {
    model.nodes.compactMap { n in ((n.layer as? any WeightQuantized)?.exactPathFailure).map { (n.name, $0) } }
  }
}
