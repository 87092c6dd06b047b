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
    let entries = try Fixtures.manifest()
    let entry = entries.first { $0.name == name }!
    let reference = entry.same_as.map { s in entries.first { $0.name == s }! } ?? entry
    let path = Fixtures.directory + "/\(name).onnx"
    var config = QuantizationConfig()
    config.simulateDPU = simulateDPU
    let tag = name + (simulateDPU ? "" : "-nodpu")
    var (qm, unsupported, exported) = try pipeline(try ONNXImporter.load(path: path).model, config, reference, tag)
    if let first = unsupported.first {
      guard case .failure(let error) = exported else { throw QuantizationError("\(name): \(first) was named unsupported, yet export succeeded") }
      #expect("\(error)".contains(first.node), "\(name): export failed on another node than \(first.node): \(error)")
      config.ignoreNodes = downstream(try ONNXImporter.load(path: path).model, of: unsupported.map(\.node))
      (qm, unsupported, exported) = try pipeline(try ONNXImporter.load(path: path).model, config, reference, tag + "-cut")
      #expect(unsupported.isEmpty, "\(name): still unsupported with ignore_nodes \(config.ignoreNodes): \(unsupported)")
    }
    let simulator = try Simulator(directory: try exported.get())
    let report = try BitExactCheck.compare(qm, simulator, batch: batch(reference, seed: 99))
    return (simulator.graph, report, try DPURules.violations(simulator.graph))
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
}
