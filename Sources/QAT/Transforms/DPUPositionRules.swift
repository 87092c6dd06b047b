import Layers
import TensorCore

/// The DPU's position rules for element-wise nodes (vai_q / Quark `adjust_shift_read`,
/// `adjust_shift_write`, the hard-sigmoid and hard-swish rules), with p the fix positions:
/// - add / sub: shift_read = max(p_in) − min(p_in) in [0, 7] (the finer input is coarsened),
///   shift_write = min(p_in) − p_out in [−7, 25] (the output moves);
/// - mul: shift_write = Σ p_in − p_out in [0, 32];
/// - DPU hard sigmoid: p_in in [0, 9] (the DPU takes [0, 15]; above 9 float32 could round, so the
///   fake-quant model would no longer equal the integer op), p_out ≥ 7 and
///   shift_sigmoid = 14 + p_in − p_out ≥ 0;
/// - DPU hard swish: its input as for the hard sigmoid, shift_swish = p_in + 7 − p_out in [0, 15].
public enum DPUPositionRules {
  public static let shiftRead = 0...7
  public static let addShiftWrite = -7...25
  public static let mulShiftWrite = 0...32
  public static let sigmoidInput = 0...9
  public static let sigmoidOutputMinimum = 7
  public static let swishShift = 0...15

  /// The rule families.
  public enum Kind: Sendable { case addOrSubtract, multiply, hardSigmoid, hardSwish }

  /// A node's position rule: its kind and the quantizers it reads and writes.
  struct Site {
    var node: String
    var kind: Kind
    var inputs: [FixNeuron]
    var output: FixNeuron
  }

  static func sites(_ qm: QuantizedModel) -> [Site] {
    let model = qm.model
    return model.nodes.indices.compactMap { i in
      let node = model.nodes[i]
      let kind: Kind
      if let op = (node.layer as? any BinaryArithmetic)?.binaryOperation, node.inputs.count == 2 {
        kind = op == .multiply ? .multiply : .addOrSubtract
      } else if let k = (node.layer as? any DPUPositionRuled)?.positionRule {
        kind = k
      } else {
        return nil
      }
      let inputs = node.inputs.compactMap { Prepare.quantizerFeeding(qm, $0) }
      guard inputs.count == node.inputs.count, let out = Prepare.outputQuantizer(qm, i) else { return nil }
      return Site(node: node.name, kind: kind, inputs: inputs, output: out)
    }
  }

  /// Moves positions until every element-wise node meets its rule; returns the changes.
  static func enforce(_ qm: QuantizedModel) -> [ShiftConstraints.Adjustment] {
    var changes: [ShiftConstraints.Adjustment] = []
    func move(_ q: FixNeuron, to p: Int, _ site: Site, _ tensor: ShiftConstraints.Adjustment.Target, _ reason: String) {
      guard var f = q.fixedPointFormat, f.fractionalBits != p else { return }
      changes.append(.init(node: site.node, tensor: tensor, from: f.fractionalBits, to: p, reason: reason))
      f.fractionalBits = p
      q.setFormat(.fixedPoint(f))
    }
    for site in sites(qm) {
      let pin = site.inputs.compactMap { $0.fixedPointFormat?.fractionalBits }
      guard pin.count == site.inputs.count, let pout = site.output.fixedPointFormat?.fractionalBits else { continue }
      switch site.kind {
      case .addOrSubtract:
        let lo = pin.min()!, hi = pin.max()!
        if hi - lo > shiftRead.upperBound {
          for q in site.inputs where q.fixedPointFormat!.fractionalBits > lo + shiftRead.upperBound {
            move(q, to: lo + shiftRead.upperBound, site, .input, "shift_read \(hi - lo) > \(shiftRead.upperBound): finer input coarsened")
          }
        }
        let write = lo - pout
        if !addShiftWrite.contains(write) {
          let to = lo - min(max(write, addShiftWrite.lowerBound), addShiftWrite.upperBound)
          move(site.output, to: to, site, .output, "shift_write \(write) outside [\(addShiftWrite.lowerBound), \(addShiftWrite.upperBound)]")
        }
      case .multiply:
        let sum = pin.reduce(0, +), write = sum - pout
        if !mulShiftWrite.contains(write) {
          let to = sum - min(max(write, mulShiftWrite.lowerBound), mulShiftWrite.upperBound)
          move(site.output, to: to, site, .output, "shift_write \(write) outside [\(mulShiftWrite.lowerBound), \(mulShiftWrite.upperBound)]")
        }
      case .hardSigmoid, .hardSwish:
        var p = pin[0]
        if !sigmoidInput.contains(p) {
          let to = min(max(p, sigmoidInput.lowerBound), sigmoidInput.upperBound)
          move(site.inputs[0], to: to, site, .input, "hard sigmoid input position \(p) outside [\(sigmoidInput.lowerBound), \(sigmoidInput.upperBound)]")
          p = to
        }
        if site.kind == .hardSigmoid {
          let to = min(max(pout, sigmoidOutputMinimum), 14 + p)
          if to != pout { move(site.output, to: to, site, .output, "hard sigmoid output position \(pout) outside [\(sigmoidOutputMinimum), 14 + input]") }
        } else {
          let shift = p + DPUHardSwish.sigmoidPosition - pout
          if !swishShift.contains(shift) {
            let to = p + DPUHardSwish.sigmoidPosition - min(max(shift, swishShift.lowerBound), swishShift.upperBound)
            move(site.output, to: to, site, .output, "shift_swish \(shift) outside [\(swishShift.lowerBound), \(swishShift.upperBound)]")
          }
        }
      }
    }
    return changes
  }
}

/// A DPU activation form with its own position rule.
public protocol DPUPositionRuled: Layer {
  var positionRule: DPUPositionRules.Kind { get }
}

extension DPUHardSigmoid: DPUPositionRuled {
  public var positionRule: DPUPositionRules.Kind { .hardSigmoid }
}

extension DPUHardSwish: DPUPositionRuled {
  public var positionRule: DPUPositionRules.Kind { .hardSwish }
}
