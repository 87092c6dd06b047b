import ArgumentParser
import TensorCore

@main
struct QATBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "qat-bench",
    abstract: "swift-qat benchmarks. Each prints one JSON object per line; every figure comes with a ratio to a reference measured in the same run.",
    subcommands: [KernelsBench.self, TrainStepBench.self, QATStepBench.self, CalibrateBench.self, SimulateBench.self,
                  ONNXImportBench.self, ONNXFuzzBench.self, DeployFuzzBench.self, QDQBench.self])
}

/// Options shared by every benchmark.
struct BenchOptions: ParsableArguments {
  @Option(help: "Threads for OpenBLAS, oneDNN and our kernels.")
  var threads: Int = 2

  @Option(help: "Timed repetitions per figure (the median is reported).")
  var repeats: Int = 7

  func apply() { Threading.configure(threads: threads) }
}
