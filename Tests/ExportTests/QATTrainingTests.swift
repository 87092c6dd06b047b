import Autograd
import Export
import Foundation
import Layers
import QAT
import Simulator
import Testing
import TensorCore
import TestSupport
import Training

@Suite struct QATTrainingTests {
  func session(seed: UInt64 = 1, bits: Int = 4, learning: QuantSpec.Learning = .tqt) throws -> QATSession {
    var c = QuantizationConfig()
    (c.weightBit, c.activationBit) = (bits, bits)
    let s = try QATSession(model: exportNet(seed: seed), config: c)
    try s.calibrate(exportBatches(seed: 100))
    if learning != .none { try s.enableRangeLearning(learning) }
    return s
  }

  let labels = (0..<8).map { $0 % 5 }

  func train(_ s: QATSession, _ trainer: Trainer, steps: Range<Int>) throws {
    s.model.setPhase(.training)
    for k in steps {
      let x = randomTensor([8, 3, 12, 12], seed: 900 + UInt64(k), low: -2, high: 2)
      trainer.optimizer.learningRate = 0.05
      let (_, g) = valueWithGradients { s.model(x).softmaxCrossEntropy(labels: labels) }
      trainer.optimizer.update(g)
      try trainer.afterStep?(k + 1)
    }
  }

  func optimizer(_ s: QATSession) -> SGD {
    SGD(s.parameterGroups(weightDecay: 1e-4, rangeLearningRateScale: 1), learningRate: 0.05, momentum: 0.9)
  }

  @Test func trainingMovesWeightsAndRangesAndFoldingChangesNoOutput() throws {
    let s = try session()
    let before = s.rangeParameters.map { $0.value.scalar }
    let trainer = s.trainer(optimizer: optimizer(s), schedule: ConstantSchedule(0.05))
    s.freezeBatchNormStep = 3
    try train(s, trainer, steps: 0..<5)
    #expect(s.rangeParameters.map { $0.value.scalar } != before)
    #expect(s.model.nodes.contains { ($0.layer as? QuantizedBatchNormFold)?.freezeStatistics == true })
    s.finish()
    s.model.setPhase(.inference)
    let x = randomTensor([4, 3, 12, 12], seed: 77, low: -2, high: 2)
    let unfolded = s.model.withoutGradients { s.model(x) }
    s.quantized.foldBatchNorms()
    #expect(!s.model.nodes.contains { $0.layer is QuantizedBatchNormFold })
    let folded = s.model.withoutGradients { s.model(x) }
    #expect(folded.scalars == unfolded.scalars)  // 0 LSB: the same fake-quant outputs
    // and the exported integer model agrees with it at every tensor
    let dir = TestData.temporaryDirectory("qat-trained")
    try Exporter.export(s.quantized, to: dir)
    let report = try BitExactCheck.compare(s.quantized, try Simulator(directory: dir), batch: x)
    #expect(report.mismatchedTensors.isEmpty && report.tensorsCompared > 10)
  }

  /// Six steps straight equal three, a checkpoint, a fresh session restored from it, and three more.
  @Test func resumeIsBitwiseIdentical() throws {
    let a = try session(seed: 2)
    let ta = a.trainer(optimizer: optimizer(a), schedule: ConstantSchedule(0.05))
    a.freezeBatchNormStep = 4
    try train(a, ta, steps: 0..<6)

    let b = try session(seed: 2)
    let tb = b.trainer(optimizer: optimizer(b), schedule: ConstantSchedule(0.05))
    b.freezeBatchNormStep = 4
    try train(b, tb, steps: 0..<3)
    let path = TestData.temporaryDirectory("qat-resume") + "/ckpt.h5"
    try b.saveCheckpoint(tb, to: path, architecture: "test")

    let c = try session(seed: 9)  // different initial weights: everything must come from the file
    let tc = c.trainer(optimizer: optimizer(c), schedule: ConstantSchedule(0.05))
    c.freezeBatchNormStep = 4
    try c.resume(tc, from: path)
    try train(c, tc, steps: 3..<6)
    for ((name, p), (_, q)) in zip(a.model.namedParameters, c.model.namedParameters) {
      #expect(p.value.scalars == q.value.scalars, "\(name)")
    }
    for ((name, p), (_, q)) in zip(a.model.namedBuffers, c.model.namedBuffers) {
      #expect(p.value.scalars == q.value.scalars, "\(name)")
    }
    #expect(try QuantizationState(a.quantized, architecture: nil) == QuantizationState(c.quantized, architecture: nil))
  }

  /// The quantized-model directory a QAT run writes (learned ranges, before or after the export
  /// folds Conv+BN) loads back with identical outputs, and exports bit-exact.
  @Test(arguments: [false, true]) func savedQATModelLoadsBack(folded: Bool) throws {
    let s = try session(seed: 3)
    let trainer = s.trainer(optimizer: optimizer(s), schedule: ConstantSchedule(0.05))
    s.freezeBatchNormStep = 2
    try train(s, trainer, steps: 0..<4)
    s.finish()
    if folded { s.quantized.foldBatchNorms() }
    let dir = TestData.temporaryDirectory("qat-saved-\(folded)")
    try s.save(to: dir, architecture: "export-net")
    let loaded = try QuantizedModel.load(from: dir) { arch in
      guard arch == "export-net" else { throw TrainingError("unknown architecture \(arch)") }
      return exportNet(seed: 11)  // other weights: everything must come from the files
    }
    #expect(loaded.quantizers.contains { $0.rangeParameter != nil })
    let x = randomTensor([4, 3, 12, 12], seed: 78, low: -2, high: 2)
    s.model.setPhase(.inference)
    loaded.model.setPhase(.inference)
    let before = s.model.withoutGradients { s.model(x) }
    let after = loaded.model.withoutGradients { loaded.model(x) }
    #expect(after.scalars == before.scalars)
    let deploy = TestData.temporaryDirectory("qat-saved-deploy-\(folded)")
    try Exporter.export(loaded, to: deploy)
    let report = try BitExactCheck.compare(loaded, try Simulator(directory: deploy), batch: x)
    #expect(report.mismatchedTensors.isEmpty && report.tensorsCompared > 10)
  }

  /// With live batch statistics, training adds the deployed bias's rounding error fq(b) − b
  /// (b the folded bias on running statistics) to the BN output, per channel.
  @Test func liveStatisticsSeeTheQuantizedBias() throws {
    func layer(quantizeBias: Bool) throws -> QuantizedBatchNormFold {
      let conv = Conv2D(weight: randomTensor([4, 3, 3, 3], seed: 5), bias: nil, geometry: ConvGeometry(padding: 1))
      let bn = BatchNorm2D(4)
      bn.runningMean.value = Tensor([0.31, -0.7, 0.05, 1.2])
      bn.runningVar.value = Tensor([0.5, 2.0, 1.3, 0.8])
      bn.bias.value = Tensor([0.2, -0.45, 0.6, 0.01])
      let wq = FixNeuron(label: "w", role: .weight, spec: QuantSpec(bits: 8))
      wq.setFormat(.fixedPoint(FixedPointFormat(bits: 8, fractionalBits: 6)))
      try wq.setMode(.quantize)
      var bq: FixNeuron?
      if quantizeBias {
        bq = FixNeuron(label: "b", role: .bias, spec: QuantSpec(bits: 4))
        bq!.setFormat(.fixedPoint(FixedPointFormat(bits: 4, fractionalBits: 2)))
        try bq!.setMode(.quantize)
      }
      let l = QuantizedBatchNormFold(conv, bn, activation: .identity, weightQuantizer: wq, biasQuantizer: bq)
      l.setPhase(.training)
      return l
    }
    let x = randomTensor([2, 3, 6, 6], seed: 6, low: -2, high: 2)
    let (plain, quantized) = (try layer(quantizeBias: false), try layer(quantizeBias: true))
    let b = quantized.foldedBias.detached.scalars
    let delta = b.map { v in (min(max((v * 4).rounded(.toNearestOrEven), -8), 7) / 4) - v }
    #expect(delta.contains { abs($0) > 0.01 })  // the case is not trivial
    let (yp, yq) = (plain.forward([x]).scalars, quantized.forward([x]).scalars)
    let plane = 36
    for (i, (p, q)) in zip(yp, yq).enumerated() {
      #expect(abs((q - p) - delta[(i / plane) % 4]) < 1e-5)
    }
  }

  /// Linear + BN trains as one folded layer like Conv + BN; folding it changes no output and the
  /// simulator agrees at every tensor.
  @Test func linearBatchNormTrainsFoldedAndExportsBitExact() throws {
    var b = ModelBuilder(seed: 3)
    let x = b.input(shape: [3, 8, 8])
    var h = b.conv2d("conv", x, 3, 8, kernel: 3, padding: 1, bias: false)
    h = b.add("bn", BatchNorm2D(8), h)
    h = b.add("relu", ReLU(), h)
    h = b.add("gap", GlobalAvgPool(), h)
    h = b.add("flatten", Flatten(), h)
    h = b.linear("fc1", h, 8, 6, bias: false)
    h = b.add("bn1d", BatchNorm2D(6), h)
    h = b.add("relu1d", ReLU(), h)
    let out = b.linear("fc2", h, 6, 5)
    let model = b.build(output: out)
    var c = QuantizationConfig()
    (c.weightBit, c.activationBit) = (8, 8)
    let s = try QATSession(model: model, config: c)
    #expect(s.model.nodes.filter { $0.layer is QuantizedBatchNormFold }.count == 2)
    #expect(!s.model.nodes.contains { $0.layer is BatchNorm2D })
    try s.calibrate((0..<2).map { randomTensor([8, 3, 8, 8], seed: 40 + UInt64($0), low: -2, high: 2) })
    let trainer = s.trainer(optimizer: optimizer(s), schedule: ConstantSchedule(0.05))
    s.freezeBatchNormStep = 2
    s.model.setPhase(.training)
    let fc1 = s.model.nodes.first { $0.name == "fc1" }!.layer as! QuantizedBatchNormFold
    let meanBefore = fc1.bn.runningMean.value.scalars
    for k in 0..<4 {
      let xb = randomTensor([8, 3, 8, 8], seed: 60 + UInt64(k), low: -2, high: 2)
      let (_, g) = valueWithGradients { s.model(xb).softmaxCrossEntropy(labels: labels) }
      trainer.optimizer.update(g)
      try trainer.afterStep?(k + 1)
    }
    #expect(fc1.bn.runningMean.value.scalars != meanBefore)  // live statistics were used, then frozen
    #expect(fc1.freezeStatistics)
    s.finish()
    s.model.setPhase(.inference)
    let xt = randomTensor([4, 3, 8, 8], seed: 99, low: -2, high: 2)
    let unfolded = s.model.withoutGradients { s.model(xt) }
    s.quantized.foldBatchNorms()
    #expect(s.model.nodes.contains { $0.name == "fc1" && ($0.layer as? QuantizedLayer)?.core is Linear })
    #expect(s.model.withoutGradients { s.model(xt) }.scalars == unfolded.scalars)
    let dir = TestData.temporaryDirectory("qat-linear-bn")
    try Exporter.export(s.quantized, to: dir)
    let report = try BitExactCheck.compare(s.quantized, try Simulator(directory: dir), batch: xt)
    #expect(report.mismatchedTensors.isEmpty && report.tensorsCompared >= 5)
  }

  /// With live statistics the layer computes BN_batch(conv(x, fq(w·s)) / s), s = γ/σ_running,
  /// PyTorch's ConvBn2d form, also for channels whose γ is negative.
  @Test func liveStatisticsMatchTheRescaledFormWithNegativeGamma() throws {
    let conv = Conv2D(weight: randomTensor([4, 3, 3, 3], seed: 15), bias: nil, geometry: ConvGeometry(padding: 1))
    let bn = BatchNorm2D(4)
    bn.weight.value = Tensor([0.8, -1.3, 0.5, -0.2])
    bn.bias.value = Tensor([0.1, -0.2, 0.3, 0.05])
    bn.runningMean.value = Tensor([0.2, -0.1, 0.0, 0.4])
    bn.runningVar.value = Tensor([0.7, 1.4, 2.0, 0.9])
    let wq = FixNeuron(label: "w", role: .weight, spec: QuantSpec(bits: 8))
    wq.setFormat(.fixedPoint(FixedPointFormat(bits: 8, fractionalBits: 5)))
    try wq.setMode(.quantize)
    let layer = QuantizedBatchNormFold(conv, bn, activation: .identity, weightQuantizer: wq, biasQuantizer: nil)
    layer.setPhase(.training)
    let x = randomTensor([2, 3, 5, 5], seed: 16, low: -2, high: 2)
    let scale = layer.foldScale.scalars
    let raw = Tensor.conv2d(x, weight: wq(layer.foldedWeight).detached, bias: nil, geometry: conv.geometry)
    let rescaled = raw / Tensor(scale).reshaped(to: [1, 4, 1, 1])
    let expected = Tensor.batchNorm(rescaled, gamma: bn.weight.value, beta: bn.bias.value, epsilon: bn.epsilon).output.scalars
    let got = layer.forward([x]).scalars
    #expect(zip(got, expected).allSatisfy { abs($0 - $1) < 1e-4 }, "max difference \(zip(got, expected).map { abs($0 - $1) }.max()!)")
  }

  /// Weight formats are re-derived every QAT step; the adjustment list describes the latest
  /// derivation only instead of growing by one entry per step.
  @Test func refreshingWeightFormatsKeepsOneSetOfAdjustments() throws {
    let s = try session(bits: 16, learning: .none)
    try s.refreshWeightFormats()
    let once = s.quantized.adjustments
    #expect(once.contains { $0.tensor == .weight || $0.tensor == .bias })
    try s.refreshWeightFormats()
    try s.refreshWeightFormats()
    #expect(s.quantized.adjustments == once)
  }
}
