import Testing
import TensorCore

@Suite struct RoundingTests {
  // (input, half-even, half-up, half-away, floor, ceil, toward-zero)
  static let table: [(Float, Float, Float, Float, Float, Float, Float)] = [
    (2.5, 2, 3, 3, 2, 3, 2),
    (3.5, 4, 4, 4, 3, 4, 3),
    (-2.5, -2, -2, -3, -3, -2, -2),
    (-3.5, -4, -3, -4, -4, -3, -3),
    (0.5, 0, 1, 1, 0, 1, 0),
    (-0.5, -0, 0, -1, -1, -0, -0),
    (1.25, 1, 1, 1, 1, 2, 1),
    (-1.75, -2, -2, -2, -2, -1, -1),
    (0.49999997, 0, 0, 0, 0, 1, 0),
    (-0.49999997, -0, -0, -0, -1, -0, -0),
    (7, 7, 7, 7, 7, 7, 7),
  ]

  @Test func everyRuleOnTiesAndNegatives() {
    for row in Self.table {
      let x = row.0
      #expect(RoundingRule.halfToEven.round(x) == row.1, "half-even \(x)")
      #expect(RoundingRule.halfUp.round(x) == row.2, "half-up \(x)")
      #expect(RoundingRule.halfAwayFromZero.round(x) == row.3, "half-away \(x)")
      #expect(RoundingRule.floor.round(x) == row.4, "floor \(x)")
      #expect(RoundingRule.ceil.round(x) == row.5, "ceil \(x)")
      #expect(RoundingRule.towardZero.round(x) == row.6, "toward-zero \(x)")
    }
  }

  @Test func tensorKernelMatchesScalarFunction() {
    let xs: [Float] = Self.table.map(\.0) + (0..<4000).map { Float($0 - 2000) * 0.25 + 0.0001 * Float($0 % 3) }
    let t = Tensor(xs)
    for rule in RoundingRule.allCases {
      #expect(Kernels.round(t, rule).scalars == xs.map { rule.round($0) }, "\(rule)")
    }
  }

  /// The integer shift used by the simulator equals float rounding of v·2^-s for every rule.
  @Test(arguments: RoundingRule.allCases)
  func integerShiftMatchesFloatRounding(rule: RoundingRule) {
    for shift in 0...6 {
      for v in Int64(-300)...Int64(300) {
        let expected = rule.round(Double(v) * Double(sign: .plus, exponent: -shift, significand: 1))
        #expect(rule.shiftRight(v, by: shift) == Int64(expected), "v \(v) shift \(shift)")
      }
    }
    var rng = RandomGenerator(seed: 3)
    for _ in 0..<20000 {
      let v = Int64(bitPattern: rng.next()) >> 14  // 50-bit values
      let shift = rng.nextInt(below: 30) + 1
      let expected = rule.round(Double(v) * Double(sign: .plus, exponent: -shift, significand: 1))
      #expect(rule.shiftRight(v, by: shift) == Int64(expected))
    }
    #expect(rule.shiftRight(5, by: -3) == 40)
  }

  @Test func floatAndDoubleRoundingAgree() {
    var rng = RandomGenerator(seed: 11)
    for rule in RoundingRule.allCases {
      for _ in 0..<5000 {
        let x = Float(rng.nextInt(below: 1 << 16) - (1 << 15)) / 64
        #expect(Double(rule.round(x)) == rule.round(Double(x)))
      }
    }
  }
}
