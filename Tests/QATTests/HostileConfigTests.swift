import Foundation
import Layers
import Testing
import TensorCore
import TestSupport
@testable import QAT

/// Issue 17's configuration findings, each reproduced: values that used to trap (a precondition
/// deep in a quantizer or an observer) or to write a useless model are errors naming the setting,
/// or a warning naming the tensors.
@Suite struct HostileConfigTests {
  func error(_ body: (inout QuantizationConfig) throws -> Void) -> String {
    var c = QuantizationConfig()
    do {
      try body(&c)
      try c.validate()
    } catch { return "\(error)" }
    return "no error"
  }

  @Test func firstAndLastLayerBitsOutsideTheWidths() {
    #expect(error { $0.firstLayerBit = 1 }.contains("first_layer_bit must be in 2...16, got 1"))
    #expect(error { $0.lastLayerBit = 99 }.contains("last_layer_bit must be in 2...16, got 99"))
    #expect(error { $0.firstLayerBit = 8; $0.lastLayerBit = 16 } == "no error")
  }

  @Test func histogramParametersOutOfRange() {
    #expect(error { $0.method = .percentile(bins: 2048, threshold: 2) }.contains("threshold must be in (0, 1]"))
    #expect(error { $0.method = .percentile(bins: 2048, threshold: 0) }.contains("got 0.0"))
    #expect(error { $0.method = .percentile(bins: 2048, threshold: .nan) }.contains("got nan"))
    #expect(error { $0.method = .entropy(bins: 0) }.contains("entropy: bins must be in 16...65536, got 0"))
    #expect(error { $0.method = .entropy(bins: 1) }.contains("got 1"))
    #expect(error { $0.weightMethod = .mse(bins: 1 << 40) }.contains("mse: bins"))
    #expect(error { $0.method = .movingAverageMinMax(averagingConstant: -1) }.contains("averaging constant"))
    #expect(error { $0.nodesMethod = ["conv1": .entropy(bins: 3)] }.contains("nodes_method conv1: entropy"))
    #expect(error { $0.method = .percentile(bins: 2048, threshold: 0.9999) } == "no error")
  }

  @Test func histogramParametersInAConfigFile() {
    let m: String
    do {
      _ = try JSONDecoder().decode(QuantizationConfig.self, from: Data(#"{"method": {"name": "entropy", "bins": 1}}"#.utf8))
      m = "no error"
    } catch { m = describeDecodingError(error) }
    #expect(m.contains("method") && m.contains("bins must be in 16...65536, got 1"), "\(m)")
  }

  @Test func fixPositionOutsideTheKernelsRangeOrContradicted() {
    #expect(error { try $0.apply(bitwidths: "16,16"); $0.fixedFractionalBits = 100 }.contains("must be in -32...32, got 100"))
    #expect(error { $0.fixedFractionalBits = -40 }.contains("got -40"))
    #expect(error { $0.perChannelWeights = true; $0.weightMethod = .minMax; $0.fixedFractionalBits = 4 }
      .contains("contradicts per-channel weights"))
    #expect(error { try $0.apply(bitwidths: "16,16"); $0.fixedFractionalBits = 8 } == "no error")
  }

  /// A fix position the data cannot live with (8 bits at position 20: weights near 1 saturate at
  /// 2^-13 of their range) is named per tensor; Q8.8 on 16 bits, which fits, gives no warning.
  @Test func fixPositionFarFromTheDataIsNamedPerTensor() throws {
    let batches = calibrationBatches(seed: 51)
    func misfits(_ bitwidths: String, _ position: Int) throws -> [String] {
      var c = QuantizationConfig()
      try c.apply(bitwidths: bitwidths)
      c.fixedFractionalBits = position
      let qm = try Prepare.quantize(smallNet(seed: 8), config: c)
      try Calibration.calibrate(qm) { body in for b in batches { try body(b) } }
      return qm.fixedPositionMisfits()
    }
    let far = try misfits("8,8", 20)
    #expect(far.contains { $0.hasPrefix("conv1.weight: fix position 20 on 8 bits") && $0.contains("saturates") }, "\(far)")
    let coarse = try misfits("8,8", -12)
    #expect(!coarse.isEmpty && coarse.allSatisfy { $0.contains("at most 1 code") }, "\(coarse)")
    #expect(try misfits("16,16", 8).isEmpty)
  }
}

/// Issue 17's quantization-JSON findings: a position the kernels cannot hold, a per-channel axis
/// or scale count that does not fit the weight, a zero point outside the codes, a tensor listed
/// twice — each used to trap or to be taken silently (the last entry won); now each is an error
/// naming the tensor.
@Suite struct HostileQuantizationJSONTests {
  /// A calibrated model's state as a JSON object, the edit applied, loaded back into a fresh model.
  func apply(perChannel: Bool, _ edit: (inout [[String: Any]]) -> Void) throws -> String {
    var c = QuantizationConfig()
    if perChannel { (c.perChannelWeights, c.method) = (true, .minMax) }
    let qm = try Prepare.quantize(smallNet(seed: 9), config: c)
    let batches = calibrationBatches(seed: 52)
    try Calibration.calibrate(qm) { body in for b in batches { try body(b) } }
    let data = try JSONEncoder().encode(try QuantizationState(qm, architecture: "small"))
    var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
    var tensors = object["tensors"] as! [[String: Any]]
    edit(&tensors)
    object["tensors"] = tensors
    let state = try JSONDecoder().decode(QuantizationState.self, from: JSONSerialization.data(withJSONObject: object))
    do {
      try state.apply(to: try Prepare.quantize(smallNet(seed: 9), config: c))
    } catch { return "\(error)" }
    return "no error"
  }

  func entry(_ name: String, _ tensors: inout [[String: Any]], _ edit: (inout [String: Any]) -> Void) {
    let i = tensors.firstIndex { $0["name"] as? String == name }!
    edit(&tensors[i])
  }

  @Test func positionsOutsideTheKernelsRange() throws {
    #expect(try apply(perChannel: false) { entry("conv1.weight", &$0) { $0["fractional_bits"] = 100 } }
      .contains("conv1.weight has fractional_bits 100, expected -64...64"))
    #expect(try apply(perChannel: false) { entry("relu1", &$0) { $0["fractional_bits"] = -70 } }.contains("relu1 has fractional_bits -70"))
    #expect(try apply(perChannel: false) { _ in } == "no error")
  }

  @Test func perChannelAxisAndCountsMustFitTheWeight() throws {
    #expect(try apply(perChannel: true) { entry("conv1.weight", &$0) { $0["axis"] = 5 } }
      .contains("conv1.weight has axis 5, outside the axes 0..<4"))
    #expect(try apply(perChannel: true) { entry("conv1.weight", &$0) { e in
      e["scales"] = Array((e["scales"] as! [Double]).prefix(3))
      e["zero_points"] = [0, 0, 0]
    } }.contains("3 channel parameters for the 8 channels of axis 0"))
    #expect(try apply(perChannel: true) { _ in } == "no error")
  }

  @Test func zeroPointOutsideTheCodes() throws {
    #expect(try apply(perChannel: true) { entry("conv1.weight", &$0) { e in
      var z = e["zero_points"] as! [Int]
      z[0] = 100_000
      e["zero_points"] = z
    } }.contains("zero point 100000 outside the 8-bit range"))
  }

  @Test func aTensorListedTwice() throws {
    #expect(try apply(perChannel: false) { t in t.append(t[0]) }.contains("appears twice"))
  }
}
