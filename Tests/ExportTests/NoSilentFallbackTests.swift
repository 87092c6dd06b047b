import DeployFormat
import Export
import Foundation
import Layers
import QAT
import Simulator
import Testing
import TensorCore
import TestSupport
import Training

/// Failures that used to be swallowed are thrown or reported, and user-tripable preconditions
/// became errors naming what was wrong.
@Suite struct NoSilentFallbackTests {
  /// A 16-bit model needs the exact integer path; an input that cannot be put on its grid (NaN)
  /// computes in float and the layer says so — the bit-exact check reports it.
  @Test func exactPathFailureIsReported() throws {
    var c = QuantizationConfig()
    (c.weightBit, c.activationBit, c.method) = (16, 16, .nonOverflow)
    let qm = try calibratedNet(c, seed: 3)
    let clean = exportBatches(seed: 50, count: 1)[0]
    _ = qm.model.withoutGradients { qm.model(clean) }
    #expect(qm.exactPathFailures.isEmpty)
    var values = clean.scalars
    values[7] = .nan
    let poisoned = Tensor(values, shape: clean.shape)
    let dir = TestData.temporaryDirectory("qat-nan")
    try Exporter.export(qm, to: dir)
    let report = try BitExactCheck.compare(qm, try Simulator(directory: dir), batch: poisoned)
    #expect(qm.exactPathFailures.map(\.layer).contains("conv1"), "\(qm.exactPathFailures)")
    #expect(report.inexactLayers.contains { $0.hasPrefix("conv1:") && $0.contains("not on its quantizer's grid") }, "\(report.inexactLayers)")
  }

  /// A bias code wider than the simulator's 16-bit bias path is refused, not clamped.
  @Test func simulatorRefusesBiasCodesItCannotHold() throws {
    let dir = TestData.temporaryDirectory("qat-bias")
    try Exporter.export(try calibratedNet(QuantizationConfig(), seed: 8), to: dir)
    let graph = try DeployGraph.read(directory: dir)
    var payload = try DeployPayload.read(from: dir + "/weights.h5")
    var entry = payload["conv2.bias"]!
    entry.values[0] = 40_000
    entry.bits = 32
    payload["conv2.bias"] = entry
    do { _ = try Simulator(graph: graph, payload: payload); Issue.record("a 17-bit bias code was accepted") } catch let e as DeployError {
      #expect(e.description.contains("conv2") && e.description.contains("40000"), "\(e)")
    }
  }

  /// Deploy graphs with impossible geometry fail at reading, naming the node.
  @Test func badGeometryInADeployGraphIsNamed() throws {
    for edit: (inout [String: Any]) -> Void in [{ $0["strideH"] = 0 }, { $0["padTop"] = -2 }, { $0["groups"] = 0 }, { $0["dilationH"] = 9 }] {
      let dir = TestData.temporaryDirectory("qat-geometry")
      try Exporter.export(try calibratedNet(QuantizationConfig(), seed: 8), to: dir)
      let path = dir + "/deploy.json"
      var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
      var nodes = object["nodes"] as! [[String: Any]]
      let k = nodes.firstIndex { $0["name"] as? String == "conv2" }!
      var conv = nodes[k]["conv"] as! [String: Any]
      edit(&conv)
      nodes[k]["conv"] = conv
      object["nodes"] = nodes
      try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
      do { _ = try Simulator(directory: dir); Issue.record("bad geometry \(conv) accepted") } catch let e as DeployError {
        #expect(e.description.contains("conv2") && e.description.contains("convolution"), "\(e)")
      }
    }
  }

  /// A pad with a non-zero value does not keep its input's grid: it gets its own quantizer tied
  /// to its input's position (align_pad), and exports with the value's code, bit-exact.
  @Test func nonZeroPaddingIsQuantizedAtItsInputsPosition() throws {
    var b = ModelBuilder(seed: 1)
    var x = b.input(shape: [2, 4, 4])
    x = b.conv2d("conv", x, 2, 2, kernel: 1)
    x = b.add("pad", Pad(before: [0, 0, 1, 1], after: [0, 0, 1, 1], value: 0.3), x)
    x = b.conv2d("conv2", x, 2, 2, kernel: 3)
    let qm = try Prepare.quantize(b.build(output: x), config: QuantizationConfig())
    #expect(qm.activationQuantizers.map(\.label) == ["input", "conv", "pad", "conv2"])
    #expect(qm.positionTies.map { [$0.output.label, $0.input.label] } == [["pad", "conv"]])
    let batch = randomTensor([2, 2, 4, 4], seed: 3)
    try Calibration.calibrate(qm) { body in try body(batch) }
    let dir = TestData.temporaryDirectory()
    try Exporter.export(qm, to: dir)
    let sim = try Simulator(directory: dir)
    let pad = sim.graph.nodes.first { $0.op == .pad }!
    let f = sim.graph.tensors[pad.output]!.fractionalBits
    #expect(f == sim.graph.tensors[pad.inputs[0]]!.fractionalBits)
    #expect(pad.padValue == Int((0.3 * Double(1 << f)).rounded()))
    #expect(try BitExactCheck.compare(qm, sim, batch: batch).mismatchedTensors.isEmpty)
  }

  /// The per-step weight-format refresh of QAT throws instead of continuing with stale formats.
  @Test func qatWeightRefreshFailureStopsTraining() throws {
    let s = try QATSession(model: exportNet(seed: 2, leaky: false), config: QuantizationConfig())
    try s.calibrate(exportBatches(seed: 10, count: 1))
    let trainer = s.trainer(optimizer: SGD(s.model.parameters, learningRate: 0.01), schedule: ConstantSchedule(0.01))
    try trainer.afterStep?(1)
    let w = s.quantized.weightLayers[1].layer.weightParameter
    var v = w.value.scalars
    v[0] = .infinity
    w.value = Tensor(v, shape: w.value.shape)
    do { try trainer.afterStep?(2); Issue.record("a non-finite weight refreshed silently") } catch let e as TrainingError {
      #expect(e.description.contains("step 2") && e.description.contains("weight"), "\(e)")
    }
  }

  /// Preparing a prepared model, and exporting an add of three inputs (the deploy add takes two),
  /// fail naming the node instead of quantizing twice or dropping an input.
  @Test func preparedModelsAndWideAddsAreRefused() throws {
    let qm = try Prepare.quantize(exportNet(seed: 1), config: QuantizationConfig())
    do { _ = try Prepare.quantize(qm.model, config: QuantizationConfig()); Issue.record("prepared twice") } catch let e as QuantizationError {
      #expect(e.description.contains("already quantized"), "\(e)")
    }
    var b = ModelBuilder(seed: 1)
    let x = b.input(shape: [2, 4, 4])
    let a = b.conv2d("a", x, 2, 2, kernel: 1), c = b.conv2d("c", x, 2, 2, kernel: 1), d = b.conv2d("d", x, 2, 2, kernel: 1)
    let sum = b.add("sum3", Add(), [a, c, d])
    let wide = try Prepare.quantize(b.build(output: sum), config: QuantizationConfig())
    try Calibration.calibrate(wide) { body in try body(randomTensor([2, 2, 4, 4], seed: 3)) }
    do { try Exporter.export(wide, to: TestData.temporaryDirectory()); Issue.record("three-input add exported") } catch let e as DeployError {
      #expect(e.description.contains("sum3") && e.description.contains("3 inputs"), "\(e)")
    }
  }

  @Test func recipeSpellingsOfEarlierVersionsAreRefusedWithTheReplacement() {
    func message(_ body: () throws -> Void) -> String {
      do { try body() } catch { return "\(error)" }
      return ""
    }
    #expect(message { try RecipeSupport.refuseRemovedOptions(bits: "4,8", endBits: nil, biasBits: nil, residualBits: nil) }
      .contains("--weight-bit 4 --activation-bit 8 (or --bitwidths 8,4"))
    #expect(message { try RecipeSupport.refuseRemovedOptions(bits: nil, endBits: 8, biasBits: nil, residualBits: nil) }
      .contains("--first-layer-bit 8 --last-layer-bit 8"))
    #expect(message { try RecipeSupport.refuseRemovedOptions(bits: nil, endBits: nil, biasBits: nil, residualBits: 8) }
      .contains("--residual-bit 8"))
    #expect(message { try RecipeSupport.refuseRemovedOptions(bits: nil, endBits: nil, biasBits: nil, residualBits: nil) }.isEmpty)
    #expect(message { _ = try RecipeSupport.learningRateSchedule("cosin", base: 0.1, totalSteps: 10) }.contains("cosine, constant"))
  }
}
