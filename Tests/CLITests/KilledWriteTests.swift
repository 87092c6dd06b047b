import Foundation
import TensorCore
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Issue 17's kill test: `qat quantize` and `qat export` rewrite a directory and are killed with
/// SIGKILL at random points; after every kill the directory holds, byte for byte, the complete
/// old result or the complete new one, never a mix (each file used to be renamed into place on
/// its own). Both results are reproducible (the same seed writes the same bytes), so "complete"
/// is checked exactly.
@Suite(.serialized) struct KilledWriteTests {
  static let kills = 50

  /// Every visible file of a directory and its bytes.
  static func snapshot(_ dir: String) -> [String: Data] {
    var files: [String: Data] = [:]
    for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
      files[name] = FileManager.default.contents(atPath: dir + "/" + name) ?? Data()
    }
    return files
  }

  static func quantize(seed: Int, to out: String) -> [String] {
    ["quantize", "--model", TestData.path("models/resnet20.h5"), "--arch", "resnet20",
     "--calibration-directory", TestData.path("data/cifar10/train"), "--calibration-size", "4",
     "--calibration-seed", "\(seed)", "--output-dir", out]
  }

  /// Kills `write(target, k)` at random points until `kills` kills have landed while it ran; after
  /// each, the target must equal one of `results`. `write` returns the arguments that rewrite the
  /// target with the result it does not hold now.
  static func killRepeatedly(_ target: String, results: [[String: Data]], seed: UInt64,
                             write: (_ holding: Int) -> [String]) throws {
    // the kill window: one uninterrupted run
    let t0 = Date()
    let full = try CLI.run(write(results.firstIndex(of: snapshot(target)) ?? 0))
    #expect(full.status == 0, "\(full.summary)")
    let window = max(Date().timeIntervalSince(t0), 0.05)
    var rng = RandomGenerator(seed: seed)
    var landed = 0, attempts = 0, duringWrite = 0
    while landed < kills && attempts < 4 * kills {
      attempts += 1
      guard let holding = results.firstIndex(of: snapshot(target)) else { break }
      let started = Date()
      let (p, _, _) = try CLI.start(write(holding))
      var delay: Double
      if attempts % 2 == 1 {
        // anywhere in the run
        delay = rng.nextDouble() * window
        usleep(useconds_t(delay * 1e6))
      } else {
        // within 8 ms of the moment the command starts writing (the narrow window a mix needs)
        while p.isRunning && !writeStarted(target, by: p.processIdentifier, since: started) { usleep(500) }
        usleep(useconds_t(rng.nextDouble() * 8_000))
        delay = Date().timeIntervalSince(started)
      }
      let running = p.isRunning, writing = writeStarted(target, by: p.processIdentifier, since: started)
      kill(p.processIdentifier, SIGKILL)
      p.waitUntilExit()
      if running && p.terminationReason == .uncaughtSignal {
        landed += 1
        if writing { duringWrite += 1 }
      }
      let after = snapshot(target)
      #expect(results.contains(after), "kill \(attempts) after \(Int(delay * 1000)) ms left a mix: \(after.keys.sorted())")
    }
    #expect(landed >= kills, "only \(landed) of \(attempts) kills landed while the command ran")
    print("kill test \(target): \(landed) kills while the command ran, \(duringWrite) of them while it wrote (\(attempts) attempts, a run takes \(Int(window * 1000)) ms)")
  }

  /// Process `pid` has begun to write: its staging directory beside the target exists, or a file
  /// in the target changed.
  static func writeStarted(_ target: String, by pid: Int32, since start: Date) -> Bool {
    let parent = (target as NSString).deletingLastPathComponent, name = (target as NSString).lastPathComponent
    if FileManager.default.fileExists(atPath: parent + "/.\(name).tmp-\(pid)") { return true }
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? [] {
      let date = (try? FileManager.default.attributesOfItem(atPath: target + "/" + entry))?[.modificationDate] as? Date
      if let date, date > start { return true }
    }
    return false
  }

  @Test(.enabled(if: TestData.hasCIFAR, TestData.skipCIFAR), .enabled(if: TestData.hasModels, TestData.skipModels))
  func killedQuantizeAndExportLeaveTheOldOrTheNewDirectory() throws {
    let dir = TestData.temporaryDirectory("kill-test")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for (seed, name) in [(1, "a"), (2, "b")] {
      let q = try CLI.run(Self.quantize(seed: seed, to: dir + "/" + name))
      #expect(q.status == 0, "\(q.summary)")
      let e = try CLI.run(["export", "--model", dir + "/" + name, "--output-dir", dir + "/" + name + "-deploy"])
      #expect(e.status == 0, "\(e.summary)")
    }
    let quantized = [Self.snapshot(dir + "/a"), Self.snapshot(dir + "/b")]
    let deployed = [Self.snapshot(dir + "/a-deploy"), Self.snapshot(dir + "/b-deploy")]
    #expect(quantized[0] != quantized[1] && deployed[0] != deployed[1], "the two seeds must give different results")
    #expect(quantized[0].keys.contains("quantized.h5") && deployed[0].keys.contains("weights.h5"))

    // a repeated run writes the same bytes (HDF5 without object timestamps)
    let again = try CLI.run(Self.quantize(seed: 1, to: dir + "/a2"))
    #expect(again.status == 0 && Self.snapshot(dir + "/a2") == quantized[0], "quantize is not byte-reproducible")

    try FileManager.default.copyItem(atPath: dir + "/a", toPath: dir + "/q")
    try Self.killRepeatedly(dir + "/q", results: quantized, seed: 1) { holding in
      Self.quantize(seed: holding == 0 ? 2 : 1, to: dir + "/q")
    }
    try FileManager.default.copyItem(atPath: dir + "/a-deploy", toPath: dir + "/d")
    try Self.killRepeatedly(dir + "/d", results: deployed, seed: 2) { holding in
      ["export", "--model", dir + (holding == 0 ? "/b" : "/a"), "--output-dir", dir + "/d"]
    }
    // the killed writes' staging directories are removed by the next write
    let q = try CLI.run(Self.quantize(seed: 1, to: dir + "/q"))
    #expect(q.status == 0, "\(q.summary)")
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".q.") }
    #expect(leftovers.isEmpty, "\(leftovers)")
  }
}
