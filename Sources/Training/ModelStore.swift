import Datasets
import Foundation
import HDF5IO
import Layers
import ONNX
import QAT
import TensorCore

/// What builds a model's graph: a built-in architecture, or an imported ONNX file (with the
/// per-sample input shapes it was imported with, when the file left them symbolic).
public enum GraphSource {
  case architecture(Architecture)
  case onnx(ONNXFile, inputDims: [String: [Int]])

  public var architectureName: String? { if case .architecture(let a) = self { a.rawValue } else { nil } }
}

/// A model as the commands accept it, with where its graph came from and the preprocessing
/// recorded with it.
public struct LoadedModel {
  public var model: Model
  public var quantized: QuantizedModel?
  public var source: GraphSource
  /// Recorded by `qat quantize` in the quantized-model directory (and copied into deploy
  /// directories); nil when the files hold none.
  public var preprocessing: Preprocessing?

  public init(model: Model, quantized: QuantizedModel?, source: GraphSource, preprocessing: Preprocessing?) {
    (self.model, self.quantized, self.source, self.preprocessing) = (model, quantized, source, preprocessing)
  }
}

/// Reading and writing models so that any model loads back without naming its architecture: an
/// imported model's directory or checkpoint carries its graph (the ONNX file, self-contained).
public enum ModelStore {
  /// The graph file of an imported model inside a quantized-model directory.
  public static let graphFile = QuantizedModel.graphFile
  /// The preprocessing recorded in quantized-model and deploy directories.
  public static let preprocessingFile = QuantizedModel.preprocessingFile

  /// Loads an ONNX file (`.onnx`; a QDQ file is a quantized model with the file's scales:
  /// `QDQImport`), float weights (`.h5`: a built-in architecture, named by `--arch`
  /// or the file's attribute, or the graph the checkpoint carries) or a quantized-model directory.
  public static func load(_ path: String, architecture: String? = nil, inputDims: [String: [Int]] = [:]) throws -> LoadedModel {
    if QuantizedModel.isQuantizedDirectory(path) { return try loadQuantized(path) }
    if path.lowercased().hasSuffix(".onnx") {
      let file = try ONNXFile(path: path)
      if QDQImport.isQDQ(file) { return try QDQImport.load(file, inputDims: inputDims) }
      let model = try importModel(file, inputDims: inputDims)
      return LoadedModel(model: model, quantized: nil, source: .onnx(file, inputDims: inputDims), preprocessing: nil)
    }
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
      throw TrainingError("\(path): a directory without \(QuantizedModel.stateFile); expected a quantized-model directory, a .h5 checkpoint or a .onnx model")
    }
    if architecture == nil, let graph = try Checkpoint.storedGraph(path) {
      let dims = try storedInputDims(path)
      let file = try ONNXFile(bytes: Data(graph), path: path + "#graph")
      let model = try importModel(file, inputDims: dims)
      try Checkpoint.load(into: model, from: path)
      return LoadedModel(model: model, quantized: nil, source: .onnx(file, inputDims: dims), preprocessing: nil)
    }
    let model = try Architecture.loadFloatModel(weights: path, architecture: architecture)
    let name = try architecture ?? Architecture.storedName(path)
    return LoadedModel(model: model, quantized: nil, source: .architecture(try Architecture.named(name)), preprocessing: nil)
  }

  public static func importModel(_ file: ONNXFile, inputDims: [String: [Int]]) throws -> Model {
    var options = ONNXImporter.Options()
    options.inputShapes = inputDims
    return try ONNXImporter.load(file, options: options).model
  }

  static func loadQuantized(_ directory: String) throws -> LoadedModel {
    var source: GraphSource?
    let qm = try QuantizedModel.restore(from: directory) { state in
      if let graph = state.graph {
        let file = try ONNXFile(path: directory + "/" + graph)
        source = .onnx(file, inputDims: state.inputDims ?? [:])
        return try importModel(file, inputDims: state.inputDims ?? [:])
      }
      guard let arch = state.architecture, !arch.isEmpty else {
        throw TrainingError("\(directory)/\(QuantizedModel.stateFile): records neither an architecture nor a graph file; quantize the float model again with this version")
      }
      let a = try Architecture.named(arch)
      source = .architecture(a)
      return try a.make()
    }
    return LoadedModel(model: qm.model, quantized: qm, source: source!, preprocessing: try readPreprocessing(directory))
  }

  /// Writes a quantized-model directory: weights, quantization JSON, the graph file of an imported
  /// model and the preprocessing.
  public static func saveQuantized(_ qm: QuantizedModel, source: GraphSource, preprocessing: Preprocessing?, to directory: String) throws {
    try writeDirectoryAtomically(directory, owns: QuantizedModel.directoryFiles.contains) { staging in
      switch source {
      case .architecture(let a):
        try qm.writeFiles(to: staging, architecture: a.rawValue)
      case .onnx(let file, let dims):
        try qm.writeFiles(to: staging, architecture: nil, graph: graphFile, inputDims: dims.isEmpty ? nil : dims)
        try file.writeSelfContained(to: staging + "/" + graphFile)
      }
      if let preprocessing { try writePreprocessing(preprocessing, to: staging) }
    }
  }

  /// Writes float weights that load back on their own: the architecture's name as an attribute,
  /// or the graph itself inside the checkpoint; a `.onnx` path gets the model as an ONNX file
  /// (an imported model keeps its output names).
  public static func saveFloat(_ model: Model, source: GraphSource, attributes: [String: String] = [:], to path: String) throws {
    if path.lowercased().hasSuffix(".onnx") { return try saveONNX(model, source: source, to: path) }
    var attributes = attributes
    switch source {
    case .architecture(let a):
      attributes["architecture"] = a.rawValue
      try Checkpoint.save(model, attributes: attributes, to: path)
    case .onnx(let file, let dims):
      if !dims.isEmpty { attributes["input_dims"] = String(decoding: try JSONEncoder().encode(dims), as: UTF8.self) }
      try Checkpoint.save(model, attributes: attributes, graph: [UInt8](try file.selfContainedBytes()), to: path)
    }
  }

  /// Writes a float model as ONNX (opset 17 unless given).
  public static func saveONNX(_ model: Model, source: GraphSource, opset: Int = 17, to path: String) throws {
    var options = ONNXWriter.Options()
    options.opset = opset
    if case .onnx(let file, _) = source, file.outputNames.count == model.outputNodes.count { options.outputNames = file.outputNames }
    try ONNXWriter.write(model, to: path, options: options)
  }

  static func storedInputDims(_ path: String) throws -> [String: [Int]] {
    guard let text = try HDF5File(path: path, mode: .read).stringAttribute("input_dims") else { return [:] }
    do { return try JSONDecoder().decode([String: [Int]].self, from: Data(text.utf8)) } catch {
      throw TrainingError("\(path): attribute input_dims is not a JSON object of dims (\(error))")
    }
  }

  public static func writePreprocessing(_ p: Preprocessing, to directory: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try writeFileAtomically(directory + "/" + preprocessingFile, try encoder.encode(p))
  }

  /// The preprocessing recorded in a directory, nil when there is none.
  public static func readPreprocessing(_ directory: String) throws -> Preprocessing? {
    let path = directory + "/" + preprocessingFile
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    let data: Data
    do { data = try readRegularFile(path, what: "preprocessing description", limit: 1 << 20) } catch { throw TrainingError("\(error)") }
    do { return try JSONDecoder().decode(Preprocessing.self, from: data) } catch {
      throw TrainingError("\(path): not a valid preprocessing description: \(describeDecodingError(error))")
    }
  }
}
