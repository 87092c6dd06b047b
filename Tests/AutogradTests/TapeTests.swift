import Autograd
import Testing
import TensorCore
import TestSupport

@Suite struct TapeTests {
  @Test func tenThousandOpChainBackpropagates() {
    let p = Parameter(Tensor([1.0]))
    var y = p.tensor
    for _ in 0..<10_000 { y = y * 1.0001 }
    let g = gradients(of: y)
    let expected = Float(Glibc.pow(1.0001, 10_000.0))
    #expect(abs(g[p]!.scalar - expected) / expected < 1e-3)
  }

  @Test func deepChainIsReleasedWithoutRecursion() {
    var y = Parameter(Tensor([1.0])).tensor
    for _ in 0..<200_000 { y = y + 1 }
    #expect(y.isTracked)
    y = Tensor([0])  // drops the whole chain
    #expect(!y.isTracked)
  }

  @Test func gradientsAreKeyedByParameterAndNeverAccumulateAcrossCalls() {
    let w = Parameter(Tensor([2, 3]))
    let b = Parameter(Tensor([1]))
    let x = Tensor([4, 5])
    func loss() -> Tensor { ((w.tensor * x).sum() + b.tensor.sum()).squared() }
    let first = gradients(of: loss())
    let second = gradients(of: loss())
    // L = (w·x + b)², dL/dw = 2(w·x+b)·x = 2·24·x
    #expect(first[w]!.scalars == [192, 240])
    #expect(first[b]!.scalars == [48])
    #expect(second[w]!.scalars == first[w]!.scalars)
  }

  @Test func sharedUseAccumulatesWithinOneGraph() {
    let w = Parameter(Tensor([3]))
    let t = w.tensor
    let g = gradients(of: (t * t + t).sum())
    #expect(g[w]!.scalars == [7])
  }

  @Test func frozenParametersRecordNothing() {
    let w = Parameter(Tensor([1, 2]), requiresGradient: false)
    let y = (w.tensor * Tensor([3, 4])).exp().sum()
    #expect(!y.isTracked)
    #expect(gradients(of: y).count == 0)
    let (value, grads) = valueWithGradients { (Parameter(Tensor([2])).tensor * 3).sum() }
    #expect(value.scalar == 6 && grads.count == 1)
  }

  @Test func untrackedInputsGetNoGradient() {
    let w = Parameter(Tensor([1, 2]))
    let (x, key) = Tensor([5, 6]).trackingGradients()
    let g = gradients(of: (w.tensor * x * Tensor([1, 1])).sum())
    #expect(g[w]!.scalars == [5, 6])
    #expect(g[key]!.scalars == [1, 2])
  }
}

@Suite struct StraightThroughTests {
  @Test func roundAndClampPassGradientsThrough() {
    let (x, key) = Tensor([0.4, 1.6, -2.5, 9]).trackingGradients()
    let y = x.roundedSTE(.halfToEven)
    #expect(y.scalars == [0, 2, -2, 9])
    #expect(gradients(of: y.sum())[key]!.scalars == [1, 1, 1, 1])
    let c = x.clampedSTE(min: -1, max: 1)
    #expect(c.scalars == [0.4, 1, -1, 1])
    #expect(gradients(of: c.sum())[key]!.scalars == [1, 1, 1, 1])
  }

  @Test func fakeQuantGradientIsOneInsideTheRangeOnly() {
    let grid = QuantGrid(scale: 0.5, qmin: -4, qmax: 3, rounding: .halfToEven)
    // integers: 0.2→0, 1.6→3, 1.8→4 (outside), -2.1→-4, -2.3→-5 (outside)
    let (x, key) = Tensor([0.2, 1.6, 1.8, -2.1, -2.3]).trackingGradients()
    let y = x.fakeQuantized(grid)
    #expect(y.scalars == [0, 1.5, 1.5, -2, -2])
    #expect(gradients(of: y.sum())[key]!.scalars == [1, 1, 0, 1, 0])
    let (w, wk) = Tensor([0.3, 0.3, 5, 5], shape: [2, 2]).trackingGradients()
    let pc = w.fakeQuantized(axis: 0, scales: [0.5, 1], zeroPoints: nil, qmin: -4, qmax: 3, rounding: .halfToEven)
    #expect(pc.scalars == [0.5, 0.5, 3, 3])
    #expect(gradients(of: pc.sum())[wk]!.scalars == [1, 1, 0, 0])
  }
}

@Suite struct FusedBatchNormTests {
  /// The fused primitive equals the composite of primitives, forward and backward.
  @Test func fusedMatchesComposite() {
    let x0 = randomTensor([8, 4, 6, 6], seed: 1, low: -2, high: 3)
    let gamma = Parameter(randomTensor([4], seed: 2, low: 0.5, high: 1.5)), beta = Parameter(randomTensor([4], seed: 3))
    let (x, xk) = x0.trackingGradients()
    let weights = randomTensor([8, 4, 6, 6], seed: 4)
    let fused = Tensor.batchNorm(x, gamma: gamma.tensor, beta: beta.tensor, epsilon: 1e-5).output
    let mean = x.mean(axes: [0, 2, 3], keepDims: true)
    let centered = x - mean
    let variance = centered.squared().mean(axes: [0, 2, 3], keepDims: true)
    let composite = centered * (variance + 1e-5).rsqrt() * gamma.tensor.reshaped(to: [1, 4, 1, 1]) + beta.tensor.reshaped(to: [1, 4, 1, 1])
    #expect(maxAbsDifference(fused, composite) < 1e-5)
    let gf = gradients(of: (fused * weights).sum()), gc = gradients(of: (composite * weights).sum())
    #expect(maxAbsDifference(gf[xk]!, gc[xk]!) < 1e-4)
    #expect(maxAbsDifference(gf[gamma]!, gc[gamma]!) < 1e-3)
    #expect(maxAbsDifference(gf[beta]!, gc[beta]!) < 1e-3)
  }

  /// relu(a + b) in one pass gives the bits of (a + b).relu(), forward and backward, with mixed
  /// layouts and with one tensor as both operands.
  @Test func addReLUMatchesAddThenReLUBitwise() {
    let a0 = randomTensor([2, 16, 3, 5], seed: 9, low: -2, high: 2), b0 = randomTensor([2, 16, 3, 5], seed: 10, low: -2, high: 2)
    let weights = randomTensor([2, 16, 3, 5], seed: 11)
    for (a1, b1) in [(a0, b0), (Kernels.convertLayout(a0, to: .channelBlocked(8)), b0), (a0, a0)] {
      let (a, ak) = a1.trackingGradients()
      let b = a1.scalars == b1.scalars ? a : b1.trackingGradients().0
      let fused = Tensor.addReLU(a, b), separate = (a + b).relu()
      #expect(fused.scalars.map(\.bitPattern) == separate.scalars.map(\.bitPattern))
      #expect(fused.scalars.contains(0))
      let gf = gradients(of: (fused * weights).sum())[ak]!, gs = gradients(of: (separate * weights).sum())[ak]!
      #expect(gf.scalars.map(\.bitPattern) == gs.scalars.map(\.bitPattern))
    }
  }

  /// Batch norm with the ReLU fused in gives the bits of batch norm followed by ReLU, forward and
  /// backward, in row-major and in channel-blocked layout.
  @Test(arguments: [false, true])
  func fusedReLUMatchesSeparateReLUBitwise(blocked: Bool) {
    let c = blocked ? 16 : 3
    var x0 = randomTensor([4, c, 5, 7], seed: 5, low: -2, high: 2)
    if blocked { x0 = Kernels.convertLayout(x0, to: .channelBlocked(8)) }
    let gamma = Parameter(randomTensor([c], seed: 6, low: -1.5, high: 1.5)), beta = Parameter(randomTensor([c], seed: 7))
    let weights = randomTensor([4, c, 5, 7], seed: 8)
    func run(fused: Bool) -> ([Float], [[Float]]) {
      let (x, xk) = x0.trackingGradients()
      let y = fused ? Tensor.batchNorm(x, gamma: gamma.tensor, beta: beta.tensor, epsilon: 1e-5, relu: true).output
                    : Tensor.batchNorm(x, gamma: gamma.tensor, beta: beta.tensor, epsilon: 1e-5).output.relu()
      let g = gradients(of: (y * weights).sum())
      return (y.scalars, [g[xk]!.scalars, g[gamma]!.scalars, g[beta]!.scalars])
    }
    let (yf, gf) = run(fused: true), (ys, gs) = run(fused: false)
    #expect(yf.contains(0) && yf.contains { $0 > 0 })
    #expect(yf.map(\.bitPattern) == ys.map(\.bitPattern))
    #expect(zip(gf, gs).allSatisfy { $0.map(\.bitPattern) == $1.map(\.bitPattern) })
  }
}
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
