import ArgumentParser
import Datasets
import Export
import Foundation
import Layers
import QAT
import Training

struct Quantize: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Post-training quantization: calibrate a float model and write the quantized model and its quantization JSON.")

  @Option(help: "The float model: an ONNX file (.onnx) or weights (.h5: a built-in architecture, or the graph a swift-qat checkpoint carries).")
  var model: String
  @Option(help: "Built-in architecture of .h5 weights (default: the file's 'architecture' attribute).") var arch: String?
  @Option(help: "Output directory (quantized.h5 + quantization.json).") var outputDir: String

  @Option(help: "Calibration images: a folder of images or of class subfolders.") var calibrationDirectory: String?
  @Option(help: "Number of calibration images drawn at random from the directory.") var calibrationSize: Int?
  @Option(help: "Seed for drawing calibration images (exclusive with --calibration-indices).") var calibrationSeed: UInt64?
  @Option(help: "Comma-separated image indices in the directory's sorted order (exclusive with --calibration-seed).")
  var calibrationIndices: String?
  @Option(help: "A list of calibration images (path[<TAB>label] per line, relative to the list's folder).")
  var calibrationList: String?

  @Flag(help: "Cross-layer equalization of the float model before calibration (vai_q include_cle).") var includeCle = false
  @Option(help: "Most rounds of cross-layer equalization (vai_q cle_steps); it stops once the scales converge.") var cleSteps = 10
  @Flag(help: "Replace ReLU6 by ReLU before equalization, so pairs through it equalize (changes the float model; AIMET's replace_relu6_with_relu).")
  var replaceRelu6 = false
  @Flag(inversion: .prefixedNo, help: "High-bias absorption after equalization (Nagel et al. 2019).") var highBiasAbsorption = true
  @Flag(help: "AdaRound: learn each weight's rounding direction layer by layer on the calibration images (AIMET apply_adaround).")
  var adaround = false
  @Option(help: "AdaRound iterations per layer.") var adaroundIterations = 1000
  @Option(help: "AdaRound batch size.") var adaroundBatchSize = 32
  @Option(help: "AdaRound learning rate (Adam).") var adaroundLearningRate: Float = 0.01
  @Flag(help: "AdaRound targets from the float model's input (asymmetric reconstruction).") var adaroundAsymmetric = false
  @Flag(help: "Empirical bias correction on the calibration images after calibration (vai_q include_bias_corr).")
  var includeBiasCorr = false
  @Flag(help: "Quantize even when nodes have no integer form in the deploy format (for fake-quant evaluation only; export will refuse them).")
  var skipExportCheck = false
  @Option(help: "Calibration batch size.") var batchSize = 128
  @Flag(help: "Print one JSON object.") var json = false
  @OptionGroup var quantization: QuantizationOptions
  @OptionGroup var input: InputOptions
  @OptionGroup var common: CommonOptions

  func validate() throws {
    try requireOption("--batch-size", batchSize, in: 1...maxBatchSize)
    try requireOption("--adaround-batch-size", adaroundBatchSize, in: 1...maxBatchSize)
    try requireOption("--adaround-iterations", adaroundIterations, in: 1...1_000_000)
    try requireOption("--calibration-size", calibrationSize, in: 1...Int(Int32.max))
  }

  func run() throws {
    try common.apply()
    let config = try quantization.makeConfig()
    guard cleSteps >= 1 else { throw ValidationError("--cle-steps must be at least 1, got \(cleSteps)") }
    guard adaroundIterations > 0, adaroundBatchSize > 0, adaroundLearningRate > 0 else {
      throw ValidationError("--adaround-iterations, --adaround-batch-size and --adaround-learning-rate must be positive")
    }
    let (loaded, preprocessing) = try input.load(model, architecture: arch)
    if let qm = loaded.quantized, model.lowercased().hasSuffix(".onnx") { return try saveQDQ(qm, loaded, preprocessing, config: config) }
    guard loaded.quantized == nil else { throw ValidationError("\(model) is already quantized; quantize the float model") }
    let float = loaded.model
    var cle: CrossLayerEqualization.Report?
    if includeCle {
      var options = CrossLayerEqualization.Options(steps: cleSteps)
      (options.replaceReLU6, options.absorbHighBias) = (replaceRelu6, highBiasAbsorption)
      cle = CrossLayerEqualization.run(float, options)
      if !json, let cle { printCLE(cle) }
    } else if replaceRelu6 {
      throw ValidationError("--replace-relu6 is part of cross-layer equalization: add --include-cle")
    }
    let indices = try calibrationIndices.map { text in
      try text.split(separator: ",").map { s -> Int in
        guard let i = Int(s.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--calibration-indices: '\(s)' is not an integer") }
        return i
      }
    }
    let data = CalibrationData(directory: calibrationDirectory, listFile: calibrationList, size: calibrationSize,
                               seed: calibrationSeed, indices: indices)
    let loader = try data.loader(preprocessing: preprocessing, batchSize: batchSize)
    let qm = try Prepare.quantize(float, config: config)
    if !skipExportCheck { try ExportCheck.refuseUnsupported(qm) }
    var rounding = AdaRound.Options()
    (rounding.iterations, rounding.batchSize) = (adaroundIterations, adaroundBatchSize)
    (rounding.learningRate, rounding.asymmetric) = (adaroundLearningRate, adaroundAsymmetric)
    let report = try PostTraining.calibrate(qm, loader: loader, adaround: adaround ? rounding : nil, biasCorrection: includeBiasCorr)
    let misfits = qm.fixedPositionMisfits()
    for line in misfits { warn(line) }
    try ModelStore.saveQuantized(qm, source: loaded.source, preprocessing: preprocessing, to: outputDir)
    var summary: [String: Any] = ["output_dir": outputDir, "calibration_images": report.calibration.images,
                                  "passes": report.calibration.passes, "calibration_seconds": rounded(report.calibration.seconds, 3),
                                  "seconds": rounded(report.seconds, 3), "quantizers": qm.quantizers.count,
                                  "equalized_pairs": cle?.pairs.count ?? 0, "bias_correction": includeBiasCorr, "adaround": adaround,
                                  "method": config.method.description, "weight_bit": config.weightBit, "activation_bit": config.activationBit,
                                  "fixed_position_misfits": misfits]
    if let cle {
      summary["cle"] = ["rounds": cle.rounds, "last_scale_change": Double(cle.lastChange), "replaced_relu6": cle.replacedReLU6,
                        "absorbed_channels": cle.absorbed.map { ["layer": $0.first, "channels": $0.channels] },
                        "range_spread": cle.spread.map { ["layer": $0.layer, "before": Double($0.before), "after": Double($0.after)] }]
    }
    if let r = report.adaround {
      summary["adaround_layers"] = r.layers.map { l -> [String: Any] in
        ["layer": l.layer, "weights": l.weights, "flipped": l.flipped, "nearest_loss": l.nearestLoss, "adaround_loss": l.adaroundLoss]
      }
    }
    if json { try printJSON(summary) } else {
      print("quantized \(qm.quantizers.count) tensors from \(report.calibration.images) images in \(String(format: "%.2f", report.seconds)) s -> \(outputDir)")
    }
  }
}

extension Quantize {
  /// A QDQ file brings every tensor's format: written as a quantized-model directory, no calibration.
  func saveQDQ(_ qm: QuantizedModel, _ loaded: LoadedModel, _ preprocessing: Preprocessing, config: QuantizationConfig) throws {
    let calibrating = [calibrationDirectory, calibrationList, calibrationIndices].contains { $0 != nil } || calibrationSize != nil || calibrationSeed != nil
    guard !calibrating, !includeCle, !adaround, !includeBiasCorr, config == QuantizationConfig() else {
      throw ValidationError("\(model) is a QDQ model: its QuantizeLinear / DequantizeLinear nodes set every tensor's format, so calibration, CLE, AdaRound, bias correction and quantization options do not apply; run `qat quantize --model \(model) --output-dir DIR` alone")
    }
    if !skipExportCheck { try ExportCheck.refuseUnsupported(qm) }
    try ModelStore.saveQuantized(qm, source: loaded.source, preprocessing: preprocessing, to: outputDir)
    if json {
      try printJSON(["output_dir": outputDir, "quantizers": qm.quantizers.count, "from_qdq": true, "calibration_images": 0])
    } else {
      print("read \(qm.quantizers.count) tensors' formats from the QDQ file \(model) (no calibration) -> \(outputDir)")
    }
  }
}

/// Per layer, the spread (max / min) of the per-channel weight ranges before and after CLE.
func printCLE(_ r: CrossLayerEqualization.Report) {
  if !r.replacedReLU6.isEmpty { print("replaced \(r.replacedReLU6.count) ReLU6 by ReLU") }
  print("cross-layer equalization: \(r.pairs.count) pairs, \(r.rounds) rounds (last largest |s - 1| \(String(format: "%.2g", r.lastChange)))")
  print("  layer                          range spread before -> after")
  for s in r.spread { print("  " + s.layer.padding(toLength: 30, withPad: " ", startingAt: 0) + String(format: " %10.1f -> %8.1f", s.before, s.after)) }
  if !r.absorbed.isEmpty { print("high-bias absorption: " + r.absorbed.map { "\($0.first) (\($0.channels) channels)" }.joined(separator: ", ")) }
}

/// Nodes the integer simulator cannot run exactly are named before any calibration work.
enum ExportCheck {
  static func refuseUnsupported(_ qm: QuantizedModel) throws {
    let bad = Exporter.unsupportedNodes(qm)
    guard !bad.isEmpty else { return }
    let list = bad.map { "  \($0.node): \($0.reason)" }.joined(separator: "\n")
    throw ValidationError("""
      \(bad.count) node(s) have no exact integer form in the deploy format:
      \(list)
      Keep them in float with --ignore-nodes (with what follows them) or end the quantized region with --output-nodes; \
      --skip-export-check quantizes anyway for fake-quant evaluation only.
      """)
  }
}
