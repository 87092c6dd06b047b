import DeployFormat
import Export
import Autograd
import Foundation
import Layers
import QAT
import Simulator
import Testing
import TensorCore
import TestSupport
import Training
@testable import ONNX

/// Every fixture graph through the whole integer pipeline: prepare, calibrate, export, and the
/// simulator equal to the fake-quant model at every tensor. A graph with nodes the deploy format
/// cannot express has them named before calibration, export fails on the first of them, and
/// the graph deploys once they and what follows them stay in float (ignore_nodes).
@Suite struct FixturePipelineTests {
  static func batch(_ entry: Fixtures.Entry, seed: UInt64) -> Tensor {
    var shape = entry.input_shape!
    shape[0] = 4
    return randomTensor(Shape(shape), seed: seed, low: -2, high: 2)
  }

  /// The names of `names` and of every node reading them, directly or not.
  static func downstream(_ model: Model, of names: [String]) -> [String] {
    var reached = Set(names.compactMap { model.index(of: $0) })
    for i in model.nodes.indices where model.nodes[i].inputs.contains(where: reached.contains) { reached.insert(i) }
    return reached.sorted().map { model.nodes[$0].name }
  }

  static func pipeline(_ model: Model, _ config: QuantizationConfig, _ entry: Fixtures.Entry, _ tag: String) throws
    -> (QuantizedModel, [(node: String, reason: String)], Result<String, any Error>) {
    let qm = try Prepare.quantize(model, config: config)
    let unsupported = Exporter.unsupportedNodes(qm)
    try Calibration.calibrate(qm) { body in for s in 0..<3 { try body(Self.batch(entry, seed: 70 + UInt64(s))) } }
    let dir = TestData.temporaryDirectory("fixture-\(tag)")
    return (qm, unsupported, Result { try Exporter.export(qm, to: dir); return dir })
  }

  /// One fixture through the pipeline: the deploy graph and the bit-exact report.
  static func run(_ name: String, simulateDPU: Bool = true) throws -> (DeployGraph, BitExactReport, violations: [String]) {
    var config = QuantizationConfig()
    config.simulateDPU = simulateDPU
    let (qm, simulator, reference, _) = try deploy(name, config, tag: name + (simulateDPU ? "" : "-nodpu"))
    let report = try BitExactCheck.compare(qm, simulator, batch: batch(reference, seed: 99))
    return (simulator.graph, report, try DPURules.violations(simulator.graph))
  }

  /// A fixture quantized with `config`, calibrated and exported (nodes without an integer form and
  /// what follows them kept in float): the model, the simulator of its deploy directory and the
  /// fixture entry whose input shape it takes, and the deploy directory.
  static func deploy(_ name: String, _ config: QuantizationConfig, tag: String) throws -> (QuantizedModel, Simulator, Fixtures.Entry, String) {
    var config = config
    let entries = try Fixtures.manifest()
    let entry = entries.first { $0.name == name }!
    let reference = entry.same_as.map { s in entries.first { $0.name == s }! } ?? entry
    let path = Fixtures.directory + "/\(name).onnx"
    var (qm, unsupported, exported) = try pipeline(try ONNXImporter.load(path: path).model, config, reference, tag)
    if let first = unsupported.first {
      guard case .failure(let error) = exported else { throw QuantizationError("\(name): \(first) was named unsupported, yet export succeeded") }
      #expect("\(error)".contains(first.node), "\(name): export failed on another node than \(first.node): \(error)")
      config.ignoreNodes = downstream(try ONNXImporter.load(path: path).model, of: unsupported.map(\.node))
      (qm, unsupported, exported) = try pipeline(try ONNXImporter.load(path: path).model, config, reference, tag + "-cut")
      #expect(unsupported.isEmpty, "\(name): still unsupported with ignore_nodes \(config.ignoreNodes): \(unsupported)")
    }
    let directory = try exported.get()
    return (qm, try Simulator(directory: directory), reference, directory)
  }

  @Test(.enabled(if: Fixtures.present, Fixtures.skip), arguments: Fixtures.names, [true, false])
  func quantizeExportSimulate(_ name: String, simulateDPU: Bool) throws {
    let (graph, report, violations) = try Self.run(name, simulateDPU: simulateDPU)
    if simulateDPU {
      #expect(violations.isEmpty, "\(name): \(violations)")
    } else {
      // simulate_dpu 0: the float functions, no DPU approximations
      #expect(!graph.nodes.contains { [.hardSigmoid, .hardSwish, .leakyRelu].contains($0.op) || ($0.poolMultiplier ?? 1) != 1 })
    }
    #expect(report.tensorsCompared == graph.nodes.count, "\(name): \(report.tensorsCompared) of \(graph.nodes.count) node outputs compared")
    #expect(report.mismatchedTensors.isEmpty, "\(name): \(report.mismatchedTensors.count) of \(report.tensorsCompared) tensors differ, first \(report.firstMismatch ?? "-")")
  }

  /// Together the fixtures exercise every op of the deploy format.
  @Test(.enabled(if: Fixtures.present, Fixtures.skip))
  func everyDeployOpIsExercised() throws {
    var seen = Set<DeployOp>()
    for name in Fixtures.names { seen.formUnion(try Self.run(name).0.nodes.map(\.op)) }
    #expect(Set(DeployOp.allCases).subtracting(seen).isEmpty, "never exported: \(Set(DeployOp.allCases).subtracting(seen).map(\.rawValue).sorted())")
  }

  /// Every pass on graphs we did not write: CLE with ReLU6 replaced, each calibration method,
  /// per-role widths and nodes_bit, AdaRound, bias correction, export, the simulator bit-exact, and
  /// dump / compare over its per-node integer results.
  @Test(.enabled(if: Fixtures.present, Fixtures.skip),
        arguments: [("mobilenet_v2", "min-diffs"), ("mobilenet_v3", "entropy"), ("inception", "percentile"),
                    ("squeeze_excite", "mse"), ("unet", "min-max"), ("vgg", "non-overflow")])
  func everyPassOnAnyGraph(_ name: String, _ method: String) throws {
    let entry = try Fixtures.manifest().first { $0.name == name }!
    let model = try ONNXImporter.load(path: Fixtures.directory + "/\(name).onnx").model
    var options = CrossLayerEqualization.Options()
    options.replaceReLU6 = true
    let cle = CrossLayerEqualization.run(model, options)
    var config = QuantizationConfig()
    config.method = CalibrationMethod.named(method)!
    (config.weightBit, config.firstLayerBit, config.lastLayerBit) = (6, 8, 8)
    if let conv = model.nodes.first(where: { ($0.layer as? any WeightBearing)?.isDepthwise == true || $0.layer is Conv2D })?.name {
      config.nodesBit = [conv + ".weight": 4]
    }
    let qm = try Prepare.quantize(model, config: config)
    let batches = (0..<3).map { Self.batch(entry, seed: 300 + UInt64($0)) }
    try Calibration.calibrate(qm) { body in for b in batches { try body(b) } }
    try ShiftConstraints.enforce(qm)
    var rounding = AdaRound.Options()
    (rounding.iterations, rounding.batchSize) = (20, 4)
    let ada = try AdaRound.apply(qm, batches: batches, options: rounding)
    let correction = try BiasCorrection.correct(qm) { body in for b in batches { try body(b) } }
    #expect(!ada.layers.isEmpty && !correction.corrected.isEmpty)
    let dir = TestData.temporaryDirectory("fixture-all-\(name)")
    try Exporter.export(qm, to: dir)
    let sim = try Simulator(directory: dir)
    let x = Self.batch(entry, seed: 99)
    let report = try BitExactCheck.compare(qm, sim, batch: x)
    #expect(report.tensorsCompared == sim.graph.nodes.count && report.mismatchedTensors.isEmpty,
            "\(name): \(report.firstMismatch ?? "-") (CLE pairs \(cle.pairs.count))")
    // dump the simulator's per-node results, and the fake-quant model's as codes; compare them
    let (a, b) = (TestData.temporaryDirectory("dump-sim-\(name)"), TestData.temporaryDirectory("dump-fq-\(name)"))
    try Dump.write(try sim.run([x], keepAll: true), graph: sim.graph, index: 0, to: a)
    var fakeQuant: [String: IntTensor] = [:]
    qm.model.setPhase(.inference)
    _ = qm.model.withoutGradients {
      qm.model.forward([x]) { i, t in
        let tensor = qm.activationQuantizer(atNode: i)?.label ?? qm.model.nodes[i].name
        if let f = sim.graph.tensors[tensor]?.format, let codes = try? IntTensor(onGrid: t.rowMajor, format: f) { fakeQuant[tensor] = codes }
      }
    }
    try Dump.write(fakeQuant, graph: sim.graph, index: 0, to: b)
    var comparison = try DumpComparison.compare(reference: a, actual: b, graph: sim.graph)
    #expect(comparison.rows.count == sim.graph.nodes.count && comparison.firstDivergence == nil, "\(comparison.missing)")
    // one changed code in the middle of the graph is found and named
    let victim = sim.graph.nodes[sim.graph.nodes.count / 2].output
    var changed = fakeQuant[victim]!
    changed.codes[0] = changed.codes[0] == changed.format.qmax ? changed.codes[0] - 1 : changed.codes[0] + 1
    fakeQuant[victim] = changed
    try Dump.write(fakeQuant, graph: sim.graph, index: 0, to: b)
    comparison = try DumpComparison.compare(reference: a, actual: b, graph: sim.graph)
    #expect(comparison.firstDivergence == victim)
  }
}
