import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Issue 17's command-line findings, each reproduced against the real `qat` executable: options
/// that used to trap (exit by signal) or block now end with an error naming the option and the
/// value, before any file is read.
@Suite struct HostileCommandLineTests {
  static let missing = "/nonexistent/model.h5"

  /// (arguments, text the error must contain)
  static let refused: [([String], String)] = [
    (["quantize", "--batch-size", "0"], "--batch-size must be in 1...4096, got 0"),
    (["quantize", "--batch-size=-1"], "got -1"),
    (["quantize", "--batch-size", "100000000"], "got 100000000"),
    (["quantize", "--method", "percentile", "--threshold", "2"], "percentile threshold must be in (0, 1]"),
    (["quantize", "--method", "percentile", "--threshold", "0"], "got 0.0"),
    (["quantize", "--method", "percentile", "--threshold", "nan"], "got nan"),
    (["quantize", "--method", "entropy", "--bins", "0"], "entropy: bins must be in 16...65536, got 0"),
    (["quantize", "--method", "entropy", "--bins", "1"], "got 1"),
    (["quantize", "--bitwidths", "16,16", "--fix-position", "100"], "must be in -32...32, got 100"),
    (["quantize", "--fix-position=-40"], "got -40"),
    (["quantize", "--first-layer-bit", "1"], "first_layer_bit must be in 2...16, got 1"),
    (["quantize", "--last-layer-bit", "99"], "last_layer_bit must be in 2...16, got 99"),
    (["quantize", "--nodes-bit", "conv1:4,conv1:6"], "--nodes-bit names conv1 twice"),
    (["quantize", "--adjust-shift-cut", "5"], "--adjust-shift-cut must be 0"),
    (["quantize", "--per-channel", "--fix-position", "4"], "contradicts per-channel weights"),
    (["quantize", "--adaround-batch-size", "0"], "--adaround-batch-size must be in"),
    (["eval", "--batch-size", "0", "--data", "/nonexistent"], "--batch-size must be in 1...4096, got 0"),
    (["eval", "--limit", "0", "--data", "/nonexistent"], "--limit must be in"),
    (["simulate", "--deploy", "/nonexistent", "--batch-size", "0", "--data", "/nonexistent"], "--batch-size must be in"),
  ]

  @Test(arguments: refused.indices)
  func optionIsRefusedWithItsName(_ i: Int) throws {
    let (arguments, expected) = Self.refused[i]
    var full = arguments
    if arguments[0] != "simulate" { full += ["--model", Self.missing] }
    if arguments[0] == "quantize" { full += ["--output-dir", TestData.temporaryDirectory("cli-refused") + "/out"] }
    let r = try CLI.run(full, timeLimit: 60)
    #expect(!r.signalled && r.status != 0, "\(arguments): \(r.summary)")
    #expect(r.stderr.contains(expected), "\(arguments): expected '\(expected)'; \(r.summary)")
  }

  /// A FIFO as a model or a calibration list used to block in open(); now it is refused at once.
  @Test func fifoIsRefusedNotWaitedOn() throws {
    let dir = TestData.temporaryDirectory("cli-fifo")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for name in ["model.h5", "model.onnx", "list.txt"] { #expect(mkfifo(dir + "/" + name, 0o600) == 0) }
    var cases: [[String]] = [
      ["eval", "--model", dir + "/model.h5", "--data", dir],
      ["eval", "--model", dir + "/model.onnx", "--data", dir],
      ["inspect", "--model", dir + "/model.onnx"],
    ]
    if TestData.hasModels {
      cases.append(["quantize", "--model", TestData.path("models/resnet20.h5"), "--arch", "resnet20",
                    "--calibration-list", dir + "/list.txt", "--output-dir", dir + "/out"])
    }
    for arguments in cases {
      let r = try CLI.run(arguments, timeLimit: 30)
      #expect(!r.timedOut && !r.signalled && r.status != 0, "\(arguments): \(r.summary)")
      #expect(r.stderr.contains("not a regular file"), "\(arguments): \(r.summary)")
    }
  }

  /// Unwritable output paths used to print NSCocoaErrorDomain dumps.
  @Test(.enabled(if: TestData.hasCIFAR, TestData.skipCIFAR), .enabled(if: TestData.hasModels, TestData.skipModels))
  func unwritableOutputIsNamedPlainly() throws {
    let dir = TestData.temporaryDirectory("cli-unwritable")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    #expect(FileManager.default.createFile(atPath: dir + "/file", contents: Data("x".utf8)))
    let r = try CLI.run(["quantize", "--model", TestData.path("models/resnet20.h5"), "--arch", "resnet20",
                         "--calibration-directory", TestData.path("data/cifar10/train"), "--calibration-size", "2",
                         "--output-dir", dir + "/file/out"], timeLimit: 120)
    #expect(!r.signalled && r.status != 0, "\(r.summary)")
    #expect(r.stderr.contains(dir + "/file") && !r.stderr.contains("NSCocoaErrorDomain"), "\(r.summary)")
  }

  /// `eval --arch` on a quantized directory was ignored without a word.
  @Test(.enabled(if: TestData.hasCIFAR, TestData.skipCIFAR), .enabled(if: TestData.hasModels, TestData.skipModels))
  func ignoredArchitectureIsAWarning() throws {
    let dir = TestData.temporaryDirectory("cli-arch")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let q = try CLI.run(["quantize", "--model", TestData.path("models/resnet20.h5"), "--arch", "resnet20",
                         "--calibration-directory", TestData.path("data/cifar10/train"), "--calibration-size", "2",
                         "--output-dir", dir + "/q"])
    #expect(q.status == 0, "\(q.summary)")
    let r = try CLI.run(["eval", "--model", dir + "/q", "--arch", "resnet32", "--data", TestData.path("data/cifar10/test"), "--limit", "4"])
    #expect(r.status == 0 && r.stderr.contains("warning: --arch resnet32 has no effect"), "\(r.summary)")
  }
}
