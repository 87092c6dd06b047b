import CKernels

/// How a value between two integers becomes an integer. Every rounding site in swift-qat names one;
/// all of them evaluate through the C functions in `ck_round.h`, shared by fake-quant and the
/// integer simulator.
public enum RoundingRule: String, Sendable, Codable, CaseIterable {
  /// Ties to even (vai_q "std_round": weights, bias, input).
  case halfToEven = "half_even"
  /// Ties toward +infinity, floor(x + 0.5) (DPU activations).
  case halfUp = "half_up"
  /// Ties away from zero (C `roundf`, Swift's bare `rounded()`).
  case halfAwayFromZero = "half_away"
  case floor
  case ceil
  case towardZero = "toward_zero"

  public var c: ck_rounding {
    switch self {
    case .halfToEven: CK_ROUND_HALF_EVEN
    case .halfUp: CK_ROUND_HALF_UP
    case .halfAwayFromZero: CK_ROUND_HALF_AWAY
    case .floor: CK_ROUND_FLOOR
    case .ceil: CK_ROUND_CEIL
    case .towardZero: CK_ROUND_TOWARD_ZERO
    }
  }

  @inline(__always) public func round(_ x: Float) -> Float { ck_round_f32(x, c) }
  @inline(__always) public func round(_ x: Double) -> Double { ck_round_f64(x, c) }

  /// v * 2^-shift rounded with this rule, in integer arithmetic (shift <= 0 multiplies exactly).
  @inline(__always) public func shiftRight(_ v: Int64, by shift: Int) -> Int64 {
    ck_shift_round_i64(v, Int32(shift), c)
  }
}
