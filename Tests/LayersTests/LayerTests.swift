import Autograd
import Layers
import Testing
import TensorCore
import TestSupport

@Suite struct LayerTests {
  @Test func activationLayersComputeTheirFunctions() {
    let x = Tensor([-4, -1, 0, 2, 7])
    #expect(ReLU()(x).scalars == [0, 0, 0, 2, 7])
    #expect(ReLU6()(x).scalars == [0, 0, 0, 2, 6])
    #expect(LeakyReLU(negativeSlope: 0.1)(x).scalars == [-0.4, -0.1, 0, 2, 7])
    #expect(allClose(Hardsigmoid()(x), Tensor([0, 2.0 / 6, 0.5, 5.0 / 6, 1])))
    #expect(allClose(Hardswish()(x), Tensor([-0, -1.0 / 3, 0, 10.0 / 6, 7])))
    #expect(allClose(SiLU()(Tensor([0, 1])), Tensor([0, 0.7310586])))
    #expect(allClose(Sigmoid()(Tensor([0])), Tensor([0.5])))
    #expect(Tanh()(Tensor([0])).scalars == [0])
  }

  /// In training, a ReLU that only reads a batch norm or a two-input Add is fused into it
  /// (Model.forward): loss, every gradient and the running statistics carry the same bits as the
  /// unfused layers (an observer turns fusion off).
  @Test func fusedReLUMatchesSeparateLayersBitwise() {
    var rng = RandomGenerator(seed: 3)
    let x = Tensor.normal([8, 3, 12, 12], using: &rng)
    let labels = (0..<8).map { $0 % 10 }
    func run(fused: Bool) -> (Float, [[Float]], [[Float]]) {
      let model = CIFARResNet.resnet20(seed: 5)
      model.setPhase(.training)
      let (loss, g) = valueWithGradients {
        let y = fused ? model(x) : model.forward([x], observe: { _, _ in })[0]
        return y.softmaxCrossEntropy(labels: labels)
      }
      return (loss.scalars[0], model.parameters.map { g[$0]!.scalars }, model.namedBuffers.map { $0.buffer.value.scalars })
    }
    let (fusedLoss, fusedGrads, fusedStats) = run(fused: true)
    let (loss, grads, stats) = run(fused: false)
    #expect(fusedLoss.bitPattern == loss.bitPattern)
    #expect(fusedGrads.count == grads.count && fusedGrads.count > 0)
    #expect(zip(fusedGrads, grads).allSatisfy { $0.map(\.bitPattern) == $1.map(\.bitPattern) })
    #expect(zip(fusedStats, stats).allSatisfy { $0.map(\.bitPattern) == $1.map(\.bitPattern) })
    #expect(grads.allSatisfy { g in g.contains { $0 != 0 } })
  }

  /// Where a batch norm's or an Add's output has a second reader or is a model output, nothing is
  /// fused and every output equals the unfused run; in inference the ReLU runs separately.
  @Test func fusionLeavesSharedOutputsAndInferenceAlone() {
    var b = ModelBuilder(seed: 4)
    let x = b.input(shape: [8, 5, 5])
    let bn = b.add("bn", BatchNorm2D(8), x)
    let relu = b.add("relu", ReLU(), bn)
    let sum = b.add("sum", Add(), [relu, bn])  // bn read twice: not fused
    let relu2 = b.add("relu2", ReLU(), sum)    // sum read by relu2 and output: not fused
    let bn2 = b.add("bn2", BatchNorm2D(8), relu2)
    let relu3 = b.add("relu3", ReLU(), bn2)    // fused in training
    let model = b.build(outputs: [relu3, sum])
    let input = randomTensor([3, 8, 5, 5], seed: 9, low: -2, high: 2)
    for phase in [Phase.training, .inference] {
      model.setPhase(phase)
      let fused = model.forward([input]).map(\.scalars)
      let separate = model.forward([input], observe: { _, _ in }).map(\.scalars)
      #expect(fused.map { $0.map(\.bitPattern) } == separate.map { $0.map(\.bitPattern) })
      #expect(fused[0].contains(0) && fused[1].contains { $0 < 0 })
    }
  }

  @Test func shapeLayers() {
    let x = Tensor((0..<16).map(Float.init), shape: [1, 1, 4, 4])
    #expect(Flatten()(x).shape == [1, 16])
    #expect(Reshape([4, 4])(x).shape == [1, 4, 4])
    #expect(Identity()(x).scalars == x.scalars)
    #expect(Slice([.all, .all, SliceRange(0, 4, step: 2), SliceRange(0, 4, step: 2)])(x).scalars == [0, 2, 8, 10])
    #expect(Pad(before: [0, 1, 0, 0], after: [0, 1, 0, 0])(x).shape == [1, 3, 4, 4])
    let u = Upsample(scale: 2)(Tensor([1, 2, 3, 4], shape: [1, 1, 2, 2]))
    #expect(u.scalars == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
    #expect(Add().forward([x, x]).scalars == x.scalars.map { $0 * 2 })
    #expect(Concat().forward([x, x]).shape == [1, 2, 4, 4])
    #expect(MaxPool2D(kernel: 2)(x).scalars == [5, 7, 13, 15])
    #expect(AvgPool2D(kernel: 2)(x).scalars == [2.5, 4.5, 10.5, 12.5])
    #expect(GlobalAvgPool()(x).scalars == [7.5])
  }

  @Test func convAndLinearUseTheirParameters() {
    var rng = RandomGenerator(seed: 1)
    let conv = Conv2D(2, 3, kernel: (3, 3), geometry: ConvGeometry(stride: 1, padding: 1), rng: &rng)
    let x = randomTensor([1, 2, 5, 5], seed: 2)
    let ref = referenceConv2d(x, conv.weight.value, conv.bias!.value, conv.geometry)
    #expect(maxAbsDifference(conv(x), ref) < 1e-5)
    let lin = Linear(weight: Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), bias: Tensor([1, -1]))
    #expect(lin(Tensor([1, 0, -1], shape: [1, 3])).scalars == [-1, -3])
    #expect(conv.namedParameters.map(\.name) == ["weight", "bias"])
  }

  @Test func batchNormTracksRunningStatisticsLikePyTorch() {
    let bn = BatchNorm2D(2, momentum: 0.1)
    // channel 0 values 1..4, channel 1 values 10 (constant)
    let x = Tensor([1, 2, 10, 10, 3, 4, 10, 10], shape: [2, 2, 2, 1])
    let y = bn(x)
    let c0 = [y[0, 0, 0, 0], y[0, 0, 1, 0], y[1, 0, 0, 0], y[1, 0, 1, 0]]
    let invStd = 1 / (1.25 + 1e-5 as Float).squareRoot()
    #expect(allClose(c0, [-1.5, -0.5, 0.5, 1.5].map { $0 * invStd }))
    // running mean = 0.9·0 + 0.1·mean; running var uses the unbiased variance (5/3 for 1..4)
    #expect(allClose(bn.runningMean.value.scalars, [0.25, 1.0]))
    #expect(allClose(bn.runningVar.value.scalars, [0.9 + 0.1 * 5 / 3, 0.9]))
    bn.setPhase(.inference)
    let e = bn(x)
    #expect(allClose([e[0, 0, 0, 0]], [(1 - 0.25) / (bn.runningVar.value.scalars[0] + 1e-5).squareRoot()]))
    bn.freezeStatistics = true
    bn.setPhase(.training)
    let before = bn.runningMean.value.scalars
    _ = bn(x)
    #expect(bn.runningMean.value.scalars == before)
  }

  @Test func dropoutIsSeededAndIdentityInInference() {
    let d1 = Dropout(probability: 0.5, seed: 3), d2 = Dropout(probability: 0.5, seed: 3)
    let x = Tensor.ones([1000])
    let a = d1(x), b = d2(x)
    #expect(a.scalars == b.scalars)
    #expect(a.scalars.allSatisfy { $0 == 0 || $0 == 2 })
    let kept = a.scalars.filter { $0 != 0 }.count
    #expect(kept > 420 && kept < 580)
    #expect(d1(x).scalars != a.scalars)  // the next call draws a new mask
    d1.setPhase(.inference)
    #expect(d1(x).scalars == x.scalars)
  }

  /// Every Parameter stored in a layer must be listed by namedParameters (a forgotten one would
  /// silently not be trained or saved).
  @Test func layersListEveryParameterTheyHold() {
    var rng = RandomGenerator(seed: 0)
    let layers: [any Layer] = [
      Conv2D(2, 4, kernel: (3, 3), rng: &rng), Linear(3, 2, rng: &rng), BatchNorm2D(3),
      Dropout(probability: 0.1, seed: 1), ReLU(),
    ]
    for layer in layers {
      let listed = Set(layer.namedParameters.map { ObjectIdentifier($0.parameter) })
      let listedBuffers = Set(layer.namedBuffers.map { ObjectIdentifier($0.buffer) })
      for child in Mirror(reflecting: layer).children {
        if let p = child.value as? Parameter { #expect(listed.contains(ObjectIdentifier(p)), "\(layer.kind).\(child.label ?? "?")") }
        if let p = child.value as? Parameter?, let p { #expect(listed.contains(ObjectIdentifier(p)), "\(layer.kind).\(child.label ?? "?")") }
        if let b = child.value as? Buffer { #expect(listedBuffers.contains(ObjectIdentifier(b)), "\(layer.kind).\(child.label ?? "?")") }
      }
    }
  }
}

@Suite struct ModelTests {
  @Test func resnet20HasThePublishedSizeAndNames() {
    let model = CIFARResNet.resnet20()
    let s = model.summary()
    #expect(s.totalParameters == 269_722)
    #expect(s.rows.last?.outputShape == [1, 10])
    // 40,550,400 conv + 640 linear multiply-adds per image, plus 10 bias additions
    let flops = s.rows.filter { $0.kind == "Conv2D" || $0.kind == "Linear" }.reduce(0) { $0 + $1.flops }
    #expect(flops == 2 * 40_551_040 + 10)
    let names = model.namedParameters.map(\.name) + model.namedBuffers.map(\.name)
    #expect(names.count == 97)
    #expect(names.contains("layer3.2.bn2.running_var") && names.contains("linear.bias"))
  }

  @Test func graphEditingKeepsTheComputation() {
    let model = Model.sequential(inputShape: [3], [("a", ReLU()), ("b", ReLU())])
    let x = Tensor([-1, 2, 3], shape: [1, 3])
    let before = model(x).scalars
    model.insert("id", Identity(), after: model.index(of: "a")!)
    #expect(model.nodes.map(\.name) == ["input", "a", "id", "b"])
    #expect(model(x).scalars == before)
    model.bypass(model.index(of: "id")!)
    #expect(model.nodes.map(\.name) == ["input", "a", "b"])
    #expect(model(x).scalars == before)
  }

  @Test func inputValidationThrowsWithTheExpectedShape() {
    let model = CIFARResNet.resnet20()
    #expect(throws: ShapeError.self) { try model.validate(input: Tensor.zeros([2, 3, 28, 28])) }
    #expect(throws: Never.self) { try model.validate(input: Tensor.zeros([2, 3, 32, 32])) }
  }
}
