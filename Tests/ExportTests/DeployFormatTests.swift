import DeployFormat
import Export
import Foundation
import QAT
import Simulator
import Testing
import TensorCore
import TestSupport
import Training

@Suite struct DeployFormatTests {
  func exported() throws -> (String, DeployGraph) {
    let dir = TestData.temporaryDirectory("qat-deploy")
    try Exporter.export(try calibratedNet(QuantizationConfig(), seed: 8), to: dir)
    return (dir, try DeployGraph.read(directory: dir))
  }

  func rewrite(_ dir: String, _ edit: (inout [String: Any]) -> Void) throws {
    let path = dir + "/deploy.json"
    var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    edit(&object)
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
  }

  @Test func manifestNamesEveryTensorWithItsFormatAndShifts() throws {
    let (dir, g) = try exported()
    #expect(g.schemaVersion == 1 && g.inputs == ["input"] && g.outputs == ["fc"])
    let conv = g.nodes.first { $0.name == "conv1" }!
    #expect(conv.op == .conv2d && conv.activation == .relu && conv.output == "relu1")
    #expect(conv.shiftCut != nil && conv.shiftBias != nil)
    #expect(g.nodes.first { $0.name == "avg" }?.poolMultiplier == 7 && g.nodes.first { $0.name == "avg" }?.poolShift == 6)
    #expect(g.nodes.first { $0.name == "add" }?.activation == .relu)
    for n in g.nodes { #expect(g.tensors[n.output] != nil) }
    let payload = try DeployPayload.read(from: dir + "/weights.h5")
    #expect(payload["conv1.weight"]?.shape == [8, 3, 3, 3] && payload["conv1.weight"]?.bits == 8)
    for file in ["quant_info.json", "int8.json", "xfdnn.json", "calibration.cache"] {
      #expect(FileManager.default.fileExists(atPath: dir + "/" + file), "\(file)")
    }
    let int8 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/int8.json"))) as! [String: Any]
    let relu1 = int8["relu1"] as! [String: Any]
    #expect((relu1["min"] as! Double) == -(relu1["max"] as! Double) && (relu1["offset"] as! Int) == 0)
    // the TensorRT cache: one line per 8-bit tensor, the scale as big-endian float32 hex
    let cache = try String(contentsOfFile: dir + "/calibration.cache", encoding: .utf8).split(separator: "\n").map(String.init)
    #expect(cache.first == "TRT-8601-EntropyCalibration2" && cache.count == 1 + g.nodes.count)
    let entry = cache.first { $0.hasPrefix("relu1: ") }!
    let scale = Float(bitPattern: UInt32(entry.dropFirst("relu1: ".count), radix: 16)!)
    #expect(Double(scale) == relu1["scale"] as! Double && scale == Float(Double(sign: .plus, exponent: -g.tensors["relu1"]!.fractionalBits, significand: 1)))
  }

  @Test func strictDecodingNamesTheProblem() throws {
    let (dir, _) = try exported()
    try rewrite(dir) { $0["schema_version"] = 99 }
    #expect(throws: DeployError.self) { try DeployGraph.read(directory: dir) }

    let (d2, _) = try exported()
    try rewrite(d2) { o in
      var nodes = o["nodes"] as! [[String: Any]]
      nodes[1]["op"] = "softmax"
      o["nodes"] = nodes
    }
    do { _ = try DeployGraph.read(directory: d2); Issue.record("unknown op accepted") } catch let e as DeployError {
      #expect(e.description.contains("softmax"))
    }

    let (d3, _) = try exported()
    try rewrite(d3) { o in
      var tensors = o["tensors"] as! [String: Any]
      tensors["relu1"] = nil
      o["tensors"] = tensors
    }
    do { _ = try DeployGraph.read(directory: d3); Issue.record("missing tensor accepted") } catch let e as DeployError {
      #expect(e.description.contains("relu1"))
    }
    // a truncated payload is an error naming the file
    let (d4, _) = try exported()
    let data = try Data(contentsOf: URL(fileURLWithPath: d4 + "/weights.h5"))
    try data.prefix(data.count / 3).write(to: URL(fileURLWithPath: d4 + "/weights.h5"))
    #expect(throws: (any Error).self) { try Simulator(directory: d4) }
  }

  @Test func dumpsFollowTheVaiQConventionAndCompareFindsTheFirstDivergence() throws {
    let (dir, g) = try exported()
    let sim = try Simulator(directory: dir)
    let out = TestData.temporaryDirectory("qat-dump")
    for k in 0..<2 {
      try Dump.write(try sim.run([randomTensor([1, 3, 12, 12], seed: UInt64(k))], keepAll: true), graph: g, index: k, to: out)
    }
    let txt = try String(contentsOfFile: out + "/dump_results_0/relu1_int8.txt", encoding: .utf8)
    let bin = try Dump.read(out + "/dump_results_0/relu1_int8.bin", bits: 8)
    #expect(txt.split(separator: "\n").map { Int($0)! } == bin)
    #expect(bin.count == 8 * 12 * 12)
    // identical dumps compare clean; a corrupted copy names its first divergent tensor
    let copy = TestData.temporaryDirectory("qat-dump-copy")
    try FileManager.default.removeItem(atPath: copy)
    try FileManager.default.copyItem(atPath: out, toPath: copy)
    #expect(try DumpComparison.compare(reference: out, actual: copy, graph: g).firstDivergence == nil)
    var bytes = try Data(contentsOf: URL(fileURLWithPath: copy + "/dump_results_1/conv2_int8.bin"))
    bytes[5] = bytes[5] &+ 3
    try bytes.write(to: URL(fileURLWithPath: copy + "/dump_results_1/conv2_int8.bin"))
    try FileManager.default.removeItem(atPath: copy + "/dump_results_0/fc_int8.bin")
    let c = try DumpComparison.compare(reference: out, actual: copy, graph: g)
    #expect(c.firstDivergence == "conv2")
    let row = c.rows.first { $0.tensor == "conv2" }!
    #expect(row.mismatched == 1 && row.maxLSB == 3)
    #expect(c.missing == ["dump_results_0/fc"])
  }
}
