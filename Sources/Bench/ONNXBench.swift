import ArgumentParser
import Foundation
import ONNX
import TensorCore

/// Seconds to import resnet20.onnx and a 200-node synthetic graph (file read, protobuf decoding,
/// import with shape folding), against ONNX Runtime creating a session on the same files in the
/// same run (benchmarks/onnx_import_reference.py, which also writes the synthetic graph).
struct ONNXImportBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "onnx-import",
    abstract: "Median seconds to import resnet20.onnx and a 200-node graph, against ONNX Runtime's session creation.")

  @OptionGroup var options: BenchOptions
  @Option(help: "Shared data root (default $QAT_DATA or ../shared).") var dataRoot: String?
  @Option(help: "Python with numpy, onnx and onnxruntime (runs benchmarks/onnx_import_reference.py).") var python = "python3"

  func run() throws {
    options.apply()
    let root = dataRoot ?? ProcessInfo.processInfo.environment["QAT_DATA"] ?? "../shared"
    let model = root + "/models/resnet20.onnx"
    let synthetic = NSTemporaryDirectory() + "qat-bench-synthetic-\(ProcessInfo.processInfo.processIdentifier).onnx"
    defer { try? FileManager.default.removeItem(atPath: synthetic) }
    // ours, the reference (which writes the synthetic graph first), ours again: drift hits both
    func reference() throws -> [String: Any] {
      let p = Process()
      p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      p.arguments = [python, "benchmarks/onnx_import_reference.py", "--synthetic", synthetic, "--model", model,
                     "--repeats", "\(options.repeats)"]
      let pipe = Pipe()
      p.standardOutput = pipe
      try p.run()
      p.waitUntilExit()
      guard p.terminationStatus == 0,
            let object = try JSONSerialization.jsonObject(with: pipe.fileHandleForReading.readDataToEndOfFile()) as? [String: Any] else {
        throw ValidationError("the reference script failed (needs \(python) with numpy, onnx and onnxruntime: --python)")
      }
      return object
    }
    func ours(_ path: String) throws -> [Double] {
      try (0..<options.repeats).map { _ in
        let t0 = now()
        _ = try ONNXImporter.load(path: path)
        return now() - t0
      }
    }
    let first = try ours(model)
    let ref = try reference()
    let modelTimes = first + (try ours(model)), syntheticTimes = try ours(synthetic)
    let nodes = try ONNXImporter.load(path: synthetic).nodes.count
    for (name, times, refKey, count) in [("onnx-import-resnet20", modelTimes, "model_seconds", 75),
                                         ("onnx-import-synthetic", syntheticTimes, "synthetic_seconds", nodes)] {
      let ms = median(times) * 1e3, refMs = (ref[refKey] as! Double) * 1e3
      emit([("name", name), ("ms", ms), ("onnx_nodes", count), ("reference_ms", refMs), ("ratio", ms / refMs),
            ("reference", "ONNX Runtime \(ref["onnxruntime"]!) InferenceSession creation, CPU, same run")])
    }
  }
}

/// The long fuzz run of the ONNX reader and importer (the tests run a short one).
struct ONNXFuzzBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fuzz-onnx",
    abstract: "Seeded mutation fuzzing of the ONNX reader and importer: inputs, how they ended, the slowest.")

  @Option(help: "Mutated inputs to run.") var iterations = 100_000
  @Option var seed: UInt64 = 1
  @Option(help: "Shared data root (resnet20.onnx is a seed).") var dataRoot: String?
  @Option(help: "Folder of further seed models (e.g. .fixtures/onnx).") var fixtures = ".fixtures/onnx"
  @Option(help: "Write the slowest input here.") var saveSlowest: String?

  func run() throws {
    let root = dataRoot ?? ProcessInfo.processInfo.environment["QAT_DATA"] ?? "../shared"
    var paths = [root + "/models/resnet20.onnx"]
    let listed = (try? FileManager.default.contentsOfDirectory(atPath: fixtures)) ?? []
    paths += listed.filter { $0.hasSuffix(".onnx") && !$0.contains("external") }.sorted().map { fixtures + "/" + $0 }
    let seeds = try paths.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
    Threading.configure(threads: 1)
    var fuzzer = try ONNXFuzzer(seeds: seeds, seed: seed)
    let r = fuzzer.run(iterations: iterations)
    if let saveSlowest { try r.slowestInput.write(to: URL(fileURLWithPath: saveSlowest)) }
    emit([("name", "fuzz-onnx"), ("inputs", r.inputs), ("seeds", seeds.count), ("unreadable", r.unreadable), ("refused", r.refused),
          ("imported_and_ran", r.imported), ("imported_not_run", r.notRun), ("crashes", 0), ("slowest_s", r.slowestSeconds),
          ("seconds", r.seconds), ("seed", Int(seed))])
  }
}
