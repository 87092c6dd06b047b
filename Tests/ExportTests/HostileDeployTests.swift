import DeployFormat
import Export
import Foundation
import HDF5IO
import QAT
import Simulator
import Testing
import TensorCore
import TestSupport

/// Issue 17's deploy-graph findings, each reproduced on an exported graph edited as a hostile user
/// would: values that used to trap the simulator (division by zero, a precondition, a petabyte
/// allocation, a segmentation fault) or that it silently ignored (stored shifts that disagree with
/// the positions) are errors naming the node or tensor and what was expected.
@Suite struct HostileDeployTests {
  static let exported: String = {
    let dir = TestData.temporaryDirectory("hostile-deploy")
    try! Exporter.export(try! calibratedNet(QuantizationConfig(), seed: 8), to: dir)
    return dir
  }()

  /// A copy of the exported directory with deploy.json edited.
  func edited(_ edit: (inout [String: Any]) -> Void) throws -> String {
    let dir = TestData.temporaryDirectory("hostile-deploy-case")
    try FileManager.default.removeItem(atPath: dir)
    try FileManager.default.copyItem(atPath: Self.exported, toPath: dir)
    let path = dir + "/deploy.json"
    var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    edit(&object)
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    return dir
  }

  static func node(_ name: String, _ edit: @escaping (inout [String: Any]) -> Void) -> (inout [String: Any]) -> Void {
    { o in
      var nodes = o["nodes"] as! [[String: Any]]
      let i = nodes.firstIndex { $0["name"] as? String == name }!
      edit(&nodes[i])
      o["nodes"] = nodes
    }
  }

  static func conv(_ key: String, _ value: Int) -> (inout [String: Any]) -> Void {
    node("conv1") { n in
      var c = n["conv"] as! [String: Any]
      c[key] = value
      n["conv"] = c
    }
  }

  static func tensor(_ name: String, _ key: String, _ value: Any) -> (inout [String: Any]) -> Void {
    { o in
      var tensors = o["tensors"] as! [String: Any]
      var t = tensors[name] as! [String: Any]
      t[key] = value
      tensors[name] = t
      o["tensors"] = tensors
    }
  }

  static func shifted(_ node: String, _ key: String, by delta: Int) -> (inout [String: Any]) -> Void {
    Self.node(node) { n in n[key] = (n[key] as! Int) + delta }
  }

  nonisolated(unsafe) static let cases: [(String, (inout [String: Any]) -> Void, String)] = [
    ("groups 0", conv("groups", 0), "groups 0 must be positive"),
    ("stride 0", conv("strideH", 0), "stride 0x1"),
    ("negative padding", conv("padTop", -5), "must not be negative"),
    ("padding that asks for terabytes", conv("padTop", 100_000_000), "does not match the convolution"),
    ("tensor bits 0", tensor("relu1", "bits", 0), "bits 0 outside 2...16"),
    ("tensor bits 64", tensor("relu1", "bits", 64), "bits 64 outside"),
    ("fractional position 100", tensor("relu1", "fractional_bits", 100), "fractional_bits 100 outside -64...64"),
    ("an absurd input shape", tensor("input", "shape", [3, 100_000, 100_000]), "more than 268435456 values"),
    ("a zero axis", tensor("relu1", "shape", [8, 0, 8]), "at least 1"),
    ("shift_cut off by one", shifted("conv1", "shift_cut", by: 1), "shift_cut"),
    ("shift_cut 100", node("conv1") { $0["shift_cut"] = 100 }, "disagrees with the positions'"),
    ("shift_bias off by one", shifted("conv1", "shift_bias", by: -1), "shift_bias"),
    ("shift_read 100", node("add") { $0["shift_read"] = 100 }, "shift_read 100 disagrees"),
    ("shift_write off by one", shifted("add", "shift_write", by: 1), "shift_write"),
    ("pool_shift 100", node("avg") { $0["pool_shift"] = 100 }, "pool factor 7 / 2^100 is not 7 / 2^6"),
    ("pool_multiplier 0", node("avg") { $0["pool_multiplier"] = 0 }, "pool factor 0"),
    ("kernel edited", node("conv1") { $0["kernel"] = [5, 5] }, "conv1"),
    ("weight_bits 4 for 8-bit codes", node("conv1") { $0["weight_bits"] = 4 }, "outside the 4-bit range"),
    ("weight_bits 99", node("conv1") { $0["weight_bits"] = 99 }, "weight_bits 99 outside 2...16"),
    // found by the fuzzer: output shapes of shape ops were not checked, and a later add trapped
    ("concat output shape", tensor("cat", "shape", [15, 6, 6]), "concatenating"),
    ("upsample output shape", tensor("up", "shape", [16, 6, 6]), "upsampling"),
    ("flatten output shape", tensor("flatten", "shape", [7]), "flattening"),
    ("graph input listed twice", { o in o["inputs"] = ["input", "input"] }, "input input is listed twice"),
  ]

  @Test(arguments: cases.indices)
  func editedGraphIsRefusedNamingWhat(_ i: Int) throws {
    let (label, edit, expected) = Self.cases[i]
    let dir = try edited(edit)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    do {
      _ = try Simulator(directory: dir)
      Issue.record("\(label): the simulator accepted it")
    } catch {
      #expect("\(error)".contains(expected), "\(label): \(error)")
    }
  }

  /// Weights the payload stores as floats, or as codes beyond weight_bits, are refused (they were
  /// converted or used as they were).
  @Test func payloadOutsideItsFormatIsRefused() throws {
    for (label, values, expected) in [("floats", nil as [Int16]?, "floating-point values where integers are expected"),
                                      ("a code of 1000 in an 8-bit weight", [1000], "holds code 1000, outside the 8-bit range")] {
      let dir = try edited { _ in }
      defer { try? FileManager.default.removeItem(atPath: dir) }
      let path = dir + "/weights.h5"
      let payload = try DeployPayload.read(from: path)
      let original = payload["conv1.weight"]!
      try HDF5File.writeAtomically(to: path) { file in
        for (name, e) in payload.entries where name != "conv1.weight" {
          try file.write(HDF5Name.escaped(name), shape: e.shape, values: e.values)
          try file.setAttribute("bits", numbers: [Double(e.bits)], of: HDF5Name.escaped(name))
        }
        if let values {
          var codes = original.values.map { Int16($0) }
          codes[0] = values[0]
          try file.write("conv1.weight", shape: original.shape, values: codes)
          try file.setAttribute("bits", numbers: [16], of: "conv1.weight")
        } else {
          try file.write("conv1.weight", shape: original.shape, values: original.values.map { Float($0) + 0.5 })
          try file.setAttribute("bits", numbers: [8], of: "conv1.weight")
        }
      }
      do {
        _ = try Simulator(directory: dir)
        Issue.record("\(label): the simulator accepted it")
      } catch {
        #expect("\(error)".contains(expected), "\(label): \(error)")
      }
    }
  }

  /// Slices and pads, on a graph built by hand: a zero step (division by zero), a negative start
  /// (a segmentation fault), an end past the axis, negative pads (a broadcast trap).
  @Test func sliceAndPadOutsideTheirInput() throws {
    let format = FixedPointFormat(bits: 8, fractionalBits: 4)
    func graph(_ op: DeployOp, output shape: [Int], _ set: (inout DeployNode) -> Void) -> DeployGraph {
      var input = DeployNode(name: "x", op: .input, inputs: [], output: "x")
      input.activation = nil
      var n = DeployNode(name: "n", op: op, inputs: ["x"], output: "y")
      set(&n)
      return DeployGraph(inputs: ["x"], outputs: ["y"],
                         tensors: ["x": DeployTensor(shape: [4, 8, 8], format: format, rounding: .halfUp),
                                   "y": DeployTensor(shape: shape, format: format, rounding: .halfUp)],
                         nodes: [input, n])
    }
    func slice(_ r: [(Int, Int, Int)], _ shape: [Int]) -> DeployGraph {
      graph(.slice, output: shape) { $0.slice = r.map { DeploySlice(start: $0.0, end: $0.1, step: $0.2) } }
    }
    let bad: [(String, DeployGraph, String)] = [
      ("step 0", slice([(0, 4, 1), (0, 8, 0), (0, 8, 1)], [4, 8, 8]), "slice step 0 on axis 1"),
      ("negative start", slice([(0, 4, 1), (-3, 8, 1), (0, 8, 1)], [4, 11, 8]), "slice [-3, 8) step 1 on axis 1"),
      ("end past the axis", slice([(0, 4, 1), (0, 1000, 2), (0, 8, 1)], [4, 500, 8]), "reads outside the input's 0..<8"),
      ("wrong output shape", slice([(0, 4, 1), (0, 8, 2), (0, 8, 2)], [4, 8, 8]), "give [4, 4, 4], not the output's [4, 8, 8]"),
      ("negative pad", graph(.pad, output: [4, 8, 8]) { $0.padBefore = [-2, 0, 0]; $0.padAfter = [2, 0, 0] }, "must not be negative"),
      ("pad to another shape", graph(.pad, output: [4, 8, 8]) { $0.padBefore = [2, 0, 0]; $0.padAfter = [2, 0, 0] }, "gives [8, 8, 8]"),
    ]
    for (label, g, expected) in bad {
      #expect(throws: DeployError.self, "\(label)") { try g.validate() }
      do { try g.validate() } catch { #expect("\(error)".contains(expected), "\(label): \(error)") }
    }
    #expect(throws: Never.self) { try slice([(0, 4, 1), (0, 8, 2), (1, 8, 2)], [4, 4, 4]).validate() }
  }
}
