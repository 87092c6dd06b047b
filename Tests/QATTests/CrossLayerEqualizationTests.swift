import Autograd
import Layers
import Testing
import TensorCore
import TestSupport
@testable import QAT

/// conv+BN+ReLU → grouped conv → LeakyReLU → depthwise conv (bias) → ReLU → 1×1 conv, then a
/// linear → ReLU → linear head; one output channel of the first conv is 30× wider than the rest.
func equalizationNet(seed: UInt64) -> Model {
  var b = ModelBuilder(seed: seed)
  let x = b.input(shape: [4, 6, 6])
  var h = b.conv2d("a", x, 4, 6, kernel: 3, padding: 1, bias: false)
  h = b.add("a.bn", BatchNorm2D(6), h)
  h = b.add("a.relu", ReLU(), h)
  h = b.conv2d("b", h, 6, 6, kernel: 3, padding: 1, groups: 2)
  h = b.add("b.leaky", LeakyReLU(), h)
  h = b.conv2d("c", h, 6, 6, kernel: 3, padding: 1, groups: 6)
  h = b.add("c.relu", ReLU(), h)
  h = b.conv2d("d", h, 6, 5, kernel: 1)
  h = b.add("gap", GlobalAvgPool(), h)
  h = b.add("flatten", Flatten(), h)
  h = b.linear("fc1", h, 5, 8)
  h = b.add("fc1.relu", ReLU(), h)
  h = b.linear("fc2", h, 8, 3)
  let m = b.build(output: h)
  var rng = RandomGenerator(seed: seed + 1)
  let bn = m["a.bn"] as! BatchNorm2D
  bn.runningMean.value = Tensor.normal([6], std: 0.2, using: &rng)
  bn.runningVar.value = Tensor.uniform([6], low: 0.5, high: 2, using: &rng)
  bn.weight.value = Tensor([0.8, -1.2, 0.5, 1.4, 0.9, -0.7])
  bn.bias.value = Tensor.normal([6], std: 0.1, using: &rng)
  let a = (m["a"] as! Conv2D).weight
  var w = a.value.scalars
  for i in 0..<(w.count / 6) { w[i] *= 30 }
  a.value = Tensor(w, shape: a.value.shape)
  return m
}

/// MobileNet-style: conv + BN + ReLU6, then two depthwise-separable blocks (3×3 depthwise + BN +
/// ReLU6, 1×1 pointwise + BN + ReLU6), global pooling and a linear head; batch norms with spread
/// scales and shifts, so channel ranges differ widely.
func depthwiseNet(seed: UInt64) -> Model {
  var b = ModelBuilder(seed: seed)
  var h = b.input(shape: [3, 8, 8])
  var rng = RandomGenerator(seed: seed + 3)
  var norms: [String] = []
  func block(_ name: String, _ x: NodeRef, _ cin: Int, _ cout: Int, kernel: Int, groups: Int, builder b: inout ModelBuilder) -> NodeRef {
    var y = b.conv2d(name, x, cin, cout, kernel: kernel, padding: kernel / 2, groups: groups, bias: false)
    y = b.add(name + ".bn", BatchNorm2D(cout), y)
    norms.append(name + ".bn")
    return b.add(name + ".relu6", ReLU6(), y)
  }
  h = block("stem", h, 3, 8, kernel: 3, groups: 1, builder: &b)
  h = block("dw1", h, 8, 8, kernel: 3, groups: 8, builder: &b)
  h = block("pw1", h, 8, 16, kernel: 1, groups: 1, builder: &b)
  h = block("dw2", h, 16, 16, kernel: 3, groups: 16, builder: &b)
  h = block("pw2", h, 16, 16, kernel: 1, groups: 1, builder: &b)
  h = b.add("gap", GlobalAvgPool(), h)
  h = b.add("flatten", Flatten(), h)
  let out = b.linear("fc", h, 16, 5)
  let m = b.build(output: out)
  for name in norms {
    let bn = m[name] as! BatchNorm2D
    let c = bn.channels
    bn.weight.value = Tensor((0..<c).map { _ in Float(Double.random(in: 0.05...3, using: &rng)) })
    bn.bias.value = Tensor((0..<c).map { _ in Float(Double.random(in: -0.5...2.5, using: &rng)) })
    bn.runningMean.value = Tensor.normal([c], std: 0.3, using: &rng)
    bn.runningVar.value = Tensor.uniform([c], low: 0.3, high: 2, using: &rng)
  }
  return m
}

@Suite struct CrossLayerEqualizationTests {
  /// ReLU6 blocks every pair of a MobileNet; with replace_relu6 the Conv → DWConv → Conv chain
  /// equalizes, converges, shrinks each layer's channel-range spread, and leaves the (ReLU)
  /// model's float outputs unchanged within 1e-5 of their range.
  @Test func depthwiseChainsEqualizeAfterReplacingReLU6() {
    let m = depthwiseNet(seed: 4)
    m.setPhase(.inference)
    #expect(CrossLayerEqualization.pairs(in: m).isEmpty)
    let replaced = CrossLayerEqualization.replaceReLU6(in: m)
    #expect(replaced == ["stem.relu6", "dw1.relu6", "pw1.relu6", "dw2.relu6", "pw2.relu6"])
    let x = randomTensor([4, 3, 8, 8], seed: 12, low: -2, high: 2)
    let before = m(x)
    var options = CrossLayerEqualization.Options(steps: 100)
    options.absorbHighBias = false
    let report = CrossLayerEqualization.run(m, options)
    #expect(report.pairs.map(\.first) == ["stem", "dw1", "pw1", "dw2"])
    #expect(report.pairs.map(\.second) == ["dw1", "pw1", "dw2", "pw2"])
    #expect(report.rounds < 100 && report.lastChange <= options.tolerance, "\(report.rounds) rounds, last change \(report.lastChange)")
    for s in report.spread { #expect(s.after < s.before, "\(s.layer): \(s.before) -> \(s.after)") }
    let after = m(x)
    let range = before.scalars.map(abs).max()!
    #expect(maxAbsDifference(before, after) <= 1e-5 * range, "\(maxAbsDifference(before, after)) vs range \(range)")
  }

  /// High-bias absorption moves β − 3|γ| into the next 1×1 layer: exact while the ReLU inputs
  /// stay above it, the first layer's output range shrinks.
  @Test func highBiasAbsorptionIsExactAboveTheThreshold() {
    var b = ModelBuilder(seed: 2)
    var h = b.input(shape: [2, 4, 4])
    h = b.conv2d("a", h, 2, 3, kernel: 1, bias: false)
    h = b.add("a.bn", BatchNorm2D(3), h)
    h = b.add("a.relu", ReLU(), h)
    let out = b.conv2d("b", h, 3, 2, kernel: 1)
    let m = b.build(output: out)
    m.setPhase(.inference)
    let bn = m["a.bn"] as! BatchNorm2D
    bn.weight.value = Tensor([0.1, 0.2, 1.0])
    bn.bias.value = Tensor([2.0, 1.5, 0.5])  // c = 1.7, 0.9, 0
    (m["a"] as! Conv2D).weight.value = Tensor([Float](repeating: 0.1, count: 6), shape: [3, 2, 1, 1])
    let x = randomTensor([4, 2, 4, 4], seed: 3, low: -1, high: 1)  // |BN input − mean| small: ReLU inputs stay above c
    let before = m(x)
    var options = CrossLayerEqualization.Options(steps: 1)
    options.tolerance = 1
    let report = CrossLayerEqualization.run(m, options)
    #expect(report.absorbed.map(\.first) == ["a"] && report.absorbed.first?.channels == 2)
    #expect(maxAbsDifference(before, m(x)) <= 1e-5 * before.scalars.map(abs).max()!)
  }

  @Test func findsChainsThroughBatchNormAndHomogeneousActivations() {
    let m = equalizationNet(seed: 3)
    let names = CrossLayerEqualization.pairs(in: m).map { (m.nodes[$0.first].name, m.nodes[$0.second].name) }
    #expect(names.map(\.0) == ["a", "b", "c", "fc1"])
    #expect(names.map(\.1) == ["b", "c", "d", "fc2"])
    #expect(CrossLayerEqualization.pairs(in: m).first?.batchNorm == m.index(of: "a.bn"))
  }

  @Test func skipsTensorsThatABranchAlsoReads() {
    // smallNet: relu1 feeds conv2 and the residual add; conv2's BN output feeds the add.
    #expect(CrossLayerEqualization.pairs(in: smallNet(seed: 1)).isEmpty)
  }

  @Test func skipsReLU6() {
    var b = ModelBuilder(seed: 0)
    var h = b.input(shape: [2, 4, 4])
    h = b.conv2d("a", h, 2, 3, kernel: 1)
    h = b.add("clip", ReLU6(), h)
    h = b.conv2d("b", h, 3, 2, kernel: 1)
    #expect(CrossLayerEqualization.pairs(in: b.build(output: h)).isEmpty)
  }

  @Test(arguments: [Phase.inference, .training])
  func leavesOutputsUnchanged(phase: Phase) {
    let m = equalizationNet(seed: 5)
    m.setPhase(phase)
    for n in m.nodes { (n.layer as? BatchNorm2D)?.freezeStatistics = true }
    let x = randomTensor([8, 4, 6, 6], seed: 9, low: -2, high: 2)
    let before = m(x)
    let pairs = CrossLayerEqualization.equalize(m, steps: 5)
    #expect(pairs.count == 4)
    let after = m(x)
    let scale = before.scalars.map(abs).max()!
    #expect(maxAbsDifference(before, after) <= 2e-5 * scale)
  }

  @Test func equalizesTheRangesOfEachPair() {
    let m = equalizationNet(seed: 7)
    let bn = m["a.bn"] as! BatchNorm2D
    func foldedRangesOfA() -> [Float] {
      zip(ChannelLayout.outputRanges((m["a"] as! Conv2D).weight.value), BatchNormFolding.affine(of: bn).scale).map { $0 * abs($1) }
    }
    let spreadBefore = foldedRangesOfA().max()! / foldedRangesOfA().min()!
    // equalizing the first pair alone gives its two sides equal per-channel ranges (the next
    // pair rescales b's output channels, hence its input ranges, again)
    CrossLayerEqualization.equalize(CrossLayerEqualization.pairs(in: m)[0], in: m)
    let r1 = foldedRangesOfA()
    let r2 = ChannelLayout.inputRanges((m["b"] as! Conv2D).weight.value, groups: 2)
    for (x, y) in zip(r1, r2) { #expect(abs(x - y) <= 1e-5 * max(x, y)) }
    #expect(r1.max()! / r1.min()! < spreadBefore / 2)
    // the BN's sign is kept (γ < 0 channels stay negative)
    #expect(bn.weight.value.scalars[1] < 0 && bn.weight.value.scalars[5] < 0)
  }

  @Test func depthwiseAndGroupedInputChannels() {
    // weight [out 4, in/groups 1, 1, 1] with groups 4: input channel c is output channel c's filter
    let dw = Tensor([1, -2, 3, -4], shape: [4, 1, 1, 1])
    #expect(ChannelLayout.inputRanges(dw, groups: 4) == [1, 2, 3, 4])
    // groups 2, weight [4, 2, 1, 1]: outputs 0-1 read inputs 0-1, outputs 2-3 read inputs 2-3
    let g = Tensor([1, -5, 2, 0, 7, 1, -3, 9], shape: [4, 2, 1, 1])
    #expect(ChannelLayout.inputRanges(g, groups: 2) == [2, 5, 7, 9])
    let scaled = ChannelLayout.scaledInputs(g, by: [1, 2, 3, 4], groups: 2)
    #expect(scaled.scalars == [1, -10, 2, 0, 21, 4, -9, 36])
  }

  @Test func zeroRangesKeepTheirChannel() {
    #expect(CrossLayerEqualization.scales(firstRanges: [4, 0, 2], secondRanges: [1, 3, 0]) == [2, 1, 1])
  }
}
