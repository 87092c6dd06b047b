/// How a convolution's or linear layer's accumulator reaches its output grid (`requantize`):
/// a shift (power-of-two scales; the DPU), or an integer multiplier of 16 bits (Quark's
/// Int16Scale, TI TIDL) or 32 bits (gemmlowp, TFLite) followed by a right shift, which any
/// float scale ratio needs (per-channel weights with float scales).
public enum RequantizeMode: String, Sendable, Codable, CaseIterable {
  case powerOfTwo = "power_of_two"
  case int16, int32

  /// The multiplier's width, nil for a plain shift.
  public var multiplierBits: Int? {
    switch self {
    case .powerOfTwo: nil
    case .int16: 16
    case .int32: 32
    }
  }

  public init?(multiplierBits: Int) {
    switch multiplierBits {
    case 16: self = .int16
    case 32: self = .int32
    default: return nil
    }
  }
}

/// A positive real scale as `multiplier · 2^−shift`, the multiplier normalised into
/// [2^(bits−2), 2^(bits−1)) so it is a positive signed integer of `bits` bits with the most
/// precision (gemmlowp's QuantizeMultiplier). The mantissa rounds half away from zero, so the
/// error is at most half a unit of the multiplier's last bit: |m·2^−n − scale| ≤ 2^−(n+1).
public struct IntegerMultiplier: Hashable, Sendable, Codable {
  public var multiplier: Int64
  public var shift: Int

  public static let maxShift = 100

  public init(multiplier: Int64, shift: Int) {
    self.multiplier = multiplier
    self.shift = shift
  }

  public init(approximating scale: Double, bits: Int) throws {
    guard bits == 16 || bits == 32 else { throw FixedPointError("requantization multiplier: \(bits) bits, expected 16 or 32") }
    guard scale.isFinite, scale > 0 else { throw FixedPointError("requantization scale \(scale) is not a positive finite number") }
    // scale = f · 2^e with f in [0.5, 1)
    var e = Int(scale.exponent) + 1
    let f = scale.significand / 2
    var m = Int64((f * Double(Int64(1) << (bits - 1))).rounded(.toNearestOrAwayFromZero))
    if m == Int64(1) << (bits - 1) { m >>= 1; e += 1 }
    let n = bits - 1 - e
    guard n >= 0 else {
      throw FixedPointError("requantization scale \(scale) needs a left shift (above 2^\(bits - 1)); the output grid is far coarser than the accumulator")
    }
    guard n <= Self.maxShift else {
      throw FixedPointError("requantization scale \(scale) is below 2^-\(Self.maxShift - bits + 1): every output would round to 0")
    }
    (multiplier, shift) = (m, n)
  }

  /// The real scale this multiplier and shift stand for.
  public var value: Double { Double(multiplier) * Double(sign: .plus, exponent: -shift, significand: 1) }
}

/// The per-output-channel integer requantization of a conv / linear layer: accumulator
/// (+ bias codes shifted left by `biasShifts[c]`) times `multipliers[c]`, rounded right by its shift.
public struct ChannelRequantization: Hashable, Sendable {
  public var multipliers: [IntegerMultiplier]
  /// Left shift of each channel's bias code onto the accumulator (bias scale / accumulator scale
  /// as a power of two, ≥ 0).
  public var biasShifts: [Int]

  public init(multipliers: [IntegerMultiplier], biasShifts: [Int]) {
    self.multipliers = multipliers
    self.biasShifts = biasShifts
  }
}
