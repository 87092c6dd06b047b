import ArgumentParser
import Datasets
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
  @Option(help: "Rounds of cross-layer equalization (vai_q cle_steps).") var cleSteps = 10
  @Flag(help: "AdaRound: learn each weight's rounding direction layer by layer on the calibration images (AIMET apply_adaround).")
  var adaround = false
  @Option(help: "AdaRound iterations per layer.") var adaroundIterations = 1000
  @Option(help: "AdaRound batch size.") var adaroundBatchSize = 32
  @Option(help: "AdaRound learning rate (Adam).") var adaroundLearningRate: Float = 0.01
  @Flag(help: "AdaRound targets from the float model's input (asymmetric reconstruction).") var adaroundAsymmetric = false
  @Flag(help: "Empirical bias correction on the calibration images after calibration (vai_q include_bias_corr).")
  var includeBiasCorr = false
  @Option(help: "Calibration batch size.") var batchSize = 128
  @Flag(help: "Print one JSON object.") var json = false
  @OptionGroup var quantization: QuantizationOptions
  @OptionGroup var input: InputOptions
  @OptionGroup var common: CommonOptions

  func run() throws {
    try common.apply()
    let config = try quantization.makeConfig()
    guard cleSteps >= 1 else { throw ValidationError("--cle-steps must be at least 1, got \(cleSteps)") }
    guard adaroundIterations > 0, adaroundBatchSize > 0, adaroundLearningRate > 0 else {
      throw ValidationError("--adaround-iterations, --adaround-batch-size and --adaround-learning-rate must be positive")
    }
    let (loaded, preprocessing) = try input.load(model, architecture: arch)
    guard loaded.quantized == nil else { throw ValidationError("\(model) is already quantized; quantize the float model") }
    let float = loaded.model
    let equalized = includeCle ? CrossLayerEqualization.equalize(float, steps: cleSteps).count : 0
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
    var rounding = AdaRound.Options()
    (rounding.iterations, rounding.batchSize) = (adaroundIterations, adaroundBatchSize)
    (rounding.learningRate, rounding.asymmetric) = (adaroundLearningRate, adaroundAsymmetric)
    let report = try PostTraining.calibrate(qm, loader: loader, adaround: adaround ? rounding : nil, biasCorrection: includeBiasCorr)
    try ModelStore.saveQuantized(qm, source: loaded.source, preprocessing: preprocessing, to: outputDir)
    var summary: [String: Any] = ["output_dir": outputDir, "calibration_images": report.calibration.images,
                                  "passes": report.calibration.passes, "calibration_seconds": rounded(report.calibration.seconds, 3),
                                  "seconds": rounded(report.seconds, 3), "quantizers": qm.quantizers.count,
                                  "equalized_pairs": equalized, "bias_correction": includeBiasCorr, "adaround": adaround,
                                  "method": config.method.description, "weight_bit": config.weightBit, "activation_bit": config.activationBit]
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
