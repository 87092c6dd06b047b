import Autograd
import Glibc
import Layers
import TensorCore

/// Range learning for QAT: LSQ (learned float step, gradient scaled by 1/sqrt(numel · qmax)) and
/// TQT (learned log2 threshold; the scale is the power of two 2^ceil(log2 t) / 2^(bits−1), so the
/// format stays a fix position).
extension FixNeuron {
  /// Creates the range parameter from the frozen per-tensor format (call after calibration).
  public func enableRangeLearning(_ learning: QuantSpec.Learning) throws {
    guard learning != .none else { rangeParameter = nil; spec.learning = .none; return }
    guard let format else { throw QuantizationError("FixNeuron \(label): calibrate before enabling range learning") }
    switch (learning, format) {
    case (.tqt, .fixedPoint), (.lsq, .fixedPoint), (.lsq, .affine):
      break
    default:
      throw QuantizationError("FixNeuron \(label): \(learning) needs a per-tensor format, found \(format)")
    }
    spec.learning = learning
    rangeParameter = Parameter(Tensor([0]))
    syncRangeParameter()
  }

  /// Scale implied by the current format.
  var formatScale: Double? {
    switch format {
    case .fixedPoint(let f): f.scale
    case .affine(let a) where a.axis == nil: Double(a.scales[0])
    default: nil
    }
  }

  /// Sets the range parameter to match the current format.
  func syncRangeParameter() {
    guard let p = rangeParameter, let s = formatScale else { return }
    switch spec.learning {
    case .tqt:
      // threshold t with 2^ceil(log2 t) / 2^(bits-1) = s: log2 t = log2 s + bits - 1
      let position = Glibc.log2(s) + Double(tqtDivisorBits)
      p.value = Tensor([Float(position)])
    case .lsq: p.value = Tensor([Float(s)])
    case .none: break
    }
  }

  var tqtDivisorBits: Int { spec.signed ? spec.bits - 1 : spec.bits }

  func learnedQuantize(_ x: Tensor, _ p: Parameter) -> Tensor {
    let (qmin, qmax) = (clampsNegatives ? max(Float(spec.qmin), 0) : Float(spec.qmin), Float(spec.qmax))
    switch spec.learning {
    case .tqt:
      // gradient scaled like LSQ's (1/sqrt(numel · qmax)) so plain SGD learning rates work
      let g = Float(1 / (Double(x.count) * Double(spec.qmax)).squareRoot())
      let scale = p.tensor.scalingGradient(by: g).roundedSTE(.ceil).exp2() * Float(Double.pow2(-Double(tqtDivisorBits)))
      return x.fakeQuantized(learnedScale: scale, qmin: qmin, qmax: qmax, rounding: spec.rounding)
    case .lsq:
      let g = Float(1 / (Double(x.count) * Double(spec.qmax)).squareRoot())
      let scale = p.tensor.maximum(1e-8).scalingGradient(by: g)
      return x.fakeQuantized(learnedScale: scale, qmin: qmin, qmax: qmax, rounding: spec.rounding)
    case .none:
      return x
    }
  }

  /// Writes the learned range back into the frozen format (end of QAT, before export).
  public func freezeLearnedRange() {
    guard let p = rangeParameter else { return }
    switch (spec.learning, format) {
    case (.tqt, .fixedPoint(var f)?):
      f.fractionalBits = tqtDivisorBits - Int(Double(p.value.scalar).rounded(.up))
      format = .fixedPoint(f)
    case (.lsq, .affine(var a)?):
      a.scales = [Swift.max(p.value.scalar, 1e-8)]
      format = .affine(a)
    case (.lsq, .fixedPoint(var f)?):
      // nearest power of two to the learned step
      f.fractionalBits = -Int(Glibc.log2(Double(Swift.max(p.value.scalar, 1e-8))).rounded())
      format = .fixedPoint(f)
    default: break
    }
  }
}
