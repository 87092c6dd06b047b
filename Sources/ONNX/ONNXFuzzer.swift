import Foundation
import Layers
import SwiftProtobuf
import TensorCore

/// A seeded mutation fuzzer for the ONNX reader and importer, run in-process: every mutated file
/// must either import (and then run a forward pass on a batch of one) or be refused with an
/// error. A crash ends the process (that is the finding); a run reports how inputs ended and the
/// slowest one (a hang shows up there). Half the mutations work on bytes (bit flips, special
/// values, cuts, duplicated and deleted spans), half on the decoded model (dims, data types and
/// data of initializers; op types, inputs and attribute values of nodes; input shapes; opsets),
/// which reaches the importer's checks beyond protobuf decoding.
public struct ONNXFuzzer {
  public struct Report: Sendable {
    public var inputs = 0
    /// Refused while decoding the protobuf or reading the file.
    public var unreadable = 0
    /// Decoded, then refused by the importer.
    public var refused = 0
    /// Imported and ran a forward pass.
    public var imported = 0
    /// Imported but left without a forward pass (input over the forward-pass size limit).
    public var notRun = 0
    public var slowestSeconds = 0.0
    /// The input that took longest (to look into).
    public var slowestInput = Data()
    public var seconds = 0.0
  }

  var rng: RandomGenerator
  let seeds: [Data]
  let decoded: [Onnx_ModelProto]

  /// `seeds` are valid ONNX files (e.g. resnet20.onnx and the test fixtures).
  public init(seeds: [Data], seed: UInt64) throws {
    self.seeds = seeds
    rng = RandomGenerator(seed: seed)
    decoded = try seeds.map { try Onnx_ModelProto(serializedBytes: $0) }
  }

  public mutating func run(iterations: Int, forwardLimit: Int = 1 << 18) -> Report {
    var report = Report()
    let start = Date()
    for _ in 0..<iterations {
      let bytes = next()
      let t0 = Date()
      defer {
        let t = Date().timeIntervalSince(t0)
        if t > report.slowestSeconds { (report.slowestSeconds, report.slowestInput) = (t, bytes) }
      }
      report.inputs += 1
      let file: ONNXFile
      do { file = try ONNXFile(bytes: bytes, path: "fuzz.onnx") } catch { report.unreadable += 1; continue }
      let result: ONNXImporter.Result
      do { result = try ONNXImporter.load(file) } catch { report.refused += 1; continue }
      let model = result.model
      guard model.inputNodes.count == 1, let shape = model.inputShape(), shape.count <= forwardLimit else { report.notRun += 1; continue }
      model.setPhase(.inference)
      _ = model.withoutGradients { model.forward([Tensor.zeros(Shape([1] + shape.dims))]) }
      report.imported += 1
    }
    report.seconds = Date().timeIntervalSince(start)
    return report
  }

  mutating func pick<T>(_ xs: [T]) -> T { xs[rng.nextInt(below: xs.count)] }

  /// The next input: a byte-level or a structured mutation of a random seed.
  mutating func next() -> Data {
    let k = rng.nextInt(below: seeds.count)
    if rng.nextInt(below: 2) == 0 { return mutateBytes(seeds[k]) }
    var m = decoded[k]
    for _ in 0...rng.nextInt(below: 3) { mutate(&m) }
    return (try? m.serializedData()) ?? seeds[k]
  }

  mutating func mutateBytes(_ data: Data) -> Data {
    var b = [UInt8](data)
    guard !b.isEmpty else { return data }
    for _ in 0...rng.nextInt(below: 4) {
      let i = rng.nextInt(below: b.count)
      switch rng.nextInt(below: 6) {
      case 0: b[i] ^= UInt8(1 << rng.nextInt(below: 8))
      case 1: b[i] = pick([0, 1, 0x7F, 0x80, 0xFF, 0x08, 0x12])
      case 2: b = Array(b.prefix(i))
      case 3: b.insert(contentsOf: (0..<rng.nextInt(below: 16)).map { _ in UInt8(rng.nextInt(below: 256)) }, at: i)
      case 4: let n = min(b.count - i, rng.nextInt(below: 64)); b.insert(contentsOf: b[i..<(i + n)], at: i)
      default: b.removeSubrange(i..<min(b.count, i + rng.nextInt(below: 64)))
      }
      if b.isEmpty { break }
    }
    return Data(b)
  }

  mutating func extreme() -> Int64 { pick([0, 1, -1, 2, 3, 7, -7, 1 << 20, 1 << 31, -(1 << 31), Int64.max, Int64.min, Int64(rng.nextInt(below: 64))]) }

  mutating func mutate(_ m: inout Onnx_ModelProto) {
    switch rng.nextInt(below: 8) {
    case 0 where !m.graph.initializer.isEmpty:
      let i = rng.nextInt(below: m.graph.initializer.count)
      var t = m.graph.initializer[i]
      switch rng.nextInt(below: 5) {
      case 0 where !t.dims.isEmpty: t.dims[rng.nextInt(below: t.dims.count)] = extreme()
      case 1: t.dataType = Int32(rng.nextInt(below: 18))
      case 2: if t.hasRawData { t.rawData = t.rawData.prefix(rng.nextInt(below: max(1, t.rawData.count))) } else { t.floatData = Array(t.floatData.dropLast()) }
      case 3: t.dims.append(extreme())
      default:
        var e = Onnx_StringStringEntryProto()
        (e.key, e.value) = ("location", pick(["x.data", "../x", "/etc/passwd", ""]))
        t.externalData = [e]
        t.dataLocation = .external
      }
      m.graph.initializer[i] = t
    case 1...3 where !m.graph.node.isEmpty:
      let i = rng.nextInt(below: m.graph.node.count)
      var n = m.graph.node[i]
      switch rng.nextInt(below: 6) {
      case 0: n.opType = pick(ONNXImporter.supportedOperators + ["Erf", "", "Loop"])
      case 1 where !n.input.isEmpty:
        let values = m.graph.node.flatMap(\.output) + m.graph.initializer.map(\.name) + ["", "missing"]
        n.input[rng.nextInt(below: n.input.count)] = pick(values)
      case 2: n.input.append(pick(m.graph.initializer.map(\.name) + [""]))
      case 3 where !n.attribute.isEmpty:
        let a = rng.nextInt(below: n.attribute.count)
        if n.attribute[a].ints.isEmpty { n.attribute[a].i = extreme() } else {
          n.attribute[a].ints[rng.nextInt(below: n.attribute[a].ints.count)] = extreme()
        }
      case 4 where !n.attribute.isEmpty:
        n.attribute[rng.nextInt(below: n.attribute.count)].type = Onnx_AttributeProto.AttributeType(rawValue: rng.nextInt(below: 15)) ?? .undefined
      default:
        if !n.output.isEmpty { n.output[0] = pick(m.graph.node.flatMap(\.output) + ["fresh"]) }
      }
      m.graph.node[i] = n
    case 4 where !m.graph.node.isEmpty:
      m.graph.node.remove(at: rng.nextInt(below: m.graph.node.count))
    case 5 where !m.graph.node.isEmpty:
      let i = rng.nextInt(below: m.graph.node.count), j = rng.nextInt(below: m.graph.node.count)
      m.graph.node.swapAt(i, j)
    case 6 where !m.graph.input.isEmpty:
      if case .tensorType(var t)? = m.graph.input[0].type.value, !t.shape.dim.isEmpty {
        let d = rng.nextInt(below: t.shape.dim.count)
        if rng.nextInt(below: 3) == 0 { t.shape.dim.remove(at: d) } else { t.shape.dim[d].dimValue = extreme() }
        m.graph.input[0].type.tensorType = t
      }
    default:
      if !m.opsetImport.isEmpty { m.opsetImport[0].version = pick([9, 10, 11, 13, 17, 19, 20, extreme()]) }
    }
  }
}
