import Foundation
import Layers
import Testing
import TensorCore
import TestSupport
@testable import ONNX

/// The graphs of scripts/onnx_fixtures.py (written by `.ci/run`, or by hand:
/// `python scripts/onnx_fixtures.py .fixtures/onnx`): our forward against ONNX Runtime's outputs.
enum Fixtures {
  static let directory: String = {
    if let env = ProcessInfo.processInfo.environment["QAT_ONNX_FIXTURES"], !env.isEmpty { return env }
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return repo.appendingPathComponent(".fixtures/onnx").path
  }()
  static var present: Bool { FileManager.default.fileExists(atPath: directory + "/manifest.json") }
  static let skip = Comment(rawValue: "skipped: no ONNX fixtures in \(directory) (run `python scripts/onnx_fixtures.py .fixtures/onnx` with numpy, onnx and onnxruntime, as .ci/run does)")

  struct Entry: Decodable {
    var name: String
    var opset: Int?
    var input_shape: [Int]?
    var output_shapes: [[Int]]?
    var same_as: String?
  }

  static func manifest() throws -> [Entry] {
    struct Manifest: Decodable { var fixtures: [Entry] }
    return try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/manifest.json"))).fixtures
  }

  static func floats(_ file: String) throws -> [Float] {
    let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file))
    return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
  }

  static var names: [String] { (try? manifest().map(\.name)) ?? [] }
}

@Suite struct FixtureTests {
  /// Every fixture imports, and its outputs equal ONNX Runtime's within 1e-4 of the output range.
  @Test(.enabled(if: Fixtures.present, Fixtures.skip), arguments: Fixtures.names)
  func forwardMatchesONNXRuntime(_ name: String) throws {
    let entries = try Fixtures.manifest()
    let entry = entries.first { $0.name == name }!
    let reference = entry.same_as.map { s in entries.first { $0.name == s }! } ?? entry
    let result = try ONNXImporter.load(path: Fixtures.directory + "/\(name).onnx")
    let model = result.model
    model.setPhase(.inference)
    let x = Tensor(try Fixtures.floats("\(reference.name).input.bin"), shape: Shape(reference.input_shape!))
    let outputs = model.withoutGradients { model.forward([x]) }
    #expect(outputs.count == reference.output_shapes!.count)
    for (k, (y, shape)) in zip(outputs, reference.output_shapes!).enumerated() {
      #expect(y.shape == Shape(shape), "\(name) output \(k): \(y.shape) vs \(shape)")
      let expected = try Fixtures.floats("\(reference.name).output\(k).bin")
      guard y.count == expected.count else { continue }
      let range = Double((expected.max() ?? 0) - (expected.min() ?? 0))
      let error = zip(y.scalars, expected).map { Double(abs($0 - $1)) }.max() ?? 0
      #expect(error <= 1e-4 * max(range, 1e-3), "\(name) output \(k): max |difference| \(error), output range \(range)")
    }
  }
}
