import ArgumentParser
import Foundation
import Simulator
import TensorCore

/// The long fuzz run of the deploy-graph reader and the simulator (the tests run a short one).
struct DeployFuzzBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fuzz-deploy",
    abstract: "Seeded mutation fuzzing of deploy.json, its payload and the simulator: inputs, how they ended, the slowest.")

  @Option(help: "Mutated inputs to run.") var iterations = 100_000
  @Option var seed: UInt64 = 1
  @Option(help: "Deploy directories (`qat export`) whose graphs are the seeds; repeat the option.") var deploy: [String]
  @Option(help: "Write the slowest input's deploy.json here.") var saveSlowest: String?

  func run() throws {
    let seeds = try deploy.map { try DeployFuzzer.Seed(directory: $0) }
    Threading.configure(threads: 1)
    var fuzzer = try DeployFuzzer(seeds: seeds, seed: seed)
    let r = fuzzer.run(iterations: iterations)
    if let saveSlowest { try r.slowestInput.write(to: URL(fileURLWithPath: saveSlowest)) }
    emit([("name", "fuzz-deploy"), ("inputs", r.inputs), ("seeds", seeds.count), ("unreadable", r.unreadable), ("refused", r.refused),
          ("ran", r.ran), ("run_refused", r.runRefused), ("not_run", r.notRun), ("crashes", 0), ("slowest_s", r.slowestSeconds),
          ("seconds", r.seconds), ("seed", Int(seed))])
  }
}
