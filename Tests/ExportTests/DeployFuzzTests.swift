import DeployFormat
import Export
import Foundation
import QAT
import Simulator
import Testing
import TestSupport

/// A short in-process fuzz run of the deploy-graph reader and the simulator (the long one is
/// `qat-bench fuzz-deploy`, BENCHMARKS.md): mutated graphs and payloads run or are refused with an
/// error, none crashes or hangs.
@Suite struct DeployFuzzTests {
  @Test func mutatedDeployGraphsRunOrAreRefused() throws {
    let dir = TestData.temporaryDirectory("deploy-fuzz")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Exporter.export(try calibratedNet(QuantizationConfig(), seed: 8), to: dir)
    var fuzzer = try DeployFuzzer(seeds: [try DeployFuzzer.Seed(directory: dir)], seed: 11)
    let r = fuzzer.run(iterations: 3000)
    #expect(r.inputs == 3000 && r.unreadable + r.refused + r.ran + r.runRefused + r.notRun == 3000, "\(r)")
    #expect(r.unreadable > 0 && r.ran > 0, "\(r)")
    #expect(r.slowestSeconds < 10, "slowest input took \(r.slowestSeconds) s")
  }
}
