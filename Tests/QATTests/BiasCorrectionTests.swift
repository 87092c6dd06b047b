import Autograd
import Layers
import Testing
import TensorCore
import TestSupport
@testable import QAT

/// smallNet with `bits`-bit weights, 8-bit activations and 16-bit biases, calibrated on
/// calibrationBatches(seed: 40), which it returns (the post-training tools' tests).
func calibratedSmallNet(bits: Int, seed: UInt64) throws -> (QuantizedModel, [Tensor]) {
  var c = QuantizationConfig()
  (c.weightBit, c.activationBit, c.biasBit) = (bits, 8, 16)
  let qm = try Prepare.quantize(smallNet(seed: seed), config: c)
  let batches = calibrationBatches(seed: 40)
  try Calibration.calibrate(qm) { body in for b in batches { try body(b) } }
  return (qm, batches)
}

@Suite struct BiasCorrectionTests {
  /// Per-channel mean over batch and space of each weight layer's pre-activation output, in the
  /// model as it is (float when every quantizer is bypassed).
  static func meanOutputs(_ qm: QuantizedModel, _ batches: [Tensor], quantized: Bool) throws -> [String: [Double]] {
    let m = qm.model
    var sums: [String: [Double]] = [:], counts: [String: Int] = [:]
    if !quantized { for q in qm.quantizers { try q.setMode(.bypass) } }
    defer { if !quantized { try? qm.setMode(.quantize) } }
    for x in batches {
      _ = m.forward([x]) { i, y in
        for (j, node) in m.nodes.enumerated() where node.inputs.first == i {
          guard let l = node.layer as? any WeightQuantized, let b = l.biasParameter else { continue }
          let w = quantized ? l.weightQuantizer(l.weightValue) : l.weightValue
          let bias = quantized ? (l.biasQuantizer.map { $0(b.value) } ?? b.value) : b.value
          let out = l.preActivation(y, weight: w, bias: bias)
          var s = sums[m.nodes[j].name] ?? [Double](repeating: 0, count: out.shape[1])
          counts[m.nodes[j].name, default: 0] += BiasCorrection.accumulate(&s, out)
          sums[m.nodes[j].name] = s
        }
      }
    }
    return sums.mapValues { $0 }.reduce(into: [:]) { r, e in r[e.key] = e.value.map { $0 / Double(counts[e.key]!) } }
  }

  /// At 3-bit weights the quantized model's mean outputs drift from the float model's; after the
  /// correction every layer's mean output (on the calibration batches) equals the float model's
  /// to half a step of its bias grid.
  @Test(arguments: [3, 4]) func removesTheMeanShiftOfEveryLayer(bits: Int) throws {
    let (qm, batches) = try calibratedSmallNet(bits: bits, seed: 11)
    let reference = try Self.meanOutputs(qm, batches, quantized: false)
    let before = try Self.meanOutputs(qm, batches, quantized: true)
    let report = try BiasCorrection.correct(qm) { body in for b in batches { try body(b) } }
    #expect(report.corrected.map(\.layer) == ["conv1", "conv2", "conv3", "fc"])
    #expect(report.skipped.isEmpty)
    let after = try Self.meanOutputs(qm, batches, quantized: true)
    var driftBefore = 0.0
    for (name, ref) in reference {
      driftBefore += zip(ref, before[name]!).map { abs($0 - $1) }.reduce(0, +)
      let step = Double.pow2(-Double(qm.quantizer(labelled: name + ".bias")!.fixedPointFormat!.fractionalBits))
      for (c, (r, a)) in zip(ref, after[name]!).enumerated() {
        #expect(abs(r - a) <= step / 2 + 1e-4 * max(1, abs(r)), "\(name) channel \(c): float mean \(r), corrected \(a)")
      }
    }
    #expect(driftBefore > 0.05, "\(bits)-bit weights must shift the means (drift \(driftBefore))")
    #expect(qm.quantizers.allSatisfy { $0.mode == .quantize })
  }

  @Test func isDeterministicAndNeedsACalibratedModel() throws {
    let (a, batches) = try calibratedSmallNet(bits: 4, seed: 13)
    let (b, _) = try calibratedSmallNet(bits: 4, seed: 13)
    try BiasCorrection.correct(a) { body in for x in batches { try body(x) } }
    try BiasCorrection.correct(b) { body in for x in batches { try body(x) } }
    for (p, q) in zip(a.model.parameters, b.model.parameters) { #expect(p.value.scalars == q.value.scalars) }
    let raw = try Prepare.quantize(smallNet(seed: 13), config: QuantizationConfig())
    #expect(throws: QuantizationError.self) { try BiasCorrection.correct(raw) { body in for x in batches { try body(x) } } }
  }
}
