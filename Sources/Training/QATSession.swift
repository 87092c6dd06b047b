import Autograd
import Foundation
import Layers
import QAT
import TensorCore

/// Quantization-aware training in a few calls:
///
///     let session = try QATSession(model: float, config: config)      // prepare (Conv+BN kept)
///     try session.calibrate(batches)                                   // PTQ start point
///     try session.enableRangeLearning(.tqt)                            // learned fix positions
///     let trainer = session.trainer(optimizer: ..., schedule: ...)     // freeze_bn_stats etc.
///     for epoch in 0..<epochs { try trainer.trainEpoch(loader, epoch: epoch) }
///     try session.save(to: dir, architecture: "resnet20")              // quantized model dir
public final class QATSession {
  public let quantized: QuantizedModel
  /// Step after which batch-norm statistics freeze (freeze_bn_stats); nil never.
  public var freezeBatchNormStep: Int?
  /// Step after which weight formats stop following the weights; nil never.
  public var freezeRangesStep: Int?

  public init(model: Model, config: QuantizationConfig) throws {
    var c = config
    c.batchNorm = .qat
    quantized = try Prepare.quantize(model, config: c)
  }

  /// Fine-tuning an already quantized (PTQ) model: its formats are the start point.
  public init(quantized: QuantizedModel) {
    self.quantized = quantized
  }

  public var model: Model { quantized.model }

  /// Calibrates every quantizer on the batches (and enforces the DPU shift ranges).
  public func calibrate(_ batches: [Tensor]) throws {
    let previous = model.phase
    try Calibration.calibrate(quantized) { body in for b in batches { try body(b) } }
    try ShiftConstraints.enforce(quantized)
    model.setPhase(previous)
  }

  /// Turns on learned ranges for activation (and input) quantizers, and optionally weights.
  public func enableRangeLearning(_ learning: QuantSpec.Learning, weights: Bool = false) throws {
    for q in quantized.activationQuantizers { try q.enableRangeLearning(learning) }
    if weights { for w in quantized.weightLayers { try w.layer.weightQuantizer.enableRangeLearning(learning) } }
  }

  /// The learned-range parameters (their own optimizer group).
  public var rangeParameters: [Parameter] { quantized.quantizers.compactMap(\.rangeParameter) }

  /// Network parameters (weights, biases, BN affine) without the range parameters.
  public var networkParameters: [Parameter] {
    let ranges = Set(rangeParameters.map { ObjectIdentifier($0) })
    return model.parameters.filter { !ranges.contains(ObjectIdentifier($0)) }
  }

  /// Two groups: the network (weight decay) and the ranges (own learning-rate scale, no decay).
  public func parameterGroups(weightDecay: Float, rangeLearningRateScale: Float) -> [ParameterGroup] {
    [ParameterGroup(networkParameters, weightDecay: weightDecay),
     ParameterGroup(rangeParameters, learningRateScale: rangeLearningRateScale, weightDecay: 0)]
  }

  /// Re-derives weight (and bias) formats from the current values, as the calibration did.
  public func refreshWeightFormats() throws {
    for (_, layer) in quantized.weightLayers where layer.weightQuantizer.rangeParameter == nil {
      try Calibration.calibrate(layer.weightQuantizer, layer.weightValue)
      if let bq = layer.biasQuantizer, bq.rangeParameter == nil, let b = layer.biasValue { try Calibration.calibrate(bq, b) }
      try layer.weightQuantizer.setMode(.quantize)
      try layer.biasQuantizer?.setMode(.quantize)
    }
    try ShiftConstraints.enforceAfterWeightRefresh(quantized)
  }

  public func freezeBatchNormStatistics() {
    for w in quantized.weightLayers { w.layer.batchNorm?.freezeStatistics = true }
  }

  /// A trainer whose step hook freezes BN statistics and weight formats at the configured steps.
  public func trainer(optimizer: any Optimizer, schedule: any LearningRateSchedule) -> Trainer {
    let t = Trainer(model: model, optimizer: optimizer, schedule: schedule)
    t.afterStep = { [unowned self] step in
      if let f = self.freezeBatchNormStep, step >= f { self.freezeBatchNormStatistics() }
      if self.freezeRangesStep.map({ step < $0 }) ?? true {
        do { try self.refreshWeightFormats() } catch {
          throw TrainingError("step \(step): re-deriving the weight formats failed: \(error)")
        }
      }
    }
    return t
  }

  /// Writes learned ranges into the formats (end of training).
  public func finish() {
    for q in quantized.quantizers { q.freezeLearnedRange() }
  }

  /// The quantized-model directory (`qat eval` / `qat export` read it).
  public func save(to directory: String, architecture: String?) throws {
    try quantized.save(to: directory, architecture: architecture)
  }

  /// Checkpoint for resuming: parameters, buffers, optimizer state, step and the quantization
  /// JSON as an attribute (formats restore exactly).
  public func saveCheckpoint(_ trainer: Trainer, to path: String, architecture: String?) throws {
    let state = try QuantizationState(quantized, architecture: architecture)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let json = String(decoding: try encoder.encode(state), as: UTF8.self)
    let frozen = quantized.weightLayers.contains { $0.layer.batchNorm?.freezeStatistics == true }
    try trainer.save(to: path, attributes: ["quantization": json, "bn_frozen": frozen ? "1" : "0"])
  }

  public func resume(_ trainer: Trainer, from path: String) throws {
    let contents = try trainer.resume(from: path)
    guard let json = contents.attributes["quantization"] else {
      throw TrainingError("\(path): no quantization state in the checkpoint")
    }
    let state = try JSONDecoder().decode(QuantizationState.self, from: Data(json.utf8))
    try state.apply(to: quantized, keepLearnedRanges: true)
    if contents.attributes["bn_frozen"] == "1" { freezeBatchNormStatistics() }
  }
}
