import Foundation
import Layers
import Testing
import TensorCore
import TestSupport
@testable import QAT

/// Quantization JSON and configuration decode strictly: an unknown key, a value of the wrong type
/// or two settings that contradict each other is an error naming the key (and the file).
@Suite struct StrictConfigTests {
  func decodeConfig(_ json: String) throws -> QuantizationConfig {
    try JSONDecoder().decode(QuantizationConfig.self, from: Data(json.utf8))
  }

  func message(_ body: () throws -> Void) -> String {
    do { try body() } catch { return describeDecodingError(error) }
    return "no error"
  }

  @Test func unknownConfigKeyIsNamed() {
    let m = message { _ = try decodeConfig(#"{"weight_bit": 4, "weight_bits": 8}"#) }
    #expect(m.contains("weight_bits") && m.contains("unknown key"), "\(m)")
    #expect(m.contains("weight_bit,"), "the known keys are listed: \(m)")
  }

  @Test func wrongTypeIsNamed() {
    let m = message { _ = try decodeConfig(#"{"activation_bit": "8"}"#) }
    #expect(m.hasPrefix("activation_bit: expected an integer"), "\(m)")
    let nested = message { _ = try decodeConfig(#"{"method": {"name": "percentile", "bins": 2048, "treshold": 0.99}}"#) }
    #expect(nested.contains("method.treshold") && nested.contains("unknown key"), "\(nested)")
  }

  @Test func modeCodesAreEnumsWithVaiQNumbers() throws {
    let c = try decodeConfig(#"{"align_concat": 1, "adjust_shift_cut": 0, "adjust_shift_bias": 1}"#)
    #expect(c.alignConcat == .outputsOnly && c.adjustShiftCut == .keep && c.adjustShiftBias == .adjust)
    let m = message { _ = try decodeConfig(#"{"align_concat": 3}"#) }
    #expect(m.hasPrefix("align_concat:"), "\(m)")
    // written back with the same numbers
    let json = String(decoding: try JSONEncoder().encode(c), as: UTF8.self)
    #expect(json.contains(#""align_concat":1"#) && json.contains(#""adjust_shift_cut":0"#), "\(json)")
  }

  /// The batch-norm handling is one setting: schema-1 flags still read, both forms together fail.
  @Test func batchNormHandlingCannotContradictItself() throws {
    #expect(try decodeConfig(#"{"batch_norm": "keep"}"#).batchNorm == .keep)
    #expect(try decodeConfig(#"{"fold_bn": true, "qat": true}"#).batchNorm == .qat)
    #expect(try decodeConfig(#"{"fold_bn": false, "qat": false}"#).batchNorm == .keep)
    #expect(try decodeConfig("{}").batchNorm == .fold)
    let m = message { _ = try decodeConfig(#"{"batch_norm": "fold", "qat": true}"#) }
    #expect(m.contains("batch_norm") && m.contains("fold_bn / qat"), "\(m)")
    let bad = message { _ = try decodeConfig(#"{"batch_norm": "folded"}"#) }
    #expect(bad.hasPrefix("batch_norm:"), "\(bad)")
  }

  /// The quantization JSON of a model directory: unknown keys at any level fail naming the file
  /// and the key; a schema-1 file (fold_bn / qat flags) still loads.
  @Test func quantizationFileErrorsNameFileAndKey() throws {
    let qm = try Prepare.quantize(smallNet(seed: 4), config: QuantizationConfig())
    try Calibration.calibrate(qm) { body in for b in calibrationBatches(seed: 20) { try body(b) } }
    let dir = TestData.temporaryDirectory()
    try qm.save(to: dir, architecture: "small")
    let path = dir + "/" + QuantizedModel.stateFile
    var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    func write(_ o: [String: Any]) throws { try JSONSerialization.data(withJSONObject: o).write(to: URL(fileURLWithPath: path)) }

    var tensors = object["tensors"] as! [[String: Any]]
    tensors[2]["fraction_bits"] = 3
    var edited = object
    edited["tensors"] = tensors
    try write(edited)
    do { _ = try QuantizationState.read(from: path); Issue.record("unknown tensor key accepted") } catch {
      #expect("\(error)".contains(path) && "\(error)".contains("tensors[2].fraction_bits"), "\(error)")
    }

    // schema 1: batch-norm handling as two flags
    var config = object["config"] as! [String: Any]
    config["batch_norm"] = nil
    (config["fold_bn"], config["qat"]) = (true, false)
    (object["config"], object["schema_version"]) = (config, 1)
    try write(object)
    let loaded = try QuantizedModel.load(from: dir) { _ in smallNet(seed: 99) }
    #expect(loaded.config.batchNorm == .fold)
    let x = randomTensor([2, 3, 8, 8], seed: 5)
    #expect(loaded.model(x).scalars == qm.model(x).scalars)
  }
}
