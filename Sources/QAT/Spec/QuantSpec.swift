import TensorCore

/// What a quantizer produces: bit width, signedness, granularity, number format, rounding and the
/// calibration method (`Prepare` derives each quantizer's spec from the `QuantizationConfig`).
public struct QuantSpec: Hashable, Sendable, Codable {
  public enum Scheme: String, Hashable, Sendable, Codable {
    /// Power-of-two scales (fix positions): DPU, Micron DLA, TIDL.
    case powerOfTwo = "power_of_two"
    /// Float scale, zero point 0.
    case symmetric
    /// Float scale and zero point.
    case asymmetric
  }

  /// Range learning during QAT (a FixNeuron's `rangeLearning` holds the learned parameter).
  public enum Learning: String, Hashable, Sendable, Codable {
    case none
    /// Learned step size (Esser et al. 2020), float scale.
    case lsq
    /// Learned power-of-two position through a log2 threshold (Jain et al., vai_q_pytorch QAT).
    case tqt
  }

  public var bits: Int
  public var signed: Bool
  public var scheme: Scheme
  /// Channel axis for per-channel quantization (weights: 0), nil for per tensor.
  public var channelAxis: Int?
  public var rounding: RoundingRule
  public var method: CalibrationMethod
  /// Signed codes limited to [-(2^(b-1) − 1), 2^(b-1) − 1] (arch_type DPUCADF8H activations).
  public var narrowRange: Bool
  /// A fixed position instead of a calibrated one (Micron DLA without varfp: 16-bit Q8.8 is
  /// 8 fractional bits everywhere).
  public var fixedFractionalBits: Int?

  public init(bits: Int, signed: Bool = true, scheme: Scheme = .powerOfTwo, channelAxis: Int? = nil,
              rounding: RoundingRule = .halfToEven, method: CalibrationMethod = .minDiffs, narrowRange: Bool = false) {
    precondition((2...16).contains(bits), "QuantSpec: bit width must be 2...16, got \(bits)")
    self.bits = bits
    self.signed = signed
    self.scheme = scheme
    self.channelAxis = channelAxis
    self.rounding = rounding
    self.method = method
    self.narrowRange = narrowRange
  }

  public var qmin: Int { CodeRange(bits: bits, signed: signed, narrowRange: narrowRange).qmin }
  public var qmax: Int { CodeRange(bits: bits, signed: signed, narrowRange: narrowRange).qmax }
}
