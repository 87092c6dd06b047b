import Foundation
import Layers
import TensorCore

/// A quantized model on disk: a directory with `quantized.h5` (the prepared model's parameters:
/// folded weights and biases, learned ranges) and `quantization.json` (configuration, every
/// tensor's format, and what builds the float graph: a built-in architecture's name or a graph
/// file in the directory, which the caller writes beside them).
extension QuantizedModel {
  public static let weightsFile = "quantized.h5"
  public static let stateFile = "quantization.json"
  /// The imported graph beside them (written by the caller, e.g. Training's ModelStore).
  public static let graphFile = "model.onnx"
  /// The input preprocessing recorded with the model (also written by the caller).
  public static let preprocessingFile = "preprocessing.json"
  /// Every file a quantized-model directory is made of.
  public static let directoryFiles: Set<String> = [weightsFile, stateFile, graphFile, preprocessingFile]

  /// Writes the weights and the quantization JSON as one directory (`writeDirectoryAtomically`:
  /// the complete old or the complete new directory, whatever happens); `architecture` names a
  /// built-in architecture. Imported models go through Training's `ModelStore.saveQuantized`,
  /// which adds the graph file in the same step.
  public func save(to directory: String, architecture: String?) throws {
    try writeDirectoryAtomically(directory, owns: Self.directoryFiles.contains) { staging in
      try writeFiles(to: staging, architecture: architecture)
    }
  }

  /// Writes the weights and the quantization JSON into an existing directory, file by file (no
  /// directory-level atomicity: call it inside `writeDirectoryAtomically`); `graph` names a graph
  /// file the caller puts in the same directory (an imported model).
  public func writeFiles(to directory: String, architecture: String?, graph: String? = nil, inputDims: [String: [Int]]? = nil) throws {
    try Checkpoint.save(model, attributes: ["architecture": architecture ?? "", "format": "swift-qat quantized model"],
                        to: directory + "/" + Self.weightsFile)
    try QuantizationState(self, architecture: architecture, graph: graph, inputDims: inputDims)
      .write(to: directory + "/" + Self.stateFile)
  }

  /// Loads a directory written by `save`; `makeModel` builds the float architecture by name.
  public static func load(from directory: String, makeModel: (String) throws -> Model) throws -> QuantizedModel {
    try restore(from: directory) { state in
      guard let arch = state.architecture, !arch.isEmpty else {
        throw QuantizationError("\(directory)/\(stateFile): no architecture recorded")
      }
      return try makeModel(arch)
    }
  }

  /// Loads a directory written by `save`; `makeModel` builds the float model from the state (its
  /// architecture or graph file).
  public static func restore(from directory: String, _ makeModel: (QuantizationState) throws -> Model) throws -> QuantizedModel {
    let state = try QuantizationState.read(from: directory + "/" + stateFile)
    let qm = try Prepare.quantize(try makeModel(state), config: state.config)
    if state.batchNormFolded == true {
      // a QAT model saved after training has its Conv+BN layers folded (as the export does):
      // fold the fresh ones the same way (formats first; the checkpoint then sets the values)
      try state.apply(to: qm)
      qm.foldBatchNorms()
    }
    // learned ranges (TQT positions, LSQ steps) are parameters in the checkpoint
    let quantizers = Dictionary(uniqueKeysWithValues: qm.quantizers.map { ($0.label, $0) })
    for e in state.tensors {
      guard let learning = e.learning, learning != .none, let q = quantizers[e.name] else { continue }
      q.setFormat(try state.format(of: e))
      try q.enableRangeLearning(learning)
    }
    try Checkpoint.load(into: qm.model, from: directory + "/" + weightsFile)
    try state.apply(to: qm, keepLearnedRanges: true)
    return qm
  }

  /// Whether a path looks like a quantized-model directory.
  public static func isQuantizedDirectory(_ path: String) -> Bool {
    FileManager.default.fileExists(atPath: path + "/" + stateFile)
  }
}
