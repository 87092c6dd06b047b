import Export
import Foundation
import QAT
import Simulator
import Testing
import TensorCore
import TestSupport
import Training
@testable import ONNX

/// Other tools' QDQ models (scripts/qdq_fixtures.py: ONNX Runtime's `quantize_static` with its
/// scales rounded to powers of two, as Quark / vai_q write them for the DPU) read as quantized
/// models with the file's scales: the fake-quant model and the integer simulator both give ONNX
/// Runtime's outputs of the file to 0 LSB, and float scales are refused naming the tensor.
@Suite struct QDQImportTests {
  struct Entry: Decodable { var name: String; var input_shape: [Int]; var output_shape: [Int] }

  static let names: [String] = {
    struct Manifest: Decodable { var qdq: [Entry]? }
    let path = Fixtures.directory + "/manifest.json"
    guard let data = FileManager.default.contents(atPath: path), let m = try? JSONDecoder().decode(Manifest.self, from: data) else { return [] }
    return (m.qdq ?? []).map(\.name)
  }()

  static func entry(_ name: String) throws -> Entry {
    struct Manifest: Decodable { var qdq: [Entry] }
    let m = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.directory + "/manifest.json")))
    return m.qdq.first { $0.name == name }!
  }

  /// ONNX Runtime's input and output of a fixture.
  static func reference(_ name: String) throws -> (Tensor, [Float]) {
    let e = try entry(name)
    return (Tensor(try Fixtures.floats("\(name).qdq.input.bin"), shape: Shape(e.input_shape)), try Fixtures.floats("\(name).qdq.output0.bin"))
  }

  /// The largest difference in units of the output's step.
  static func lsb(_ a: [Float], _ b: [Float], step: Float) -> Float {
    zip(a, b).map { abs($0 - $1) / step }.max() ?? .infinity
  }

  @Test(.enabled(if: Fixtures.present && !QDQImportTests.names.isEmpty, Fixtures.skip), arguments: QDQImportTests.names)
  func fakeQuantAndSimulatorGiveONNXRuntimesOutputs(_ name: String) throws {
    let loaded = try QDQImport.load(try ONNXFile(path: Fixtures.directory + "/\(name).qdq.onnx"))
    let qm = try #require(loaded.quantized)
    let (x, theirs) = try Self.reference(name)
    let ours = qm(x).scalars
    #expect(ours.count == theirs.count)
    #expect(ours == theirs, "\(name): fake-quant differs from ONNX Runtime by up to \(Self.lsb(ours, theirs, step: 1)) (absolute)")

    let dir = TestData.temporaryDirectory("qdq-import-\(name)")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let exported = try Exporter.export(qm, to: dir)
    #expect(exported.adjustments.isEmpty, "\(name): export moved positions \(exported.adjustments)")
    let simulator = try Simulator(directory: dir)
    let output = try #require(try simulator.run([x])[simulator.graph.outputs[0]])
    let step = Float(pow(2, Double(-output.format.fractionalBits)))
    let simulated = output.codes.map { Float($0) * step }
    #expect(Self.lsb(simulated, theirs, step: step) == 0, "\(name): simulator differs from ONNX Runtime by \(Self.lsb(simulated, theirs, step: step)) LSB")
    let report = try BitExactCheck.compare(qm, simulator, batch: x)
    #expect(report.mismatchedTensors.isEmpty && report.tensorsCompared == simulator.graph.nodes.count, "\(name): \(report.mismatchedTensors.sorted())")

    // a quantized-model directory that loads back with the same formats and outputs
    let saved = dir + "/model"
    try ModelStore.saveQuantized(qm, source: loaded.source, preprocessing: nil, to: saved)
    let again = try #require(try ModelStore.load(saved).quantized)
    #expect(again(x).scalars == theirs)
  }

  @Test(.enabled(if: Fixtures.present && !QDQImportTests.names.isEmpty, Fixtures.skip), arguments: QDQImportTests.names)
  func floatScalesAreRefusedNamingTheTensor(_ name: String) throws {
    let path = Fixtures.directory + "/\(name).ort.onnx"
    #expect {
      _ = try QDQImport.load(try ONNXFile(path: path))
    } throws: { error in
      let text = "\(error)"
      return text.contains("power-of-two") && text.contains("tensor '") && text.contains("_QuantizeLinear") || text.contains("_DequantizeLinear")
    }
  }

  /// A DequantizeLinear at another scale than its QuantizeLinear requantizes: no single format.
  @Test(.enabled(if: Fixtures.present && !QDQImportTests.names.isEmpty, Fixtures.skip))
  func requantizingPairIsRefusedNamingTheNode() throws {
    var proto = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: URL(fileURLWithPath: Fixtures.directory + "/residual.qdq.onnx")))
    let initializers = Set(proto.graph.initializer.map(\.name))
    let k = try #require(proto.graph.node.firstIndex { $0.opType == "DequantizeLinear" && !initializers.contains($0.input[0]) })
    let current = try #require(proto.graph.initializer.first { $0.name == proto.graph.node[k].input[1] })
    var scale = current
    scale.name = "changed_scale"
    let value: Float = current.rawData == withUnsafeBytes(of: Float(0.25).bitPattern.littleEndian) { Data($0) } ? 0.125 : 0.25
    scale.rawData = withUnsafeBytes(of: value.bitPattern.littleEndian) { Data($0) }
    scale.floatData = []
    proto.graph.initializer.append(scale)
    proto.graph.node[k].input[1] = "changed_scale"
    let file = try ONNXFile(bytes: try proto.serializedData(), path: "requantizing.onnx")
    let node = proto.graph.node[k].name
    #expect {
      _ = try QDQImport.load(file)
    } throws: { error in "\(error)".contains(node) && "\(error)".contains("requantizing") }
  }

  /// A quantizer of the integer model the file has no pair for is named.
  @Test(.enabled(if: Fixtures.present && !QDQImportTests.names.isEmpty, Fixtures.skip))
  func tensorLeftFloatIsNamed() throws {
    var proto = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: URL(fileURLWithPath: Fixtures.directory + "/residual.qdq.onnx")))
    // drop the pair after the Add's ReLU: readers of its DequantizeLinear read the ReLU directly
    let g = proto.graph
    let producer = Dictionary(g.node.flatMap { n in n.output.map { ($0, n) } }, uniquingKeysWith: { a, _ in a })
    // Add -> Q -> DQ -> Relu -> Q: the ReLU's QuantizeLinear
    let q = try #require(g.node.first { n in
      guard n.opType == "QuantizeLinear", let relu = producer[n.input[0]], relu.opType == "Relu",
            let dq = producer[relu.input[0]], dq.opType == "DequantizeLinear", let q0 = producer[dq.input[0]],
            let add = producer[q0.input[0]] else { return false }
      return add.opType == "Add"
    })
    let dq = try #require(g.node.first { $0.opType == "DequantizeLinear" && $0.input[0] == q.output[0] })
    proto.graph.node = g.node.filter { $0.name != q.name && $0.name != dq.name }.map { n in
      var n = n
      n.input = n.input.map { $0 == dq.output[0] ? q.input[0] : $0 }
      return n
    }
    let file = try ONNXFile(bytes: try proto.serializedData(), path: "float-relu.onnx")
    #expect {
      _ = try QDQImport.load(file)
    } throws: { error in "\(error)".contains("leaves it in float") }
  }
}
