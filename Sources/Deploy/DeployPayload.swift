import Foundation
import HDF5IO
import TensorCore

/// Integer weights and biases of a deploy graph, stored in HDF5 (one dataset per tensor, int8 /
/// int16 / int32 by bit width; readable by h5py).
public struct DeployPayload: Sendable {
  public struct Entry: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Int32]
    public var bits: Int
    public init(shape: [Int], values: [Int32], bits: Int) {
      self.shape = shape
      self.values = values
      self.bits = bits
    }
  }

  public var entries: [String: Entry] = [:]

  public init() {}

  public subscript(_ name: String) -> Entry? {
    get { entries[name] }
    set { entries[name] = newValue }
  }

  public func write(to path: String) throws {
    try HDF5File.writeAtomically(to: path) { f in
      for (name, e) in entries.sorted(by: { $0.key < $1.key }) {
        let key = HDF5Name.escaped(name)
        switch e.bits {
        case ...8: try f.write(key, shape: e.shape, values: e.values.map { Int8($0) })
        case ...16: try f.write(key, shape: e.shape, values: e.values.map { Int16($0) })
        default: try f.write(key, shape: e.shape, values: e.values)
        }
        try f.setAttribute("bits", numbers: [Double(e.bits)], of: key)
      }
    }
  }

  public static func read(from path: String) throws -> DeployPayload {
    let f = try HDF5File(path: path, mode: .read)
    var p = DeployPayload()
    for name in try f.datasetNames() {
      let (shape, values) = try f.read(name, as: Int32.self)
      let bits = Int(try f.numericAttribute("bits", of: name)?.first ?? 32)
      let limit = Int64(1) << (bits - 1)
      if let bad = values.first(where: { Int64($0) < -limit || Int64($0) >= limit }) {
        throw DeployError("\(path): \(name): value \(bad) does not fit \(bits) bits")
      }
      p.entries[HDF5Name.unescaped(name)] = Entry(shape: shape, values: values, bits: bits)
    }
    return p
  }
}

extension DeployGraph {
  /// Reads and validates deploy.json in a directory.
  public static func read(directory: String) throws -> DeployGraph {
    let path = directory + "/" + manifestFile
    let data: Data
    do { data = try readRegularFile(path, what: "deploy graph", limit: 64 << 20) } catch { throw DeployError("\(error)") }
    let graph: DeployGraph
    do { graph = try JSONDecoder().decode(DeployGraph.self, from: data) } catch {
      throw DeployError("\(path): not a valid deploy graph: \(describeDecodingError(error))")
    }
    do { try graph.validate() } catch { throw DeployError("\(path): \(error)") }
    return graph
  }

  public func write(directory: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let data = try encoder.encode(self)
    try writeFileAtomically(directory + "/" + Self.manifestFile, data)
  }
}
