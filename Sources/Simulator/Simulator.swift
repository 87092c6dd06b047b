import DeployFormat
import TensorCore

/// The integer-only interpreter of a deploy graph: it reads only the exported files (deploy.json
/// and weights.h5) and computes with integer codes — int8 / int16 products accumulated in int32
/// or int64, biases aligned by shifts, one rounding by shift with each tensor's rule, saturation.
/// It never imports Autograd, Layers or QAT, so it stands in for the hardware.
///
/// ```swift
/// let simulator = try Simulator(directory: "deploy")
/// let logits = try simulator(images)                      // dequantized first output
/// let codes = try simulator.run([images], keepAll: true)  // every tensor's integer codes
/// ```
public final class Simulator: @unchecked Sendable {
  public let graph: DeployGraph
  let weights: [String: IntTensor]
  let biases: [String: IntTensor]
  let packed: [String: IntegerKernels.PackedWeights]
  /// conv / linear nodes that requantize by integer multipliers.
  let requantizations: [String: ChannelRequantization]
  /// lookup nodes: their tables, in the output tensor's format.
  let tables: [String: IntTensor]

  public convenience init(directory: String) throws {
    let graph = try DeployGraph.read(directory: directory)
    let payload = try DeployPayload.read(from: directory + "/" + DeployGraph.payloadFile)
    try self.init(graph: graph, payload: payload)
  }

  public init(graph: DeployGraph, payload: DeployPayload) throws {
    try graph.validate()
    self.graph = graph
    var w: [String: IntTensor] = [:], b: [String: IntTensor] = [:], p: [String: IntegerKernels.PackedWeights] = [:]
    for node in graph.nodes where node.op == .conv2d || node.op == .linear || node.op == .convTranspose {
      // multiplier nodes carry their scales in the multipliers: the codes' positions are unused (0)
      guard let name = node.weight, let e = payload[name], let bits = node.weightBits,
            let f = node.weightFractionalBits ?? (node.requantizesByMultiplier ? 0 : nil) else {
        throw DeployError("node \(node.name): weight \(node.weight ?? "?") missing from the payload")
      }
      var shape = Shape(e.shape)
      if node.op == .linear {
        guard e.shape.count == 2 else { throw DeployError("node \(node.name): linear weight must be [out, in], got \(e.shape)") }
        let x = graph.tensors[node.inputs[0]]?.shape ?? [], y = graph.tensors[node.output]?.shape ?? []
        guard x.reduce(1, *) == e.shape[1], y == [e.shape[0]] else {
          throw DeployError("node \(node.name): linear weight \(e.shape) does not map input \(x) to output \(y) (it takes the flattened features)")
        }
        shape = [e.shape[0], e.shape[1], 1, 1]
      }
      guard shape.rank == 4, shape.count == e.values.count else {
        throw DeployError("node \(node.name): weight shape \(e.shape) does not fit \(e.values.count) values")
      }
      let range = CodeRange(bits: bits, signed: true, narrowRange: false)
      if let bad = e.values.first(where: { Int($0) < range.qmin || Int($0) > range.qmax }) {
        throw DeployError("node \(node.name): weight \(name) holds code \(bad), outside the \(bits)-bit range [\(range.qmin), \(range.qmax)] of weight_bits")
      }
      var wt = IntTensor(shape: shape, codes: e.values.map { Int16($0) }, format: FixedPointFormat(bits: bits, fractionalBits: f))
      if node.op == .convTranspose {
        guard let groups = node.conv?.groups, shape[0] % groups == 0 else { throw DeployError("node \(node.name): weight \(e.shape) does not fit its groups") }
        wt = IntegerShapes.transposedConvolutionWeight(wt, groups: groups)
        shape = wt.shape
      }
      if node.op != .linear {
        // the weight, as a convolution's [out, in/groups, kh, kw], against the tensors it maps
        let x = graph.tensors[node.inputs[0]]?.shape ?? [], y = graph.tensors[node.output]?.shape ?? []
        let groups = node.conv?.groups ?? 1
        guard x.count == 3, y.count == 3, shape[1] * groups == x[0], shape[0] == y[0], node.kernel == [shape[2], shape[3]] else {
          throw DeployError("node \(node.name): weight \(e.shape) does not map input \(x) to output \(y) with \(groups) group(s) and kernel \(node.kernel ?? [])")
        }
      }
      w[node.name] = wt
      p[node.name] = IntegerKernels.pack(wt, groups: node.conv?.groups ?? 1)
      if let bn = node.bias {
        guard let be = payload[bn], let bb = node.biasBits, let bf = node.biasFractionalBits ?? (node.requantizesByMultiplier ? 0 : nil),
              be.values.count == shape[0] else {
          throw DeployError("node \(node.name): bias \(bn) missing from the payload or not [\(shape[0])]")
        }
        // the integer kernels take biases of at most 16 bits
        if let wide = be.values.first(where: { $0 < Int32(Int16.min) || $0 > Int32(Int16.max) }) {
          throw DeployError("node \(node.name): bias \(bn) has code \(wide), beyond the 16 bits the simulator's bias path holds (bias_bits \(bb))")
        }
        guard (2...16).contains(bb) else {
          throw DeployError("node \(node.name): bias_bits \(bb) is outside 2...16, the widths the simulator's bias path holds")
        }
        b[node.name] = IntTensor(shape: [shape[0]], codes: be.values.map { Int16($0) },
                                 format: FixedPointFormat(bits: bb, fractionalBits: bf))
      }
    }
    weights = w
    biases = b
    requantizations = Dictionary(uniqueKeysWithValues: graph.nodes.compactMap { n in n.channelRequantization.map { (n.name, $0) } })
    packed = p
    tables = try Self.tables(graph, payload)
  }

  /// Each lookup node's table: [1 or C, 2^bits of the input] output codes within the output's range.
  static func tables(_ graph: DeployGraph, _ payload: DeployPayload) throws -> [String: IntTensor] {
    var tables: [String: IntTensor] = [:]
    for node in graph.nodes where node.op == .lookup {
      guard let name = node.table, let e = payload[name] else {
        throw DeployError("node \(node.name): table \(node.table ?? "?") missing from the payload")
      }
      guard let x = graph.tensors[node.inputs[0]], let y = graph.tensors[node.output] else {
        throw DeployError("node \(node.name): input or output tensor has no format")
      }
      let entries = x.format.qmax - x.format.qmin + 1
      let channels = x.shape.first ?? 1
      guard e.shape.count == 2, e.shape[1] == entries, e.shape[0] == 1 || e.shape[0] == channels, e.values.count == e.shape[0] * entries else {
        throw DeployError("node \(node.name): table \(name) is \(e.shape), expected [1 or \(channels), \(entries)] (one entry per input code)")
      }
      if let bad = e.values.first(where: { Int($0) < y.format.qmin || Int($0) > y.format.qmax }) {
        throw DeployError("node \(node.name): table \(name) holds code \(bad), outside the output's [\(y.format.qmin), \(y.format.qmax)]")
      }
      tables[node.name] = IntTensor(shape: Shape(e.shape), codes: e.values.map { Int16($0) }, format: y.format)
    }
    return tables
  }

  /// Runs float inputs (one per graph input, batch first) and returns the codes of every tensor
  /// (or of the outputs only).
  public func run(_ inputs: [Tensor], keepAll: Bool = false) throws -> [String: IntTensor] {
    guard inputs.count == graph.inputs.count else {
      throw DeployError("simulator: \(inputs.count) inputs for \(graph.inputs.count) graph inputs")
    }
    var values: [String: IntTensor] = [:]
    var remaining = Dictionary(grouping: graph.nodes.flatMap(\.inputs), by: { $0 }).mapValues(\.count)
    let keep = Set(graph.outputs)
    var feed = Dictionary(uniqueKeysWithValues: zip(graph.inputs, inputs))
    for node in graph.nodes {
      let args = try node.inputs.map { name -> IntTensor in
        guard let v = values[name] else { throw DeployError("node \(node.name): input \(name) not computed") }
        return v
      }
      let y = try execute(node, args, input: feed.removeValue(forKey: node.output))
      // the next nodes rely on the stored shapes (validated against each other): a kernel that gave
      // another shape is stopped here, naming the node
      guard let stored = graph.tensors[node.output]?.shape, Array(y.shape.dims.dropFirst()) == stored else {
        throw DeployError("node \(node.name) (\(node.op.rawValue)) produced \(y.shape), not [batch] + \(graph.tensors[node.output]?.shape ?? [])")
      }
      values[node.output] = y
      if !keepAll {
        for name in node.inputs {
          remaining[name, default: 1] -= 1
          if remaining[name] == 0 && !keep.contains(name) { values[name] = nil }
        }
      }
    }
    return values
  }

  /// The dequantized first output (e.g. logits) of a float batch.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    guard let out = try run([x])[graph.outputs[0]] else { throw DeployError("simulator produced no output") }
    return out.dequantized()
  }

  func tensor(_ name: String) throws -> DeployTensor {
    guard let t = graph.tensors[name] else { throw DeployError("tensor \(name) has no format") }
    return t
  }
}
