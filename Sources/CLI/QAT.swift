import ArgumentParser
import TensorCore

@main
struct QAT: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "qat",
    abstract: "swift-qat: quantize, fine-tune, export and simulate neural networks for fixed-point hardware.",
    version: swiftQATVersion,
    subcommands: [Demo.self, Eval.self, Inspect.self, Quantize.self, Train.self, Finetune.self, ExportCommand.self, Simulate.self, DumpCommand.self, Compare.self])
}

/// Options every command shares.
struct CommonOptions: ParsableArguments {
  @Option(help: "Threads for the numeric libraries (default: all cores).")
  var threads: Int?

  func apply() throws {
    if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    Threading.configure(threads: threads ?? Threading.availableCores)
  }
}
