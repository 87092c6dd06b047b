import ArgumentParser
import Datasets
import Foundation
import Layers
import QAT
import Training

struct Quantize: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Post-training quantization: calibrate a float model and write the quantized model and its quantization JSON.")

  @Option(help: "Float weights (.h5).") var model: String
  @Option(help: "Architecture (default: the file's 'architecture' attribute).") var arch: String?
  @Option(help: "Output directory (quantized.h5 + quantization.json).") var outputDir: String

  @Option(help: "Calibration images: a folder of images or of class subfolders.") var calibrationDirectory: String?
  @Option(help: "Number of calibration images drawn at random from the directory.") var calibrationSize: Int?
  @Option(help: "Seed for drawing calibration images (exclusive with --calibration-indices).") var calibrationSeed: UInt64?
  @Option(help: "Comma-separated image indices in the directory's sorted order (exclusive with --calibration-seed).")
  var calibrationIndices: String?
  @Option(help: "A list of calibration images (path[<TAB>label] per line, relative to the list's folder).")
  var calibrationList: String?

  @Option(help: "xfDNN bitwidths: activations,parameters[,outputs] (e.g. 8,8).") var bitwidths: String?
  @Option(help: "Weight and bias bits (vai_q weight_bit).") var weightBit: Int?
  @Option(help: "Activation bits (vai_q activation_bit).") var activationBit: Int?
  @Option(help: "Bias bits (default: the weight bits).") var biasBit: Int?
  @Option(help: "Bits of the residual branches (tensors only residual adds read; default: the activation bits).") var residualBit: Int?
  @Option(help: "vai_q adjust_shift_cut: 1 enforces the DPU shift_cut range, 0 disables.") var adjustShiftCut = 1
  @Option(help: "vai_q adjust_shift_bias: 1 enforces the DPU shift_bias range, 0 disables.") var adjustShiftBias = 1
  @Option(help: "Calibration method: \(CalibrationMethod.names.joined(separator: ", ")) (or vai_q 0/1/2).")
  var method = "min-diffs"
  @Option(help: "Weight method when different from --method (default: --method, or min-diffs when --method is percentile or entropy, which calibrate activations).") var weightMethod: String?
  @Option(help: "Histogram bins for percentile / entropy / mse (NVDLA bins).") var bins = CalibrationMethod.defaultBins
  @Option(help: "Percentile threshold in (0, 1] (NVDLA threshold; 1 = no clipping).") var threshold = 1.0
  @Option(help: "vai_q nodes_bit: node:bits,...") var nodesBit: String?
  @Option(help: "vai_q nodes_method: node:method,...") var nodesMethod: String?
  @Option(help: "vai_q ignore_nodes: comma-separated node names left in float.") var ignoreNodes: String?
  @Option(help: "vai_q input_nodes.") var inputNodes: String?
  @Option(help: "vai_q output_nodes.") var outputNodes: String?
  @Option(help: "vai_q align_concat: 0 all, 1 output concats, 2 none.") var alignConcat = 0
  @Option(help: "vai_q arch_type: DEFAULT or DPUCADF8H.") var archType = "DEFAULT"
  @Option(help: "vai_q simulate_dpu: 1 (LeakyReLU 26/256, DPU average pooling) or 0.") var simulateDpu = 1
  @Option(help: "Every tensor at this fix position (Micron DLA's default Q8.8: --bitwidths 16,16 --fix-position 8); default: per-tensor positions (Micron varfp).")
  var fixPosition: Int?
  @Option(help: "Bits of the first conv (weights and input), e.g. 8 in low-bit runs.") var firstLayerBit: Int?
  @Option(help: "Bits of the last layer (weights, input and output).") var lastLayerBit: Int?
  @Flag(help: "Symmetric per-channel weights with float scales (instead of power-of-two per tensor).") var perChannel = false
  @Flag(help: "Unsigned formats for activations that cannot be negative (after ReLU; TIDL style). Default: all signed (DPU).")
  var unsignedActivations = false
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
  @OptionGroup var common: CommonOptions

  func run() throws {
    try common.apply()
    let config = try makeConfig()
    guard cleSteps >= 1 else { throw ValidationError("--cle-steps must be at least 1, got \(cleSteps)") }
    guard adaroundIterations > 0, adaroundBatchSize > 0, adaroundLearningRate > 0 else {
      throw ValidationError("--adaround-iterations, --adaround-batch-size and --adaround-learning-rate must be positive")
    }
    let (float, _) = try PostTraining.loadModel(model, architecture: arch)
    let architecture = try arch ?? Architecture.storedName(model)
    let equalized = includeCle ? CrossLayerEqualization.equalize(float, steps: cleSteps).count : 0
    let indices = try calibrationIndices.map { text in
      try text.split(separator: ",").map { s -> Int in
        guard let i = Int(s.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--calibration-indices: '\(s)' is not an integer") }
        return i
      }
    }
    let data = CalibrationData(directory: calibrationDirectory, listFile: calibrationList, size: calibrationSize,
                               seed: calibrationSeed, indices: indices)
    let loader = try data.loader(preprocessing: .cifarResNet20, batchSize: batchSize)
    let qm = try Prepare.quantize(float, config: config)
    var rounding = AdaRound.Options()
    (rounding.iterations, rounding.batchSize) = (adaroundIterations, adaroundBatchSize)
    (rounding.learningRate, rounding.asymmetric) = (adaroundLearningRate, adaroundAsymmetric)
    let report = try PostTraining.calibrate(qm, loader: loader, adaround: adaround ? rounding : nil, biasCorrection: includeBiasCorr)
    try qm.save(to: outputDir, architecture: architecture)
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

  func parseMethod(_ name: String) throws -> CalibrationMethod {
    guard let m = CalibrationMethod.named(name, bins: bins, threshold: threshold) else {
      throw ValidationError("unknown method '\(name)' (known: \(CalibrationMethod.names.joined(separator: ", ")))")
    }
    return m
  }

  func makeConfig() throws -> QuantizationConfig {
    var c = QuantizationConfig()
    if let bitwidths { try c.apply(bitwidths: bitwidths) }
    if let weightBit {
      if bitwidths != nil && weightBit != c.weightBit { throw ValidationError("--weight-bit \(weightBit) contradicts --bitwidths \(bitwidths!)") }
      c.weightBit = weightBit
    }
    if let activationBit {
      if bitwidths != nil && activationBit != c.activationBit { throw ValidationError("--activation-bit \(activationBit) contradicts --bitwidths \(bitwidths!)") }
      c.activationBit = activationBit
    }
    c.biasBit = biasBit
    c.residualBit = residualBit
    for (option, value) in [("--adjust-shift-cut", adjustShiftCut), ("--adjust-shift-bias", adjustShiftBias)] where !(0...1).contains(value) {
      throw ValidationError("\(option) must be 0 (leave positions) or 1 (enforce the DPU range), got \(value)")
    }
    c.adjustShiftCut = adjustShiftCut == 1 ? .adjust : .keep
    c.adjustShiftBias = adjustShiftBias == 1 ? .adjust : .keep
    c.method = try parseMethod(method)
    c.weightMethod = try weightMethod.map(parseMethod)
    if let nodesBit {
      for (n, v) in try QuantizationConfig.parsePairs(nodesBit, option: "nodes_bit") {
        guard let b = Int(v) else { throw ValidationError("nodes_bit \(n):\(v): bits must be an integer") }
        c.nodesBit[n] = b
      }
    }
    if let nodesMethod { for (n, v) in try QuantizationConfig.parsePairs(nodesMethod, option: "nodes_method") { c.nodesMethod[n] = try parseMethod(v) } }
    func list(_ s: String?) -> [String] { s?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } ?? [] }
    c.ignoreNodes = list(ignoreNodes)
    c.inputNodes = list(inputNodes)
    c.outputNodes = list(outputNodes)
    guard let alignment = QuantizationConfig.ConcatAlignment(rawValue: alignConcat) else {
      throw ValidationError("--align-concat must be 0 (all concats), 1 (output concats) or 2 (none), got \(alignConcat)")
    }
    c.alignConcat = alignment
    guard let at = QuantizationConfig.ArchType(rawValue: archType.uppercased()) else {
      throw ValidationError("--arch-type must be DEFAULT or DPUCADF8H, got \(archType)")
    }
    c.archType = at
    guard simulateDpu == 0 || simulateDpu == 1 else { throw ValidationError("--simulate-dpu must be 0 or 1") }
    c.simulateDPU = simulateDpu == 1
    c.fixedFractionalBits = fixPosition
    c.firstLayerBit = firstLayerBit
    c.lastLayerBit = lastLayerBit
    c.unsignedActivations = unsignedActivations
    if perChannel {
      c.perChannelWeights = true
      if c.weightMethod == nil, [.nonOverflow, .minDiffs, .minDiffsDepthwise].contains(c.method) { c.weightMethod = .minMax }
    }
    try c.validate()
    return c
  }
}
