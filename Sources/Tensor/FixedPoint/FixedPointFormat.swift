/// Power-of-two fixed point ("fix position"): value = q · 2^-fractionalBits with q an integer of
/// `bits` bits (two's complement when signed). Displayed as QX.Y: X integer bits (excluding the
/// sign bit), Y = fractionalBits; signed 16-bit Q8.8 is the Micron DLA default.
public struct FixedPointFormat: Hashable, Sendable, Codable, CustomStringConvertible {
  public var bits: Int
  public var signed: Bool
  /// Position of the binary point; may be negative (coarser than 1) or exceed `bits`.
  public var fractionalBits: Int
  /// Narrow range: signed values use [-(2^(b-1) - 1), 2^(b-1) - 1] (arch DPUCADF8H activations).
  public var narrowRange: Bool

  /// Bit widths of a tensor's codes.
  public static let bitsRange = 2...16
  /// Positions the kernels handle (an accumulator's position is the sum of two).
  public static let fractionalBitsRange = -64...64

  public init(bits: Int, signed: Bool = true, fractionalBits: Int, narrowRange: Bool = false) {
    precondition(Self.bitsRange.contains(bits), "FixedPointFormat: bit width must be 2...16, got \(bits)")
    precondition(Self.fractionalBitsRange.contains(fractionalBits), "FixedPointFormat: fractional bits \(fractionalBits) out of range")
    self.bits = bits
    self.signed = signed
    self.fractionalBits = fractionalBits
    self.narrowRange = narrowRange
  }

  /// Smallest integer code.
  public var qmin: Int { CodeRange(bits: bits, signed: signed, narrowRange: narrowRange).qmin }
  /// Largest integer code.
  public var qmax: Int { CodeRange(bits: bits, signed: signed, narrowRange: narrowRange).qmax }
  /// 2^-fractionalBits.
  public var scale: Double { Double(sign: .plus, exponent: -fractionalBits, significand: 1) }
  /// Largest representable magnitude.
  public var maxValue: Double { Double(qmax) * scale }

  /// "Q4.3" (signed: integer bits exclude the sign bit), "UQ5.3" when unsigned.
  public var description: String {
    let integer = bits - (signed ? 1 : 0) - fractionalBits
    return "\(signed ? "" : "U")Q\(integer).\(fractionalBits)"
  }

  /// The position of an exact conv / linear accumulator: input position plus weight position
  /// (the one rule behind shift_cut = w + i − o and shift_bias = w + i − b).
  public static func accumulatorFractionalBits(input: Int, weight: Int) -> Int { input + weight }

  /// The grid for fake quantization with the given rounding.
  public func grid(rounding: RoundingRule) -> QuantGrid {
    QuantGrid(scale: Float(scale), qmin: Float(qmin), qmax: Float(qmax), rounding: rounding)
  }

  /// The largest number of fractional bits whose range still holds `magnitude` without
  /// saturating (the non-overflow position). Zero magnitude gives the finest position in range.
  public static func nonOverflowFractionalBits(for magnitude: Double, bits: Int, signed: Bool = true, narrowRange: Bool = false) -> Int {
    let qmax = Double(FixedPointFormat(bits: bits, signed: signed, fractionalBits: 0, narrowRange: narrowRange).qmax)
    guard magnitude > 0 && magnitude.isFinite else { return bits - 1 }
    // largest f with magnitude · 2^f <= qmax
    var f = Int((qmax / magnitude).exponent)
    while magnitude * Double(sign: .plus, exponent: f + 1, significand: 1) <= qmax { f += 1 }
    while magnitude * Double(sign: .plus, exponent: f, significand: 1) > qmax { f -= 1 }
    return max(-64, min(64, f))
  }
}
