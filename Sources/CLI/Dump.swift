import ArgumentParser
import DeployFormat
import Foundation
import Simulator
import Training

struct DumpCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dump",
    abstract: "Write the simulator's per-node integer outputs (vai_q dump: <tensor>_int8.bin / .txt per input).")

  @Option(help: "Deploy directory.") var deploy: String
  @Option(help: "Image folder with class subfolders.") var data: String
  @Option(help: "Number of inputs (the first N images, one dump folder each).") var limit = 1
  @Option(help: "Output directory.") var outputDir: String
  @OptionGroup var input: InputOptions
  @OptionGroup var common: CommonOptions

  func validate() throws { try requireOption("--limit", limit, in: 1...100_000) }

  func run() throws {
    try common.apply()
    let sim = try Simulator(directory: deploy)
    let loader = try CIFARData.evaluationLoader(directory: data, limit: limit, batchSize: 1,
                                                preprocessing: try input.deployPreprocessing(deploy, graph: sim.graph))
    var batches = loader.batches(epoch: 0)
    var k = 0
    while let b = try batches.next() {
      try Dump.write(try sim.run([b.images], keepAll: true), graph: sim.graph, index: k, to: outputDir)
      k += 1
    }
    print("dumped \(sim.graph.nodes.count) tensors for \(k) inputs to \(outputDir)")
  }
}

struct Compare: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compare two dump directories tensor by tensor (graph order) and name the first that diverges.")

  @Option(help: "Reference dump (e.g. `qat dump` of the simulator).") var reference: String
  @Option(help: "Dump to check (e.g. from the hardware).") var actual: String
  @Option(help: "Deploy directory (for the tensor order and formats).") var deploy: String
  @Flag(help: "Print JSON.") var json = false

  func run() throws {
    let graph = try DeployGraph.read(directory: deploy)
    let c = try DumpComparison.compare(reference: reference, actual: actual, graph: graph)
    if json {
      try printJSON(["first_divergence": c.firstDivergence ?? NSNull(), "missing": c.missing,
                     "tensors": c.rows.map { ["tensor": $0.tensor, "values": $0.values, "mismatch_fraction": $0.mismatchFraction,
                                              "max_lsb_diff": $0.maxLSB, "mean_lsb_diff": $0.meanLSB] as [String: Any] }])
    } else {
      for r in c.rows {
        print(String(format: "%-32@ %8d values  %7.3f %% mismatched  max %d LSB  mean %.4f LSB", r.tensor as NSString, r.values,
                     100 * r.mismatchFraction, r.maxLSB, r.meanLSB))
      }
      print("first divergence: \(c.firstDivergence ?? "none")")
    }
    if c.firstDivergence != nil { throw ExitCode(1) }
  }
}
