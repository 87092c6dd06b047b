import Autograd
import Layers
import Testing
import TensorCore
import TestSupport
@testable import QAT

@Suite struct FixNeuronTests {
  @Test func modesAndTheErrorBeforeCalibration() throws {
    let q = FixNeuron(label: "x", role: .activation, spec: QuantSpec(bits: 8, rounding: .halfUp, method: .nonOverflow))
    let x = Tensor([0.3, -1.7, 0.05])
    #expect(q(x).scalars == x.scalars)  // bypass
    do {
      try q.setMode(.quantize)
      Issue.record("quantize before calibration succeeded")
    } catch let e as QuantizationError {
      #expect(e.description.contains("FixNeuron x") && e.description.contains("freeze()"))
    }
    try q.setMode(.calibrate)
    #expect(q(x).scalars == x.scalars)  // calibration passes values through
    try q.freeze()
    #expect(q.fixedPointFormat?.fractionalBits == 6)  // 1.7 · 64 = 108.8 <= 127
    try q.setMode(.quantize)
    #expect(q(x).scalars == [0.296875, -1.703125, 0.046875])  // 19.2 -> 19, -108.8 -> -109 (half up), 3.2 -> 3; ×1/64
  }

  @Test func straightThroughGradientInsideAndOutsideTheRange() throws {
    let q = FixNeuron(label: "w", role: .weight, spec: QuantSpec(bits: 4, rounding: .halfToEven, method: .nonOverflow))
    q.setFormat(.fixedPoint(FixedPointFormat(bits: 4, fractionalBits: 2)))  // codes −8...7, values −2...1.75
    try q.setMode(.quantize)
    let (x, key) = Tensor([0.1, 1.8, 1.9, -2.1, -2.2]).trackingGradients()
    let y = q(x)
    #expect(y.scalars == [0, 1.75, 1.75, -2, -2])
    // unclamped codes: 0, 7.2→7 in range, 7.6→8 out, −8.4→−8 in, −8.8→−9 out
    #expect(gradients(of: y.sum())[key]!.scalars == [1, 1, 0, 1, 0])
  }

  @Test func tqtLearnsAPowerOfTwoPosition() throws {
    let q = FixNeuron(label: "a", role: .activation, spec: QuantSpec(bits: 8, rounding: .halfUp, method: .nonOverflow))
    q.setFormat(.fixedPoint(FixedPointFormat(bits: 8, fractionalBits: 4)))
    try q.enableRangeLearning(.tqt)
    #expect(q.rangeParameter!.value.scalar == 3)  // log2 t = log2(2^-4) + 7
    try q.setMode(.quantize)
    let x = randomTensor([64], seed: 1, low: -12, high: 12)
    #expect(q(x).scalars == Kernels.fakeQuantize(x, FixedPointFormat(bits: 8, fractionalBits: 4).grid(rounding: .halfUp)).scalars)
    // values beyond the range push the threshold up: negative gradient on log2 t
    let big = Tensor([20, -30, 40])
    let g = gradients(of: (q(big) - big).squared().sum())
    #expect(g[q.rangeParameter!]!.scalar < 0)
    q.rangeParameter!.value = Tensor([4.2])  // ceil -> 5: scale 2^(5-7)
    q.freezeLearnedRange()
    #expect(q.fixedPointFormat?.fractionalBits == 2)
  }

  @Test func lsqStepGradientHasTheLSQSign() throws {
    let q = FixNeuron(label: "a", role: .activation, spec: QuantSpec(bits: 4, scheme: .symmetric, rounding: .halfToEven, method: .minMax))
    q.setFormat(.affine(AffineFormat(bits: 4, signed: true, scales: [0.5], zeroPoints: [0], axis: nil)))
    try q.enableRangeLearning(.lsq)
    try q.setMode(.quantize)
    #expect(q(Tensor([0.74, 10])).scalars == [0.5, 3.5])
    let g = gradients(of: q(Tensor([10, -10])).sum())
    // both clipped: d/ds = qmax·1 + qmin·1 = 7 − 8 = −1, scaled by 1/sqrt(2·7)
    #expect(abs(g[q.rangeParameter!]!.scalar - Float(-1 / (14.0).squareRoot())) < 1e-6)
  }
}
