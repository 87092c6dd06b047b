import Autograd
import Layers
import TensorCore

/// Empirical bias correction (Nagel et al. 2019, "Data-free quantization", §4.2 with data; AIMET's
/// empirical bias correction; vai_q's include_bias_corr): quantizing weights and upstream
/// activations shifts the mean of each output channel. For every conv / linear layer in graph
/// order, the correction adds to its bias the difference, per output channel and before the
/// fused activation, between the mean output of the float model and that of the quantized model
/// (whose earlier layers are already corrected), measured on calibration batches. The bias format
/// is then re-derived from the new values and the DPU shift constraints re-applied. Later
/// corrections never change an earlier layer's input, so on the calibration batches every
/// corrected layer's mean output ends within half a bias step of the float model's.
public enum BiasCorrection {
  public struct Report: Sendable {
    /// Layers whose bias was corrected, with the largest |correction| in float units.
    public var corrected: [(layer: String, maxShift: Float)] = []
    /// Layers left alone (no bias parameter, or per-channel / training-form layers).
    public var skipped: [String] = []
  }

  /// Corrects the biases of a calibrated model with the batches `forEachBatch` produces (called
  /// once per layer plus once; it must produce the same batches each time). The model must be
  /// calibrated (quantize mode); its quantizers are left in quantize mode.
  @discardableResult
  public static func correct(_ qm: QuantizedModel,
                             forEachBatch: (_ body: (Tensor) throws -> Void) throws -> Void) throws -> Report {
    let model = qm.model
    guard qm.quantizers.allSatisfy({ $0.mode == .quantize }) else {
      throw QuantizationError("bias correction needs a calibrated model: call Calibration.calibrate first")
    }
    model.setPhase(.inference)
    var report = Report()
    var layers: [(index: Int, layer: any WeightQuantized, bias: Parameter)] = []
    for (i, node) in model.nodes.enumerated() {
      guard let layer = node.layer as? any WeightQuantized else { continue }
      guard let bias = layer.biasParameter, layer.batchNorm == nil else {
        report.skipped.append(node.name)
        continue
      }
      layers.append((i, layer, bias))
    }
    guard !layers.isEmpty else { return report }

    // The float model's mean outputs (every quantizer bypassed), all layers in one pass.
    let floatBias = layers.map { $0.bias.value }
    var floatSums = layers.map { [Double](repeating: 0, count: $0.bias.value.count) }
    var elements = [Int](repeating: 0, count: layers.count)
    try qm.asFloat {
      try model.withoutGradients {
        try forEachBatch { x in
          _ = model.forward([x]) { i, y in
            for (k, l) in layers.enumerated() where model.nodes[l.index].inputs[0] == i {
              elements[k] += accumulate(&floatSums[k], l.layer.preActivation(y, weight: l.layer.weightValue, bias: floatBias[k]))
            }
          }
        }
      }
    }
    guard elements.allSatisfy({ $0 > 0 }) else { throw QuantizationError("bias correction received no batches") }

    // Layer by layer: the quantized model's mean output with the corrections made so far.
    for (k, l) in layers.enumerated() {
      var sums = [Double](repeating: 0, count: l.bias.value.count)
      let w = l.layer.weightQuantizer(l.layer.weightValue)
      let deployed = l.layer.biasQuantizer.map { $0(l.bias.value) } ?? l.bias.value
      try model.withoutGradients {
        try forEachBatch { x in
          _ = model.forward([x]) { i, y in
            guard model.nodes[l.index].inputs[0] == i else { return }
            _ = accumulate(&sums, l.layer.preActivation(y, weight: w, bias: deployed))
          }
        }
      }
      // the quantized mean used the deployed bias Q(b): the new bias is Q(b) + shift, so that
      // Q(new bias) lands within half a bias step of the float mean
      let shift = zip(floatSums[k], sums).map { Float(($0 - $1) / Double(elements[k])) }
      l.bias.value = Tensor(zip(deployed.scalars, shift).map { $0 + $1 }, shape: l.bias.value.shape)
      if let bq = l.layer.biasQuantizer { try Calibration.calibrate(bq, l.bias.value); try bq.setMode(.quantize) }
      try ShiftConstraints.enforce(qm)
      report.corrected.append((model.nodes[l.index].name, shift.map(abs).max() ?? 0))
    }
    return report
  }

  /// Adds the per-channel (axis 1) totals of one batch's output to sums; returns the number of
  /// values per channel it added.
  static func accumulate(_ sums: inout [Double], _ y: Tensor) -> Int {
    let n = y.shape[0], c = y.shape[1], plane = y.count / (n * c)
    let v = y.scalars
    for ch in 0..<c {
      var s = 0.0
      for b in 0..<n { let base = (b * c + ch) * plane; for p in 0..<plane { s += Double(v[base + p]) } }
      sums[ch] += s
    }
    return n * plane
  }
}
