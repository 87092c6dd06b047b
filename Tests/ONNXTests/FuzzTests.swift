import Foundation
import Testing
import TestSupport
@testable import ONNX

/// A short in-process fuzz run (the long one is `qat-bench fuzz-onnx`, BENCHMARKS.md): mutated
/// graphs import or are refused, none crashes or hangs.
@Suite struct FuzzTests {
  static func seeds() throws -> [Data] {
    var seeds = [try ProtoBuilder.convRelu().bytes()]
    var b = ProtoBuilder.convRelu()
    b.initializers.append(ProtoBuilder.ints("shape", [0, -1]))
    b.node("Reshape", ["relu", "shape"], "flat")
    b.node("Softmax", ["flat"], "out", attributes: [ProtoBuilder.attribute("axis", int: 1)])
    b.outputs = ["out"]
    seeds.append(try b.bytes())
    if Fixtures.present {
      for name in ["mobilenet_v2", "shapes", "unet", "heads"] {
        seeds.append(try Data(contentsOf: URL(fileURLWithPath: Fixtures.directory + "/\(name).onnx")))
      }
    }
    return seeds
  }

  @Test func mutatedGraphsAreImportedOrRefused() throws {
    var fuzzer = try ONNXFuzzer(seeds: try Self.seeds(), seed: 7)
    let r = fuzzer.run(iterations: 2000)
    #expect(r.inputs == 2000 && r.unreadable + r.refused + r.imported + r.notRun == 2000)
    #expect(r.refused > 0 && r.imported > 0, "\(r)")
    #expect(r.slowestSeconds < 10, "slowest input took \(r.slowestSeconds) s")
  }
}
