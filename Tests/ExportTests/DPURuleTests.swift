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

/// The DPU's position rules: enforced on the fake-quant model (so it and the export agree), and
/// checked on the exported graph by an independent walk over every node.
@Suite struct DPURuleTests {
  /// a and b from the input, a + b and a − b concatenated, a · b, hard sigmoid and hard swish of a.
  static func model() -> Model {
    var b = ModelBuilder(seed: 3)
    let x = b.input(shape: [2, 4, 4])
    let p = b.conv2d("a", x, 2, 2, kernel: 1)
    let q = b.conv2d("b", x, 2, 2, kernel: 1)
    let sum = b.add("sum", Add(), [p, q])
    let diff = b.add("diff", Elementwise(.subtract), [p, q])
    let prod = b.add("prod", Elementwise(.multiply), [p, q])
    let hs = b.add("hsig", Hardsigmoid(), p)
    let hw = b.add("hswish", Hardswish(), p)
    let cat = b.add("cat", Concat(), [sum, diff])
    let head = b.conv2d("head", cat, 4, 2, kernel: 1)
    return b.build(outputs: [head, prod, hs, hw])
  }

  static func calibrated(_ config: QuantizationConfig = QuantizationConfig()) throws -> (QuantizedModel, Tensor) {
    let qm = try Prepare.quantize(model(), config: config)
    #expect(qm.model.nodes.map { $0.layer.kind }.contains("DPUHardSigmoid"))
    let x = randomTensor([4, 2, 4, 4], seed: 5, low: -3, high: 3)
    try Calibration.calibrate(qm) { body in try body(x) }
    return (qm, x)
  }

  static func set(_ qm: QuantizedModel, _ label: String, _ p: Int) {
    let q = qm.quantizer(labelled: label)!
    var f = q.fixedPointFormat!
    f.fractionalBits = p
    q.setFormat(.fixedPoint(f))
  }

  static func position(_ qm: QuantizedModel, _ label: String) -> Int { qm.quantizer(labelled: label)!.fixedPointFormat!.fractionalBits }

  @Test func elementwiseRulesMovePositions() throws {
    var config = QuantizationConfig()
    config.alignConcat = .off  // the concat's alignment would move the outputs again
    let (qm, _) = try Self.calibrated(config)
    Self.set(qm, "a", 3); Self.set(qm, "b", 14)
    Self.set(qm, "sum", 20)   // shift_write 3 − 20 = −17
    Self.set(qm, "prod", 40)  // shift_write 3 + 10 − 40 = −27 once b has moved
    Self.set(qm, "hsig", 5)   // below 7
    try ShiftConstraints.enforce(qm)
    #expect(Self.position(qm, "b") == 10)  // shift_read 11 → 7
    #expect(Self.position(qm, "sum") == 3 + 7)  // shift_write −7
    #expect(Self.position(qm, "prod") == 3 + 10)  // shift_write 0
    #expect(Self.position(qm, "hsig") == 7)
    #expect(Self.position(qm, "a") == 3)  // within the hard sigmoid's [0, 9]
    let reasons = qm.adjustments.map(\.reason)
    #expect(reasons.contains { $0.hasPrefix("shift_read 11") } && reasons.contains { $0.hasPrefix("shift_write -27") })
    #expect(qm.adjustments.contains { $0.node == "b" || ($0.node == "sum" && $0.tensor == .input) })

    Self.set(qm, "a", 12)
    try ShiftConstraints.enforce(qm)
    #expect(Self.position(qm, "a") == 9)  // the hard sigmoid's exact range
  }

  /// After export every rule holds at every node, and the simulator equals the fake-quant model.
  @Test func exportedGraphMeetsEveryRule() throws {
    let (qm, x) = try Self.calibrated()
    Self.set(qm, "b", Self.position(qm, "a") + 11)
    let dir = TestData.temporaryDirectory("dpu-rules")
    let report = try Exporter.export(qm, to: dir)
    #expect(report.adjustments.contains { $0.reason.hasPrefix("shift_read") })
    let sim = try Simulator(directory: dir)
    let violations = try DPURules.violations(sim.graph)
    #expect(violations.isEmpty, "\(violations)")
    let ops = Set(sim.graph.nodes.map(\.op))
    #expect(ops.isSuperset(of: [.add, .sub, .mul, .hardSigmoid, .hardSwish, .concat]))
    let check = try BitExactCheck.compare(qm, sim, batch: x)
    #expect(check.tensorsCompared == sim.graph.nodes.count && check.mismatchedTensors.isEmpty, "\(check.firstMismatch ?? "-")")
  }

  /// The walk finds each broken rule and names the node.
  @Test func violationsAreNamed() throws {
    let (qm, _) = try Self.calibrated()
    try ShiftConstraints.enforce(qm)
    let (g, _) = try Exporter.lower(qm)
    let violations = try DPURules.violations(g)
    #expect(violations.isEmpty, "\(violations)")
    func broken(_ edit: (inout DeployGraph) -> Void) throws -> [String] {
      var copy = g
      edit(&copy)
      return try DPURules.violations(copy)
    }
    let sum = g.nodes.first { $0.name == "sum" }!, cat = g.nodes.first { $0.op == .concat }!
    let v1 = try broken { $0.tensors[sum.inputs[1]]!.fractionalBits = $0.tensors[sum.inputs[0]]!.fractionalBits + 9 }
    #expect(v1.contains { $0.contains("node sum") && $0.contains("shift_read 9") })
    let v2 = try broken { $0.tensors[cat.output]!.fractionalBits += 1 }
    #expect(v2.contains { $0.contains(cat.name) && $0.contains("differ from the output") })
    let v3 = try broken { graph in
      let i = graph.nodes.firstIndex { $0.name == "hsig" }!
      graph.tensors[graph.nodes[i].output]!.fractionalBits = 3
    }
    #expect(v3.contains { $0.contains("node hsig") && $0.contains("below 7") })
  }

  /// Rules that contradict each other (a hard sigmoid's output, at position ≥ 7, concatenated
  /// with a tensor of a wider range) are refused at export, naming the node.
  @Test func conflictingRulesAreRefused() throws {
    var b = ModelBuilder(seed: 3)
    let x = b.input(shape: [2, 4, 4])
    let p = b.conv2d("a", x, 2, 2, kernel: 1)
    let hs = b.add("hsig", Hardsigmoid(), p)
    let cat = b.add("cat", Concat(), [p, hs])
    let qm = try Prepare.quantize(b.build(output: cat), config: QuantizationConfig())
    try Calibration.calibrate(qm) { body in try body(randomTensor([4, 2, 4, 4], seed: 5, low: -6, high: 6)) }
    #expect(Self.position(qm, "a") < 7)
    do {
      try Exporter.export(qm, to: TestData.temporaryDirectory("dpu-conflict"))
      Issue.record("a graph breaking a DPU rule exported")
    } catch let e as DeployError {
      #expect(e.description.contains("node hsig") && e.description.contains("below 7"), "\(e)")
    }
  }

  /// The DPU's average-pooling factors, from the rule (not from the code that applies them).
  @Test func averagingFactors() {
    #expect(DPURules.averagingFactor((3, 3)) == (7, 6) && DPURules.averagingFactor((7, 7)) == (21, 10))
    #expect(DPURules.averagingFactor((8, 8)) == (1, 6) && DPURules.averagingFactor((14, 14)) == (21, 12))
    for (h, w) in [(3, 3), (5, 5), (6, 6), (3, 6), (7, 7), (14, 14), (8, 8), (2, 3), (5, 7), (10, 10), (1, 9)] {
      let dpu = DPUAvgPool.scaling(kernel: (h, w))
      let rule = DPURules.averagingFactor((h, w))
      #expect(dpu.0 == rule.k && dpu.1 == rule.n, "\(h)x\(w): \(dpu) vs \(rule)")
      #expect(rule.n < 7 + Int((log2(Double(h * w))).rounded(.up)) || h * w & (h * w - 1) == 0)
    }
  }
}
