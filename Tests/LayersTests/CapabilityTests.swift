import Autograd
import Testing
import TensorCore
import TestSupport
@testable import Layers

/// What layers declare about themselves, and the errors that replaced preconditions user input
/// could trip.
@Suite struct CapabilityTests {
  /// The fold formula: s = γ / sqrt(σ² + ε), w' = w·s, b' = (b − μ)·s + β, bit for bit, and
  /// batch-norm inference is that affine.
  @Test func batchNormFoldFormula() {
    var rng = RandomGenerator(seed: 3)
    let bn = BatchNorm2D(4)
    bn.runningMean.value = Tensor.normal([4], std: 0.5, using: &rng)
    bn.runningVar.value = Tensor.uniform([4], low: 0.5, high: 2, using: &rng)
    bn.weight.value = Tensor.uniform([4], low: -1.5, high: 1.5, using: &rng)
    bn.bias.value = Tensor.normal([4], std: 0.2, using: &rng)
    let (g, beta, m, v) = (bn.weight.value.scalars, bn.bias.value.scalars, bn.runningMean.value.scalars, bn.runningVar.value.scalars)
    let s = (0..<4).map { c -> Float in let r = 1 / (v[c] + bn.epsilon).squareRoot(); return g[c] * r }
    #expect(bn.foldScale.scalars == s)
    let b0: [Float] = [0.5, -0.25, 1, 2]
    let expectedBias = (0..<4).map { c -> Float in let t = (b0[c] - m[c]) * s[c]; return t + beta[c] }
    #expect(bn.foldedBias(Tensor(b0)).scalars == expectedBias)
    let w = randomTensor([4, 2, 1, 1], seed: 5)
    #expect(bn.foldedWeight(w, axis: 0).scalars == w.scalars.indices.map { w.scalars[$0] * s[$0 / 2] })
    bn.setPhase(.inference)
    let x = randomTensor([2, 4, 3, 3], seed: 4)
    let shift = bn.foldedBias(nil).scalars
    let affine = x.scalars.indices.map { x.scalars[$0] * s[($0 / 9) % 4] + shift[($0 / 9) % 4] }
    #expect(zip(bn(x).scalars, affine).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) })
  }

  @Test func layersDeclareWhatTransformsNeed() {
    var rng = RandomGenerator(seed: 1)
    let dw = Conv2D(8, 8, kernel: (3, 3), geometry: ConvGeometry(padding: 1, groups: 8), rng: &rng)
    #expect(dw.isDepthwise && dw.reductionLength == 9 && dw.groups == 8)
    #expect(!Conv2D(8, 16, kernel: (3, 3), rng: &rng).isDepthwise)
    #expect(Linear(6, 5, rng: &rng).reductionLength == 6)
    #expect(LeakyReLU(negativeSlope: 0.01).fusedActivation == nil)
    #expect(LeakyReLU(negativeSlope: FusedActivation.leakySlope).fusedActivation == .leakyRelu)
    #expect(ReLU6().fusedActivation == .relu6 && ReLU().fusedActivation == .relu)
    // zero padding keeps the grid, other values do not; negative values do not keep the sign
    #expect(Pad(before: [0, 1], after: [0, 1]).preservesGrid)
    #expect(!Pad(before: [0, 1], after: [0, 1], value: 0.5).preservesGrid)
    #expect(!Pad(before: [0, 1], after: [0, 1], value: -1).preservesSign)
    #expect(MaxPool2D(kernel: 2).preservesGrid && GlobalAvgPool().preservesSign)
  }

  @Test func weightBearingLayersRebuildWithOtherValues() {
    var rng = RandomGenerator(seed: 2)
    let conv = Conv2D(3, 4, kernel: (3, 3), geometry: ConvGeometry(stride: 2, padding: 1), rng: &rng)
    let w = Tensor.zeros([4, 3, 3, 3]), b = Tensor.ones([4])
    let copy = conv.with(weight: w, bias: b) as! Conv2D
    #expect(copy.geometry == conv.geometry && copy.weight.value.scalars == w.scalars && copy.bias?.value.scalars == b.scalars)
    let x = randomTensor([1, 3, 8, 8], seed: 6)
    #expect(conv.apply(x, weight: conv.weight.value, bias: conv.bias?.value).scalars == conv(x).scalars)
  }

  @Test func badGeometriesAndDepthsThrow() {
    var g = ConvGeometry()
    g.strideH = 0
    #expect(throws: GeometryError.self) { try g.validate() }
    g = ConvGeometry()
    g.padLeft = -1
    #expect(throws: GeometryError.self) { try g.validate() }
    #expect(throws: GeometryError.self) {
      try ConvGeometry(dilation: 3).validate(channels: 4, height: 5, width: 5, outChannels: 4, kernelH: 3, kernelW: 3)
    }
    #expect(throws: GeometryError.self) {
      try ConvGeometry(groups: 3).validate(channels: 4, height: 5, width: 5, outChannels: 6, kernelH: 1, kernelW: 1)
    }
    try! ConvGeometry(padding: 1).validate(channels: 4, height: 5, width: 5, outChannels: 4, kernelH: 3, kernelW: 3)
    var p = Pool2DGeometry(kernel: (2, 2))
    p.strideW = 0
    #expect(throws: GeometryError.self) { try p.validate() }
    #expect(throws: GeometryError.self) { try Pool2DGeometry(kernel: (4, 4)).validate(height: 3, width: 3) }
    #expect(throws: ModelDefinitionError.self) { try CIFARResNet.make(depth: 21) }
    #expect(throws: ModelDefinitionError.self) { try CIFARResNet.make(depth: 2) }
    #expect((try? CIFARResNet.make(depth: 32))?.nodes.count == CIFARResNet.resnet20().nodes.count + 2 * 3 * 7)
  }
}

/// The MobileNet-v2-style CIFAR network: its blocks, depthwise layers and size.
@Suite struct CIFARMobileNetV2Tests {
  @Test func structure() throws {
    let m = try CIFARMobileNetV2.make(seed: 1)
    let depthwise = m.nodes.compactMap { $0.layer as? any WeightBearing }.filter(\.isDepthwise)
    #expect(depthwise.count == CIFARMobileNetV2.stages.reduce(0) { $0 + $1.n })
    #expect(m.nodes.filter { $0.layer is any ResidualSum }.count == 4)  // stride 1, equal widths: stage 2.1, 3.1, 3.2, 4.1
    #expect(m.nodes.filter { ($0.layer as? any ActivationLayer)?.fusedActivation == .relu6 }.count == 2 + 2 * 9 - 1)
    let summary = m.summary()
    #expect(summary.rows.last?.outputShape == [1, 10])
    // about 14 M multiply-adds per image (2 FLOPs each)
    #expect((20_000_000...40_000_000).contains(summary.totalFlops), "\(summary.totalFlops) FLOPs")
    m.setPhase(.inference)
    #expect(m(Tensor.zeros([2, 3, 32, 32])).shape == [2, 10])
    #expect(throws: ModelDefinitionError.self) { try CIFARMobileNetV2.make(classes: 0) }
  }
}
