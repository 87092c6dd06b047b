import Autograd
import Layers
import TensorCore

/// A model prepared for quantization: the rewritten graph (batch norms folded, FixNeurons on the
/// input, every weight and bias and every activation output), the configuration it was prepared
/// with, and the groups of quantizers that must share a position (concat inputs, pool in/out).
public final class QuantizedModel {
  public let model: Model
  public let config: QuantizationConfig
  /// Labels of quantizers that share one fix position, applied after calibration.
  public internal(set) var alignmentGroups: [[String]] = []
  /// Pool outputs that take their input's position: (pool output label, input label).
  public internal(set) var poolTies: [(output: String, input: String)] = []
  /// Position changes made for the DPU's shift ranges (kept in the quantization JSON).
  public internal(set) var adjustments: [ShiftConstraints.Adjustment] = []

  init(model: Model, config: QuantizationConfig) {
    self.model = model
    self.config = config
  }

  /// Activation and input quantizers (graph nodes), in node order.
  public var activationQuantizers: [FixNeuron] { model.nodes.compactMap { $0.layer as? FixNeuron } }

  /// Layers with weight quantizers, with their node names.
  public var weightLayers: [(name: String, layer: any WeightQuantized)] {
    model.nodes.compactMap { n in (n.layer as? any WeightQuantized).map { (n.name, $0) } }
  }

  /// Every quantizer: weights and biases (node order), then activations (node order).
  public var quantizers: [FixNeuron] {
    weightLayers.flatMap { [$0.layer.weightQuantizer] + ($0.layer.biasQuantizer.map { [$0] } ?? []) } + activationQuantizers
  }

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

  /// Node index of the FixNeuron quantizing the output of node `name` (after a fused
  /// activation), if any.
  public func outputQuantizerIndex(of name: String) -> Int? {
    model.nodes.firstIndex { ($0.layer as? FixNeuron)?.label == name }
  }

  public func callAsFunction(_ x: Tensor) -> Tensor { model(x) }

  /// Replaces every Conv+BN / Linear+BN training layer by its folded quantized layer (same quantizers):
  /// the form export and the simulator use. Outputs in inference mode are unchanged.
  public func foldBatchNorms() {
    for i in model.nodes.indices {
      if let l = model.nodes[i].layer as? QuantizedBatchNormFold {
        l.freezeStatistics = true
        model.replaceLayer(at: i, with: l.folded())
      }
    }
    Prepare.linkQuantizers(model)
  }
}
