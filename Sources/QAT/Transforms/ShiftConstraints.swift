import Layers
import TensorCore

/// The DPU's shift ranges for conv / linear layers, enforced by moving fix positions (vai_q's
/// adjust_shift_cut and adjust_shift_bias). With input position i, weight w, output o, bias b:
/// shift_cut = w + i − o must lie in [0, 16]; shift_bias = w + i − b in
/// [min(0, shift_cut − 16), 16]. Positions move on the FixNeurons, so the fake-quant model (during
/// QAT too) and the export see the same adjusted formats.
public enum ShiftConstraints {
  /// A position change: the node's name and which of its tensors moved (names as written in the
  /// quantization JSON and the deploy graph).
  public struct Adjustment: Sendable, Equatable, Codable {
    public enum Target: String, Sendable, Codable { case input, output, weight, bias }
    public var node: String
    public var tensor: Target
    public var from: Int
    public var to: Int
    public var reason: String

    enum CodingKeys: String, CodingKey, CaseIterable { case node, tensor, from, to, reason }

    public init(node: String, tensor: Target, from: Int, to: Int, reason: String) {
      (self.node, self.tensor, self.from, self.to, self.reason) = (node, tensor, from, to, reason)
    }

    public init(from decoder: Decoder) throws {
      try decoder.rejectUnknownKeys(CodingKeys.self)
      let c = try decoder.container(keyedBy: CodingKeys.self)
      node = try c.decode(String.self, forKey: .node)
      tensor = try c.decode(Target.self, forKey: .tensor)
      from = try c.decode(Int.self, forKey: .from)
      to = try c.decode(Int.self, forKey: .to)
      reason = try c.decode(String.self, forKey: .reason)
    }
  }

  public static let maxShift = 16

  /// Applies the constraints the configuration enables (adjust_shift_cut / adjust_shift_bias)
  /// and re-aligns shared positions, until nothing changes. Records them on the model. Then the
  /// bias grids that follow from the final formats (multiplier requantization) are derived.
  @discardableResult
  public static func enforce(_ qm: QuantizedModel) throws -> [Adjustment] {
    var all: [Adjustment] = []
    Calibration.applyAlignment(qm)  // learned ranges (QAT) may have moved members of a group apart
    for _ in 0..<8 {
      let round = enforceOnce(qm, cut: qm.config.adjustShiftCut == .adjust, bias: qm.config.adjustShiftBias == .adjust)
      if round.isEmpty { break }
      all += round
      Calibration.applyAlignment(qm)
    }
    qm.adjustments += all
    try Requantization.deriveBiasFormats(qm)
    return all
  }

  /// For formats re-derived from the current weights (QAT refreshes them every step): their
  /// earlier adjustments no longer apply, so the list keeps only those of the latest derivation.
  @discardableResult
  public static func enforceAfterWeightRefresh(_ qm: QuantizedModel) throws -> [Adjustment] {
    qm.adjustments.removeAll { $0.tensor == .weight || $0.tensor == .bias }
    return try enforce(qm)
  }

  static func enforceOnce(_ qm: QuantizedModel, cut enforceCut: Bool, bias enforceBias: Bool) -> [Adjustment] {
    var changes = DPUPositionRules.enforce(qm)
    for (name, layer) in qm.weightLayers {
      guard let inQ = layer.inputQuantizer, let outQ = layer.outputQuantizer,
            let fi = inQ.fixedPointFormat, var fo = outQ.fixedPointFormat, var fw = layer.weightQuantizer.fixedPointFormat else { continue }
      let i = fi.fractionalBits
      var cut = FixedPointFormat.accumulatorFractionalBits(input: i, weight: fw.fractionalBits) - fo.fractionalBits
      if !enforceCut {
        // positions stay; only the bias range below may move
      } else if cut < 0 {
        let to = FixedPointFormat.accumulatorFractionalBits(input: i, weight: fw.fractionalBits)
        changes.append(Adjustment(node: name, tensor: .output, from: fo.fractionalBits, to: to,
                                  reason: "shift_cut \(cut) < 0: output position lowered"))
        fo.fractionalBits = to
        outQ.setFormat(.fixedPoint(fo))
        cut = 0
      } else if cut > maxShift {
        let to = fo.fractionalBits - i + maxShift
        changes.append(Adjustment(node: name, tensor: .weight, from: fw.fractionalBits, to: to,
                                  reason: "shift_cut \(cut) > \(maxShift): weight position lowered"))
        fw.fractionalBits = to
        layer.weightQuantizer.setFormat(.fixedPoint(fw))
        cut = maxShift
      }
      guard enforceBias, let bq = layer.biasQuantizer, var fb = bq.fixedPointFormat else { continue }
      let acc = FixedPointFormat.accumulatorFractionalBits(input: i, weight: fw.fractionalBits)
      let shiftBias = acc - fb.fractionalBits, lower = min(0, cut - maxShift)
      if shiftBias < lower {
        changes.append(Adjustment(node: name, tensor: .bias, from: fb.fractionalBits, to: acc - lower,
                                  reason: "shift_bias \(shiftBias) < \(lower): bias position lowered"))
        fb.fractionalBits = acc - lower
        bq.setFormat(.fixedPoint(fb))
      } else if shiftBias > maxShift {
        changes.append(Adjustment(node: name, tensor: .bias, from: fb.fractionalBits, to: acc - maxShift,
                                  reason: "shift_bias \(shiftBias) > \(maxShift): bias position raised"))
        fb.fractionalBits = acc - maxShift
        bq.setFormat(.fixedPoint(fb))
      }
    }
    return changes
  }

  /// shift_cut and shift_bias of a layer (nil without power-of-two formats).
  public static func shifts(_ layer: any WeightQuantized) -> (cut: Int, bias: Int?)? {
    guard let fi = layer.inputQuantizer?.fixedPointFormat, let fo = layer.outputQuantizer?.fixedPointFormat,
          let fw = layer.weightQuantizer.fixedPointFormat else { return nil }
    let acc = FixedPointFormat.accumulatorFractionalBits(input: fi.fractionalBits, weight: fw.fractionalBits)
    return (acc - fo.fractionalBits, layer.biasQuantizer?.fixedPointFormat.map { acc - $0.fractionalBits })
  }
}
