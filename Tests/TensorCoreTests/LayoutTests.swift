import Testing
@testable import TensorCore
import TestSupport

/// Channel-blocked tensors (oneDNN's nChw{b}c) must behave exactly like row-major ones.
@Suite struct LayoutTests {
  let x = randomTensor([3, 16, 5, 4], seed: 1)
  var blocked: Tensor { Kernels.convertLayout(x, to: .channelBlocked(8)) }

  @Test func conversionRoundTripsAndPresentsRowMajorOrder() {
    let b = blocked
    #expect(b.layout == .channelBlocked(8))
    #expect(b.scalars == x.scalars)
    #expect(b[2, 9, 4, 3] == x[2, 9, 4, 3])
    #expect(Kernels.convertLayout(b, to: .rowMajor).storageScalars == x.scalars)
    // element (n, c, s) of nChw8c sits at ((n·C/8 + c/8)·HW + s)·8 + c%8
    #expect(b.storageScalars[((2 * 2 + 1) * 20 + 19) * 8 + 1] == x[2, 9, 4, 3])
    var m = b
    m[0, 0, 0, 0] = 42
    #expect(m.layout == .rowMajor && m[0, 0, 0, 0] == 42 && b[0, 0, 0, 0] == x[0, 0, 0, 0])
  }

  @Test func elementwiseKeepsOrConvertsLayouts() {
    let y = randomTensor([3, 16, 5, 4], seed: 2)
    let yb = Kernels.convertLayout(y, to: .channelBlocked(8))
    let same = Kernels.binary(.add, blocked, yb)
    #expect(same.layout == .channelBlocked(8) && same.scalars == Kernels.binary(.add, x, y).scalars)
    let mixed = Kernels.binary(.multiply, blocked, y)
    #expect(mixed.scalars == Kernels.binary(.multiply, x, y).scalars)
    #expect(Kernels.binary(.add, blocked, Tensor(scalar: 2)).layout == .channelBlocked(8))
    let perChannel = Tensor((0..<16).map(Float.init), shape: [1, 16, 1, 1])
    #expect(Kernels.binary(.add, blocked, perChannel).scalars == Kernels.binary(.add, x, perChannel).scalars)
    #expect(Kernels.unary(.relu, blocked).scalars == Kernels.unary(.relu, x).scalars)
    #expect(Kernels.select(Kernels.binary(.greater, blocked, Tensor(scalar: 0)), blocked, Tensor(scalar: 0)).scalars
            == Kernels.unary(.relu, x).scalars)
    let grid = QuantGrid(scale: 0.125, qmin: -128, qmax: 127, rounding: .halfUp)
    #expect(Kernels.fakeQuantize(blocked, grid).scalars == Kernels.fakeQuantize(x, grid).scalars)
    #expect(Kernels.sum(blocked, axes: [0, 2, 3]).scalars == Kernels.sum(x, axes: [0, 2, 3]).scalars)
  }

  @Test func channelKernelsAgreeAcrossLayouts() {
    let (m1, v1) = Kernels.channelStats(x), (m2, v2) = Kernels.channelStats(blocked)
    #expect(m1 == m2 && v1 == v2)
    let scale = (0..<16).map { Float($0) * 0.1 + 0.5 }, shift = (0..<16).map { Float($0) - 8 }
    #expect(Kernels.channelAffine(blocked, scale: scale, shift: shift, relu: true).scalars
            == Kernels.channelAffine(x, scale: scale, shift: shift, relu: true).scalars)
    let g = randomTensor([3, 16, 5, 4], seed: 3)
    let s1 = Kernels.channelGradSums(g, x, mean: m1), s2 = Kernels.channelGradSums(g, blocked, mean: m1)
    #expect(s1.sumG == s2.sumG && s1.sumGX == s2.sumGX)
    #expect(Kernels.channelSums(blocked) == Kernels.channelSums(x))
    let d1 = Kernels.channelGradInput(g, x, mean: m1, a: scale, b: shift, d: scale)
    let d2 = Kernels.channelGradInput(g, blocked, mean: m1, a: scale, b: shift, d: scale)
    #expect(d1.scalars == d2.scalars)
  }

  @Test func convolutionsChainInBlockedLayout() {
    let w1 = randomTensor([16, 16, 3, 3], seed: 4), w2 = randomTensor([16, 16, 3, 3], seed: 5)
    let g = ConvGeometry(stride: 1, padding: 1)
    let a = Kernels.conv2d(x, weight: w1, geometry: g)
    let b = Kernels.conv2d(a, weight: w2, geometry: g)
    let ref = referenceConv2d(referenceConv2d(x, w1, nil, g), w2, nil, g)
    #expect(maxAbsDifference(b, ref) < 1e-3)
    let gy = Kernels.convertLayout(randomTensor(b.shape, seed: 6), to: b.layout)
    let (rdx, rdw, _) = referenceConv2dBackward(gy.rowMajor, a.rowMajor, w2, g)
    #expect(maxAbsDifference(Kernels.conv2dBackwardData(gy, weight: w2, inputShape: a.shape, geometry: g), rdx) < 1e-3)
    #expect(maxAbsDifference(Kernels.conv2dBackwardWeights(gy, input: a, weightShape: w2.shape, geometry: g, withBias: false).weight, rdw) < 1e-3)
  }
}

extension Tensor {
  /// Elements in stored order (test helper).
  var storageScalars: [Float] { Array(UnsafeBufferPointer(start: storagePointer, count: count)) }
}
