import Testing
import TensorCore
import TestSupport
@testable import QAT

@Suite struct ObserverTests {
  func calibrated(_ spec: QuantSpec, _ batches: [[Float]]) throws -> QuantFormat {
    var o = makeObserver(for: spec)
    for b in batches { try o.observe(Tensor(b)) }
    if o.needsSecondPass {
      o.beginSecondPass()
      for b in batches { try o.observe(Tensor(b)) }
    }
    return try o.format()
  }

  @Test func nonOverflowTakesTheFinestPositionThatHoldsTheMaximum() throws {
    // 3 · 2^5 = 96 <= 127 < 3 · 2^6
    let f = try calibrated(QuantSpec(bits: 8, method: .nonOverflow), [[0.5, -3], [1, 2]])
    #expect(f == .fixedPoint(FixedPointFormat(bits: 8, fractionalBits: 5)))
    #expect(f.fixedPoint?.description == "Q2.5")
    // a negative maximum magnitude counts too; 4-bit: 7 / 0.3 -> 2^4 · 0.3 = 4.8 <= 7 < 9.6
    #expect(try calibrated(QuantSpec(bits: 4, method: .nonOverflow), [[-0.3, 0.1]]).fixedPoint?.fractionalBits == 4)
  }

  @Test func minMaxAffine() throws {
    let f = try calibrated(QuantSpec(bits: 8, signed: false, scheme: .asymmetric, method: .minMax), [[-1, 0.5], [3]])
    guard case .affine(let a) = f else { Issue.record("expected affine, got \(f)"); return }
    #expect(a.scales == [Float(4.0 / 255)] && a.zeroPoints == [64])  // zp = round(0 − (−1)/(4/255)) = round(63.75)
    let s = try calibrated(QuantSpec(bits: 8, scheme: .symmetric, method: .minMax), [[-1, 0.5, 2.54]])
    #expect(s == .affine(AffineFormat(bits: 8, signed: true, scales: [Float(2.54 / 127)], zeroPoints: [0], axis: nil)))
  }

  @Test func movingAverageMinMax() throws {
    let f = try calibrated(QuantSpec(bits: 8, scheme: .asymmetric, method: .movingAverageMinMax(averagingConstant: 0.5)),
                           [[0, 1], [0, 3]])
    guard case .affine(let a) = f else { Issue.record("expected affine"); return }
    // max: 1 then 1 + 0.5 · (3 − 1) = 2; range [0, 2] over 255 steps
    #expect(abs(Double(a.scales[0]) - 2.0 / 255) < 1e-9)
  }

  /// Min-diffs matches a direct search with the scalar rounding function.
  @Test func minDiffsMatchesBruteForce() throws {
    var rng = RandomGenerator(seed: 3)
    let values = (0..<5000).map { _ in rng.nextNormal() * 0.5 } + [9.7]  // one outlier
    let spec = QuantSpec(bits: 8, rounding: .halfUp, method: .minDiffs)
    let f = try calibrated(spec, [Array(values[..<2500]), Array(values[2500...])])
    let f0 = FixedPointFormat.nonOverflowFractionalBits(for: 9.7, bits: 8)
    #expect(f0 == 3)
    func error(_ fb: Int) -> Double {
      let fmt = FixedPointFormat(bits: 8, fractionalBits: fb)
      return values.reduce(0.0) { acc, v in
        let q = FixedPointMath.quantize(v, fmt, .halfUp)
        let d = Double(v) - Double(q) * fmt.scale
        return acc + d * d
      }
    }
    let best = (f0...(f0 + MinDiffsObserver.searchWidth)).min { error($0) < error($1) }!
    #expect(f.fixedPoint?.fractionalBits == best)
    #expect(best > f0)  // saturating the outlier pays off
  }

  @Test func percentileFollowsTheNVDLAThreshold() throws {
    let values = (0..<100).map { Float($0) + 0.5 }
    // 100 bins of width 1 over [0, 99.5]... the top edge is max |x| = 99.5; bin k holds k + 0.5 for k < 99
    // and 90 % of the count is reached in bin 89
    let spec = QuantSpec(bits: 8, scheme: .symmetric, method: .percentile(bins: 100, threshold: 0.9))
    let f = try calibrated(spec, [values])
    guard case .affine(let a) = f else { Issue.record("expected affine"); return }
    #expect(abs(Double(a.scales[0]) - 90 * 0.995 / 127) < 1e-6)  // bin width 0.995
    let all = try calibrated(QuantSpec(bits: 8, scheme: .symmetric, method: .percentile(bins: 100, threshold: 1)), [values])
    if case .affine(let b) = all { #expect(abs(b.scales[0] - 99.5 / 127) < 1e-6) }
    // power of two: threshold 90 fits Q7.0
    #expect(try calibrated(QuantSpec(bits: 8, method: .percentile(bins: 100, threshold: 0.9)), [values]).fixedPoint?.fractionalBits == 0)
  }

  @Test func entropyKeepsAUniformRangeAndClipsALongTail() throws {
    var rng = RandomGenerator(seed: 5)
    let uniform = (0..<20000).map { _ in rng.nextFloat() }
    let spec = QuantSpec(bits: 8, scheme: .symmetric, method: .entropy(bins: 2048))
    guard case .affine(let u) = try calibrated(spec, [uniform]) else { Issue.record("expected affine"); return }
    #expect(Double(u.scales[0]) * 127 > 0.9)  // nothing worth clipping
    let tailed = (0..<20000).map { _ in rng.nextNormal() } + [50, -45]  // a dense core and two far outliers
    guard case .affine(let t) = try calibrated(spec, [tailed]) else { Issue.record("expected affine"); return }
    let threshold = Double(t.scales[0]) * 127
    #expect(threshold > 2 && threshold < 20)  // the outliers are clipped, the core kept
  }

  @Test func mseChoosesTheExactGridWhenOneExists() throws {
    // every value is a multiple of 1/64 up to 1: Q1.6 holds them all exactly
    let values = (0...64).map { Float($0) / 64 }
    #expect(try calibrated(QuantSpec(bits: 8, method: .mse(bins: 1024)), [values]).fixedPoint?.fractionalBits == 6)
  }

  @Test func nonFiniteValuesAreRejected() {
    var o = makeObserver(for: QuantSpec(bits: 8, method: .minMax))
    #expect(throws: QuantizationError.self) { try o.observe(Tensor([1, .nan])) }
    #expect(throws: QuantizationError.self) { try makeObserver(for: QuantSpec(bits: 8, method: .minMax)).format() }
  }

  @Test func statisticsMergeAcrossObservers() throws {
    var a = makeObserver(for: QuantSpec(bits: 8, method: .percentile(bins: 64, threshold: 1)))
    var b = makeObserver(for: QuantSpec(bits: 8, method: .percentile(bins: 64, threshold: 1)))
    try a.observe(Tensor([1, 2]))
    try b.observe(Tensor([-4]))
    try a.merge(b)
    #expect(a.count == 3)
    #expect(try a.format().fixedPoint?.fractionalBits == 4)  // 4 · 16 = 64 <= 127 < 128
    #expect(throws: QuantizationError.self) { try a.merge(makeObserver(for: QuantSpec(bits: 8, method: .minMax))) }
  }
}

@Suite struct FormatTests {
  @Test func fixedPointRangesAndNames() {
    let q88 = FixedPointFormat(bits: 16, fractionalBits: 8)
    #expect(q88.description == "Q7.8" && q88.qmin == -32768 && q88.qmax == 32767)
    #expect(FixedPointFormat(bits: 8, signed: false, fractionalBits: 3).description == "UQ5.3")
    #expect(FixedPointFormat(bits: 8, fractionalBits: 4, narrowRange: true).qmin == -127)
    #expect(FixedPointMath.quantize(1.03125, FixedPointFormat(bits: 8, fractionalBits: 4), .halfToEven) == 16)
    #expect(FixedPointMath.quantize(1.09375, FixedPointFormat(bits: 8, fractionalBits: 4), .halfUp) == 18)
    #expect(FixedPointMath.quantize(100, FixedPointFormat(bits: 8, fractionalBits: 4), .halfUp) == 127)
    #expect(FixedPointMath.requantize(1000, fromFractionalBits: 8, to: FixedPointFormat(bits: 8, fractionalBits: 4), .halfUp) == 63)
  }
}
