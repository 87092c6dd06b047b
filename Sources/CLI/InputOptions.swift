import ArgumentParser
import Datasets
import DeployFormat
import Foundation
import Layers
import QAT
import TensorCore
import Training

/// Input preprocessing with the xfDNN quantizer's option names (datasets.md), over a named preset;
/// `qat quantize` records the result in the quantized model, so later commands reuse it.
struct InputOptions: ParsableArguments {
  @Option(help: "xfDNN dims C,H,W: the network input (images are resized to H,W; also the input shape of an ONNX model whose file leaves it open).")
  var dims: String?
  @Option(help: "xfDNN transpose of the HWC image (default 2,0,1: to CHW).") var transpose: String?
  @Option(help: "xfDNN channel_swap (e.g. 2,1,0 for BGR).") var channelSwap: String?
  @Option(help: "xfDNN raw_scale: multiply the [0, 1] pixels (e.g. 255).") var rawScale: Float?
  @Option(help: "xfDNN mean_value, per channel (one value or one per channel).") var meanValue: String?
  @Option(help: "Per-channel divisor after the mean (PyTorch Normalize std).") var std: String?
  @Option(help: "xfDNN input_scale: multiply at the end.") var inputScale: Float?
  @Option(help: "Center crop H,W after the resize.") var centerCrop: String?
  @Option(name: .customLong("preprocessing"), help: "Preset to start from: \(PreprocessingChoice.presets.keys.sorted().joined(separator: ", ")) (default: what the model recorded, the built-in ResNets' input, or u/255 for an imported model).")
  var preset: String?

  func choice() throws -> PreprocessingChoice {
    var c = PreprocessingChoice()
    c.preset = preset
    c.dims = try dims.map { try Self.ints($0, "--dims") }
    c.transpose = try transpose.map { try Self.ints($0, "--transpose") }
    c.channelSwap = try channelSwap.map { try Self.ints($0, "--channel-swap") }
    c.centerCrop = try centerCrop.map { try Self.ints($0, "--center-crop") }
    c.meanValue = try meanValue.map { try Self.floats($0, "--mean-value") }
    c.std = try std.map { try Self.floats($0, "--std") }
    c.rawScale = rawScale
    c.inputScale = inputScale
    return c
  }

  static func ints(_ text: String, _ option: String) throws -> [Int] {
    try text.split(separator: ",").map { s in
      guard let v = Int(s.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("\(option): '\(s)' is not an integer") }
      return v
    }
  }

  static func floats(_ text: String, _ option: String) throws -> [Float] {
    try text.split(separator: ",").map { s in
      guard let v = Float(s.trimmingCharacters(in: .whitespaces)), v.isFinite else { throw ValidationError("\(option): '\(s)' is not a finite number") }
      return v
    }
  }

  /// The model at `path` (ONNX, float weights or quantized directory) and the preprocessing to
  /// feed it.
  func load(_ path: String, architecture: String?) throws -> (LoadedModel, Preprocessing) {
    if let architecture, QuantizedModel.isQuantizedDirectory(path) || path.lowercased().hasSuffix(".onnx") {
      warn("--arch \(architecture) has no effect: \(path) carries its own graph")
    }
    let choice = try choice()
    let loaded = try ModelStore.load(path, architecture: architecture, inputDims: choice.inputDims)
    let p = try choice.resolve(recorded: loaded.preprocessing, source: loaded.source, inputShape: loaded.model.inputShape())
    return (loaded, p)
  }

  /// The preprocessing for a deploy directory: the options, else what export recorded; directories
  /// written before preprocessing was recorded were all for the built-in ResNets.
  func deployPreprocessing(_ directory: String, graph: DeployGraph) throws -> Preprocessing {
    let recorded = try ModelStore.readPreprocessing(directory)
    let input = graph.inputs.first.flatMap { graph.tensors[$0]?.shape }.map { Shape($0) }
    return try choice().resolve(recorded: recorded, source: recorded == nil ? .architecture(.resnet20) : nil, inputShape: input)
  }
}
