import Foundation
import SwiftProtobuf
import TensorCore

/// An ONNX model file, decoded: the protobuf `ModelProto` with its default-domain opset, and the
/// folder external initializer data is read from.
public struct ONNXFile {
  /// The opsets of the default domain this importer reads (ONNX operator specification).
  public static let supportedOpsets = 11...19
  /// Largest file read (protobuf's own limit is 2 GiB).
  public static let maxFileBytes = 2_000_000_000

  let proto: Onnx_ModelProto
  /// Where the file came from (for messages) and the folder of its external data.
  public let path: String
  let directory: String?
  public let opset: Int
  /// The file's bytes, kept so a quantized model directory can carry its graph.
  public let bytes: Data

  /// Reads and decodes a file; throws naming the file for a missing, non-regular, oversized or
  /// malformed file and for an opset outside `supportedOpsets`.
  public init(path: String) throws {
    let data = try Self.readRegularFile(path, limit: Self.maxFileBytes, what: "ONNX model")
    try self.init(bytes: data, path: path, directory: (path as NSString).deletingLastPathComponent)
  }

  /// Decodes bytes (`path` names them in messages); external data is read relative to `directory`.
  public init(bytes: Data, path: String = "model.onnx", directory: String? = nil) throws {
    let proto: Onnx_ModelProto
    do {
      var options = BinaryDecodingOptions()
      options.messageDepthLimit = 64
      proto = try Onnx_ModelProto(serializedBytes: bytes, options: options)
    } catch {
      throw ONNXError("\(path): not a readable ONNX model (protobuf decoding failed: \(error))")
    }
    guard proto.hasGraph else { throw ONNXError("\(path): the model has no graph") }
    let defaults = proto.opsetImport.filter { $0.domain.isEmpty || $0.domain == "ai.onnx" }
    guard let opset = defaults.map(\.version).max() else {
      throw ONNXError("\(path): no opset of the default ONNX domain is imported")
    }
    guard Self.supportedOpsets.contains(Int(opset)) else {
      throw ONNXError("\(path): opset \(opset) is not supported (this importer reads opsets \(Self.supportedOpsets.lowerBound)–\(Self.supportedOpsets.upperBound); convert the model with onnx.version_converter)")
    }
    self.proto = proto
    self.path = path
    self.directory = directory
    self.opset = Int(opset)
    self.bytes = bytes
  }

  var graph: Onnx_GraphProto { proto.graph }

  /// The graph's output value names, in order.
  public var outputNames: [String] { proto.graph.output.map(\.name) }

  /// The bytes of a regular file, refusing FIFOs, devices, folders and files over `limit` before
  /// reading (a FIFO would block in open).
  static func readRegularFile(_ path: String, limit: Int, what: String) throws -> Data {
    let attributes: [FileAttributeKey: Any]
    do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
      throw ONNXError("\(path): cannot read the \(what) (\(error.localizedDescription))")
    }
    guard attributes[.type] as? FileAttributeType == .typeRegular else {
      throw ONNXError("\(path): the \(what) is not a regular file")
    }
    let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
    guard size <= limit else { throw ONNXError("\(path): the \(what) has \(size) bytes, more than the \(limit) this reader accepts") }
    do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
      throw ONNXError("\(path): cannot read the \(what) (\(error.localizedDescription))")
    }
  }

  /// The bytes of an initializer stored outside the model (`external_data`: location relative to
  /// the model's folder, optional offset and length).
  func externalData(_ t: Onnx_TensorProto, cache: inout [String: Data]) throws -> Data {
    var entries: [String: String] = [:]
    for e in t.externalData { entries[e.key] = e.value }
    guard let location = entries["location"], !location.isEmpty else {
      throw ONNXError("\(path): initializer \(t.name) is stored externally but names no location")
    }
    guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
      throw ONNXError("\(path): initializer \(t.name): external data location '\(location)' must stay inside the model's folder")
    }
    guard let directory else { throw ONNXError("\(path): initializer \(t.name) has external data, but the model was given as bytes without a folder") }
    let file = (directory.isEmpty ? "." : directory) + "/" + location
    func number(_ key: String) throws -> Int? {
      guard let text = entries[key] else { return nil }
      guard let v = Int(text), v >= 0 else { throw ONNXError("\(path): initializer \(t.name): external data \(key) '\(text)' is not a non-negative integer") }
      return v
    }
    let offset = try number("offset") ?? 0, length = try number("length")
    let data = try cache[file] ?? Self.readRegularFile(file, limit: Self.maxFileBytes, what: "external data of \(t.name)")
    cache[file] = data
    let end = length.map { offset + $0 } ?? data.count
    guard offset <= data.count, end <= data.count, end >= offset else {
      throw ONNXError("\(file): initializer \(t.name) wants bytes \(offset)..<\(end), the file has \(data.count)")
    }
    return data.subdata(in: offset..<end)
  }
}

extension ONNXFile {
  /// The model as one self-contained file: initializers stored outside are read and written into
  /// the protobuf (so the bytes import without the data files).
  public func selfContainedBytes() throws -> Data {
    guard graph.initializer.contains(where: { $0.dataLocation == .external }) else { return bytes }
    var model = proto
    var cache: [String: Data] = [:]
    for k in model.graph.initializer.indices where model.graph.initializer[k].dataLocation == .external {
      let data = try externalData(model.graph.initializer[k], cache: &cache)
      model.graph.initializer[k].rawData = data
      model.graph.initializer[k].externalData = []
      model.graph.initializer[k].dataLocation = .default
    }
    do { return try model.serializedData() } catch { throw ONNXError("\(path): cannot serialise the model (\(error))") }
  }

  /// Writes the model, self-contained, to `path` (atomically).
  public func writeSelfContained(to path: String) throws {
    try writeFileAtomically(path, try selfContainedBytes())
  }
}
