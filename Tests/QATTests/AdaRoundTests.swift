import Autograd
import Layers
import Testing
import TensorCore
import TestSupport
@testable import QAT

@Suite struct AdaRoundTests {
  static var options: AdaRound.Options {
    var o = AdaRound.Options()
    (o.iterations, o.batchSize) = (300, 16)
    return o
  }

  /// Every layer's reconstruction loss on the calibration images ends below that of rounding to
  /// nearest, the weights sit on their quantizers' grids, and some weights round the other way
  /// (targets from the quantized model's input, or from the float model's).
  @Test(arguments: [false, true]) func beatsNearestRoundingInEveryLayer(asymmetric: Bool) throws {
    let (qm, batches) = try calibratedSmallNet(bits: 3, seed: 21)
    var options = Self.options
    options.asymmetric = asymmetric
    let report = try AdaRound.apply(qm, batches: batches, options: options)
    #expect(report.layers.map(\.layer) == ["conv1", "conv2", "conv3", "fc"])
    for r in report.layers {
      #expect(r.adaroundLoss < r.nearestLoss, "\(r.layer): \(r.adaroundLoss) after, \(r.nearestLoss) nearest")
      #expect(r.flipped > 0 && r.flipped < r.weights)
    }
    for (_, layer) in qm.weightLayers {
      #expect(layer.weightQuantizer(layer.weightValue).scalars == layer.weightValue.scalars)
    }
  }

  /// The whole model's output moves toward the float model's (mean squared error of the logits
  /// on the calibration batches).
  @Test func bringsTheModelOutputCloserToFloat() throws {
    let (qm, batches) = try calibratedSmallNet(bits: 3, seed: 24)
    for q in qm.quantizers { try q.setMode(.bypass) }
    let reference = batches.map { qm.model($0) }
    try qm.setMode(.quantize)
    func error() -> Float {
      zip(batches, reference).map { x, r in ((qm.model(x) - r).squared()).mean().scalars[0] }.reduce(0, +)
    }
    let nearest = error()
    try AdaRound.apply(qm, batches: batches, options: Self.options)
    let after = error()
    #expect(after < nearest, "logit MSE \(after) after AdaRound, \(nearest) with nearest rounding")
  }

  @Test func isDeterministicFromItsSeed() throws {
    let (a, batches) = try calibratedSmallNet(bits: 4, seed: 22)
    let (b, _) = try calibratedSmallNet(bits: 4, seed: 22)
    try AdaRound.apply(a, batches: batches, options: Self.options)
    try AdaRound.apply(b, batches: batches, options: Self.options)
    for (p, q) in zip(a.model.parameters, b.model.parameters) { #expect(p.value.scalars == q.value.scalars) }
  }

  @Test func rectifiedSigmoidStartsAtTheFractionAndSaturates() {
    let v = Tensor([-20, 0, 20])
    #expect(AdaRound.rectifiedSigmoid(v).scalars == [0, 0.5, 1])
  }

  @Test func needsACalibratedModel() throws {
    let raw = try Prepare.quantize(smallNet(seed: 23), config: QuantizationConfig())
    #expect(throws: QuantizationError.self) { try AdaRound.apply(raw, batches: calibrationBatches(seed: 1)) }
  }
}
