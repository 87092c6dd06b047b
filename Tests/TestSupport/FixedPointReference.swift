import TensorCore

/// Scalar reference forms of quantization and requantization, one value at a time, for tests
/// that check the vectorized kernels (fake-quant, observers, integer convolution) against them.
/// Rounding goes through `RoundingRule` (ck_round.h), as in the kernels.
public enum FixedPointMath {
  /// Clamps an integer code into [qmin, qmax].
  @inline(__always) public static func saturate(_ v: Int64, _ qmin: Int, _ qmax: Int) -> Int64 {
    v < Int64(qmin) ? Int64(qmin) : (v > Int64(qmax) ? Int64(qmax) : v)
  }

  /// The integer code of x in a power-of-two format: saturate(round(x · 2^f)).
  /// Multiplying by a power of two is exact, so this equals the fake-quant kernel's integer.
  @inline(__always) public static func quantize(_ x: Float, _ format: FixedPointFormat, _ rule: RoundingRule) -> Int64 {
    let scaled = Double(x) * Double(sign: .plus, exponent: format.fractionalBits, significand: 1)
    return saturate(Int64(rule.round(scaled)), format.qmin, format.qmax)
  }

  /// The value of an integer code.
  @inline(__always) public static func dequantize(_ q: Int64, _ format: FixedPointFormat) -> Double {
    Double(q) * format.scale
  }

  /// Requantization of an exact integer accumulator at `fromBits` fractional bits into `to`:
  /// saturate(round(acc · 2^(to.f − fromBits))), by integer shifts.
  @inline(__always) public static func requantize(_ acc: Int64, fromFractionalBits fromBits: Int, to format: FixedPointFormat,
                                                  _ rule: RoundingRule) -> Int64 {
    saturate(rule.shiftRight(acc, by: fromBits - format.fractionalBits), format.qmin, format.qmax)
  }

  /// The integer code of x in an affine format for channel c.
  @inline(__always) public static func quantize(_ x: Float, _ format: AffineFormat, channel c: Int, _ rule: RoundingRule) -> Int64 {
    let inv = 1 / format.scales[c]
    return saturate(Int64(rule.round(x * inv)) + Int64(format.zeroPoints[c]), format.qmin, format.qmax)
  }
}
