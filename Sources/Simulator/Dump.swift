import DeployFormat
import Foundation
import TensorCore

/// Per-node integer outputs in vai_q's dump convention: for input k, folder `dump_results_<k>/`
/// with `<tensor>_int8.bin` (raw little-endian codes; `_int16` for wider formats) and
/// `<tensor>_int8.txt` (one value per line). '/' and '.' in names become '_'.
public enum Dump {
  public static func fileStem(_ tensor: String, bits: Int) -> String {
    tensor.replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: ".", with: "_") + (bits <= 8 ? "_int8" : "_int16")
  }

  /// Writes the tensors of one input (batch of one) into `directory/dump_results_<index>`.
  public static func write(_ tensors: [String: IntTensor], graph: DeployGraph, index: Int, to directory: String) throws {
    let folder = directory + "/dump_results_\(index)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    for node in graph.nodes {
      guard let t = tensors[node.output] else { continue }
      let stem = folder + "/" + fileStem(node.output, bits: t.format.bits)
      var bytes = Data()
      if t.format.bits <= 8 {
        bytes = Data(t.codes.map { UInt8(bitPattern: Int8(clamping: $0)) })
      } else {
        for c in t.codes { withUnsafeBytes(of: c.littleEndian) { bytes.append(contentsOf: $0) } }
      }
      try writeFileAtomically(stem + ".bin", bytes)
      try writeFileAtomically(stem + ".txt", Data((t.codes.map { String($0) }.joined(separator: "\n") + "\n").utf8))
    }
  }

  /// Reads one dumped tensor (.bin) with the given bit width.
  public static func read(_ path: String, bits: Int) throws -> [Int] {
    let data: Data
    do { data = try readRegularFile(path, what: "dump") } catch { throw DeployError("\(error)") }
    if bits <= 8 { return data.map { Int(Int8(bitPattern: $0)) } }
    guard data.count % 2 == 0 else { throw DeployError("\(path): odd byte count for 16-bit codes") }
    return stride(from: 0, to: data.count, by: 2).map { Int(Int16(bitPattern: UInt16(data[$0]) | UInt16(data[$0 + 1]) << 8)) }
  }
}

/// Comparison of two dump directories (e.g. the simulator's against a hardware run): per tensor,
/// in graph order, the fraction of mismatched values and the largest and mean LSB difference.
public struct DumpComparison: Sendable {
  public struct Row: Sendable {
    public var tensor: String
    public var values: Int
    public var mismatched: Int
    public var maxLSB: Int
    public var meanLSB: Double
    public var mismatchFraction: Double { values == 0 ? 0 : Double(mismatched) / Double(values) }
  }
  public var rows: [Row] = []
  /// Tensors present in the reference but not in the other dump.
  public var missing: [String] = []
  /// The first tensor in graph order that differs.
  public var firstDivergence: String? { rows.first { $0.mismatched > 0 }?.tensor ?? missing.first }

  /// Compares every `dump_results_*` folder of `reference` with the same folder of `actual`,
  /// tensors in the graph's order.
  public static func compare(reference: String, actual: String, graph: DeployGraph) throws -> DumpComparison {
    let fm = FileManager.default
    let entries: [String]
    do { entries = try fm.contentsOfDirectory(atPath: reference) } catch {
      throw DeployError("\(reference): cannot list the dump directory (\(error.localizedDescription))")
    }
    let folders = entries.filter { $0.hasPrefix("dump_results_") }.sorted()
    guard !folders.isEmpty else { throw DeployError("\(reference): no dump_results_* folders") }
    var result = DumpComparison()
    for node in graph.nodes {
      guard let t = graph.tensors[node.output] else { continue }
      let name = Dump.fileStem(node.output, bits: t.bits) + ".bin"
      var row = Row(tensor: node.output, values: 0, mismatched: 0, maxLSB: 0, meanLSB: 0)
      var total = 0.0, present = false
      for f in folders {
        let a = reference + "/" + f + "/" + name, b = actual + "/" + f + "/" + name
        guard fm.fileExists(atPath: a) else { continue }
        guard fm.fileExists(atPath: b) else { result.missing.append("\(f)/\(node.output)"); continue }
        present = true
        let x = try Dump.read(a, bits: t.bits), y = try Dump.read(b, bits: t.bits)
        guard x.count == y.count else { throw DeployError("\(b): \(y.count) values, reference has \(x.count)") }
        for (u, v) in zip(x, y) {
          let d = abs(u - v)
          row.values += 1
          if d != 0 { row.mismatched += 1; row.maxLSB = max(row.maxLSB, d); total += Double(d) }
        }
      }
      if present {
        row.meanLSB = row.values == 0 ? 0 : total / Double(row.values)
        result.rows.append(row)
      }
    }
    return result
  }
}
