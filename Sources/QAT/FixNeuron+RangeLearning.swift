import Autograd
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Layers
import TensorCore

/// A learned range and its parameter: LSQ's float step or TQT's log2 threshold.
public enum RangeLearning {
  case lsq(step: Parameter)
  case tqt(log2Threshold: Parameter)

  public var parameter: Parameter {
    switch self {
    case .lsq(let p), .tqt(let p): p
    }
  }

  public var kind: QuantSpec.Learning {
    switch self {
    case .lsq: .lsq
    case .tqt: .tqt
    }
  }
}

/// Range learning for QAT: LSQ (learned float step, gradient scaled by 1/sqrt(numel · qmax)) and
/// TQT (learned log2 threshold; the scale is the power of two 2^ceil(log2 t) / 2^(bits−1), so the
/// format stays a fix position).
extension FixNeuron {
  /// The learned-range parameter, if the range is learned.
  public var rangeParameter: Parameter? { rangeLearning?.parameter }

  /// Creates the range parameter from the frozen per-tensor format (call after calibration);
  /// `.none` returns to the frozen format.
  public func enableRangeLearning(_ learning: QuantSpec.Learning) throws {
    guard learning != .none else { rangeLearning = nil; return }
    guard let format else { throw QuantizationError("FixNeuron \(label): calibrate before enabling range learning") }
    switch (learning, format) {
    case (.tqt, .fixedPoint), (.lsq, .fixedPoint), (.lsq, .affine):
      break
    default:
      throw QuantizationError("FixNeuron \(label): \(learning) needs a per-tensor format, found \(format)")
    }
    let p = Parameter(Tensor([0]))
    rangeLearning = learning == .tqt ? .tqt(log2Threshold: p) : .lsq(step: p)
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
    guard let learning = rangeLearning, let s = formatScale else { return }
    switch learning {
    case .tqt(let p):
      // threshold t with 2^ceil(log2 t) / 2^(bits-1) = s: log2 t = log2 s + bits - 1
      p.value = Tensor([Float(Glibc.log2(s) + Double(tqtDivisorBits))])
    case .lsq(let p): p.value = Tensor([Float(s)])
    }
  }

  var tqtDivisorBits: Int { spec.signed ? spec.bits - 1 : spec.bits }

  func learnedQuantize(_ x: Tensor, _ learning: RangeLearning) -> Tensor {
    let (qmin, qmax) = (clampsNegatives ? max(Float(spec.qmin), 0) : Float(spec.qmin), Float(spec.qmax))
    // gradient scaled like LSQ's (1/sqrt(numel · qmax)) so plain SGD learning rates work
    let g = Float(1 / (Double(x.count) * Double(spec.qmax)).squareRoot())
    switch learning {
    case .tqt(let p):
      let scale = p.tensor.scalingGradient(by: g).roundedSTE(.ceil).exp2() * Float(Double.pow2(-Double(tqtDivisorBits)))
      return x.fakeQuantized(learnedScale: scale, qmin: qmin, qmax: qmax, rounding: spec.rounding)
    case .lsq(let p):
      let scale = p.tensor.maximum(1e-8).scalingGradient(by: g)
      return x.fakeQuantized(learnedScale: scale, qmin: qmin, qmax: qmax, rounding: spec.rounding)
    }
  }

  /// Writes the learned range back into the frozen format (end of QAT, before export).
  public func freezeLearnedRange() {
    switch (rangeLearning, format) {
    case (.tqt(let p)?, .fixedPoint(var f)?):
      f.fractionalBits = tqtDivisorBits - Int(Double(p.value.scalar).rounded(.up))
      format = .fixedPoint(f)
    case (.lsq(let p)?, .affine(var a)?):
      a.scales = [Swift.max(p.value.scalar, 1e-8)]
      format = .affine(a)
    case (.lsq(let p)?, .fixedPoint(var f)?):
      // nearest power of two to the learned step
      f.fractionalBits = -Int(Glibc.log2(Double(Swift.max(p.value.scalar, 1e-8))).rounded())
      format = .fixedPoint(f)
    default: break
    }
  }
}
