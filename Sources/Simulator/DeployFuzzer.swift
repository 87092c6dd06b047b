import DeployFormat
import Foundation
import TensorCore

/// A seeded, structure-aware mutation fuzzer for the deploy-graph reader and the simulator, run
/// in-process: every mutated deploy.json (with its payload, also mutated) must either be refused
/// with an error or load and run a batch of one. A crash ends the process (that is the finding); a
/// run reports how inputs ended and the slowest one (a hang shows up there). A quarter of the
/// inputs are byte-level mutations of the JSON text; the rest edit the decoded JSON tree — numbers
/// set to boundary values or moved by one, values of another type, keys deleted, array elements
/// dropped or duplicated, op names and tensor references exchanged — and the payload's shapes,
/// codes and bit widths.
public struct DeployFuzzer {
  public struct Report: Sendable {
    public var inputs = 0
    /// Not valid JSON, or not a deploy graph (decoding or validation refused it).
    public var unreadable = 0
    /// A valid graph the simulator refused (payload or op checks).
    public var refused = 0
    /// Loaded and ran a batch of one.
    public var ran = 0
    /// Loaded, but the run threw (an error naming the node).
    public var runRefused = 0
    /// Loaded, input over the run size limit.
    public var notRun = 0
    public var slowestSeconds = 0.0
    /// The deploy.json text of the slowest input.
    public var slowestInput = Data()
    public var seconds = 0.0
  }

  /// One deploy directory's contents: deploy.json bytes and the payload.
  public struct Seed: Sendable {
    public var manifest: Data
    public var payload: DeployPayload
    public init(manifest: Data, payload: DeployPayload) {
      self.manifest = manifest
      self.payload = payload
    }

    public init(directory: String) throws {
      manifest = try readRegularFile(directory + "/" + DeployGraph.manifestFile, what: "deploy graph")
      payload = try DeployPayload.read(from: directory + "/" + DeployGraph.payloadFile)
    }
  }

  var rng: RandomGenerator
  let seeds: [Seed]
  let trees: [Any]

  public init(seeds: [Seed], seed: UInt64) throws {
    precondition(!seeds.isEmpty, "DeployFuzzer: no seeds")
    self.seeds = seeds
    rng = RandomGenerator(seed: seed)
    trees = try seeds.map { try JSONSerialization.jsonObject(with: $0.manifest) }
  }

  public mutating func run(iterations: Int, runLimit: Int = 1 << 16) -> Report {
    var report = Report()
    let start = Date()
    for _ in 0..<iterations {
      let (manifest, payload) = next()
      let t0 = Date()
      defer {
        let t = Date().timeIntervalSince(t0)
        if t > report.slowestSeconds { (report.slowestSeconds, report.slowestInput) = (t, manifest) }
      }
      report.inputs += 1
      let graph: DeployGraph
      do {
        graph = try JSONDecoder().decode(DeployGraph.self, from: manifest)
        try graph.validate()
      } catch { report.unreadable += 1; continue }
      let sim: Simulator
      do { sim = try Simulator(graph: graph, payload: payload) } catch { report.refused += 1; continue }
      let shapes = graph.inputs.compactMap { graph.tensors[$0]?.shape }
      guard shapes.count == graph.inputs.count, shapes.allSatisfy({ $0.reduce(1, *) <= runLimit }) else { report.notRun += 1; continue }
      var inputs: [Tensor] = []
      for s in shapes { inputs.append(Tensor.uniform(Shape([1] + s), low: -2, high: 2, using: &rng)) }
      do {
        _ = try sim.run(inputs)
        report.ran += 1
      } catch { report.runRefused += 1 }
    }
    report.seconds = Date().timeIntervalSince(start)
    return report
  }

  mutating func pick<T>(_ xs: [T]) -> T { xs[rng.nextInt(below: xs.count)] }

  /// The next input: a mutated manifest and payload of a random seed.
  mutating func next() -> (Data, DeployPayload) {
    let k = rng.nextInt(below: seeds.count)
    var payload = seeds[k].payload
    if rng.nextInt(below: 3) == 0 { mutate(&payload) }
    if rng.nextInt(below: 4) == 0 { return (mutateBytes(seeds[k].manifest), payload) }
    var tree = trees[k]
    for _ in 0...rng.nextInt(below: 3) { tree = mutate(tree, depth: 0) }
    // a top-level edit can leave a value JSONSerialization will not write (it traps): keep the seed's
    guard JSONSerialization.isValidJSONObject(tree), let data = try? JSONSerialization.data(withJSONObject: tree) else {
      return (seeds[k].manifest, payload)
    }
    return (data, payload)
  }

  static let boundaries: [Int] = [0, -1, 1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 62, 63, 64, 65, 100, 255, 256, 1 << 15, 1 << 16,
                                  1 << 20, 1 << 30, 1 << 31, -(1 << 31), 1 << 40, Int(Int32.max), -100]
  static let ops = DeployOp.allCases.map(\.rawValue) + ["softmax", ""]

  /// One edit somewhere below `node` (a JSON value): at a random depth, a random child.
  mutating func mutate(_ node: Any, depth: Int) -> Any {
    if var dict = node as? [String: Any], !dict.isEmpty, depth < 6, rng.nextInt(below: 5) != 0 {
      let key = pick(dict.keys.sorted())
      switch rng.nextInt(below: 10) {
      case 0: dict.removeValue(forKey: key)
      case 1: dict[key + (rng.nextInt(below: 2) == 0 ? "_x" : "")] = dict[key]  // an unknown key, or the same
      default: dict[key] = mutate(dict[key]!, depth: depth + 1)
      }
      return dict
    }
    if var array = node as? [Any], !array.isEmpty, depth < 6, rng.nextInt(below: 5) != 0 {
      let i = rng.nextInt(below: array.count)
      switch rng.nextInt(below: 8) {
      case 0: array.remove(at: i)
      case 1: array.insert(array[i], at: rng.nextInt(below: array.count + 1))
      case 2: array.swapAt(i, rng.nextInt(below: array.count))
      default: array[i] = mutate(array[i], depth: depth + 1)
      }
      return array
    }
    return mutateLeaf(node)
  }

  mutating func mutateLeaf(_ value: Any) -> Any {
    switch rng.nextInt(below: 12) {
    case 0: return NSNull()
    case 1: return "x"
    case 2: return rng.nextInt(below: 2) == 0
    case 3: return [Any]()
    default: break
    }
    if let s = value as? String {
      return rng.nextInt(below: 2) == 0 ? pick(Self.ops) : s + (rng.nextInt(below: 2) == 0 ? "'" : "")
    }
    if let n = value as? Int {
      switch rng.nextInt(below: 4) {
      case 0: return n + 1
      case 1: return n - 1
      case 2: return -n
      default: return pick(Self.boundaries)
      }
    }
    if let d = value as? Double { return pick([0.0, -1.0, 1e-30, 1e30, d * 2, d / 3]) }
    return pick(Self.boundaries)
  }

  mutating func mutate(_ p: inout DeployPayload) {
    let names = p.entries.keys.sorted()
    guard !names.isEmpty else { return }
    let name = pick(names)
    var e = p.entries[name]!
    switch rng.nextInt(below: 6) {
    case 0: p.entries.removeValue(forKey: name); return
    case 1: e.shape = e.shape.reversed()
    case 2: e.shape = e.shape.isEmpty ? [1] : [e.shape[0] + 1] + e.shape.dropFirst()
    case 3: e.bits = pick([0, 1, 2, 8, 16, 32, 33, 64])
    default:
      if !e.values.isEmpty { e.values[rng.nextInt(below: e.values.count)] = Int32(truncatingIfNeeded: pick(Self.boundaries)) }
    }
    p.entries[name] = e
  }

  mutating func mutateBytes(_ data: Data) -> Data {
    var b = [UInt8](data)
    guard !b.isEmpty else { return data }
    for _ in 0...rng.nextInt(below: 4) {
      let i = rng.nextInt(below: b.count)
      switch rng.nextInt(below: 5) {
      case 0: b[i] ^= UInt8(1 << rng.nextInt(below: 8))
      case 1: b[i] = pick(Array("0123456789-.eE[]{}\",:".utf8))
      case 2: b.removeSubrange(i..<min(b.count, i + 1 + rng.nextInt(below: 16)))
      case 3: b.insert(contentsOf: b[i..<min(b.count, i + 1 + rng.nextInt(below: 16))], at: rng.nextInt(below: b.count))
      default: b = Array(b[..<i])
      }
      if b.isEmpty { break }
    }
    return Data(b)
  }
}
