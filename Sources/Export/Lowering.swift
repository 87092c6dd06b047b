import DeployFormat
import Layers
import QAT
import TensorCore

/// Turns a calibrated `QuantizedModel` into a deploy graph and its integer payload. FixNeurons
/// become tensor formats; conv / linear / add nodes carry their fused activation; ops that keep
/// the grid carry their input's format. Anything without an integer implementation fails here,
/// naming the node.
struct Lowering {
  let qm: QuantizedModel
  var graph = DeployGraph(inputs: [], outputs: [], tensors: [:], nodes: [])
  var payload = DeployPayload()
  /// Model node index -> deploy tensor holding its output.
  var tensorOf: [Int: String] = [:]
  /// Model node index -> per-sample output shape.
  var shapes: [Int: [Int]] = [:]
  /// Activation nodes already lowered as part of the add before them.
  var fused: Set<Int> = []

  init(_ qm: QuantizedModel) { self.qm = qm }

  var model: Model { qm.model }

  mutating func run() throws -> (DeployGraph, DeployPayload) {
    try checkFormats()
    try inferShapes()
    for i in model.nodes.indices { try lower(i) }
    graph.outputs = try model.outputNodes.map { o in
      guard let t = tensorOf[o] else { throw DeployError("model output \(model.nodes[o].name) is not quantized; export needs quantized outputs") }
      return t
    }
    try graph.validate()
    return (graph, payload)
  }

  func checkFormats() throws {
    for q in qm.quantizers {
      guard let f = q.format else { throw DeployError("\(q.label): not calibrated; run calibration before export") }
      guard case .fixedPoint = f else {
        throw DeployError("\(q.label): \(f) is not a per-tensor power-of-two format; the deploy format (DPU) needs fix positions")
      }
    }
  }

  mutating func inferShapes() throws {
    guard let input = model.nodes[model.inputNodes[0]].layer as? Input else { throw DeployError("model has no input node") }
    let previous = model.phase
    model.setPhase(.inference)
    defer { model.setPhase(previous) }
    var s: [Int: [Int]] = [:]
    _ = model.withoutGradients {
      model.forward([Tensor.zeros(Shape([1] + input.shape.dims))]) { i, t in s[i] = Array(t.shape.dims.dropFirst()) }
    }
    shapes = s
  }

  /// The single FixNeuron node reading node i (its output quantizer), through a fused activation
  /// when `allowActivation`.
  mutating func outputQuantizer(of i: Int, allowActivation: Bool) throws -> (index: Int, quantizer: FixNeuron, activation: DeployActivation) {
    let consumers = model.consumers(of: i)
    guard consumers.count == 1 else {
      throw DeployError("node \(model.nodes[i].name): its output must feed exactly one quantizer, found \(consumers.count) consumers")
    }
    let c = consumers[0]
    if let q = model.nodes[c].layer as? FixNeuron { return (c, q, .none) }
    if allowActivation, let act = deployActivation(model.nodes[c].layer) {
      let next = model.consumers(of: c)
      if next.count == 1, let q = model.nodes[next[0]].layer as? FixNeuron {
        fused.insert(c)
        return (next[0], q, act)
      }
    }
    throw DeployError("node \(model.nodes[i].name) (\(model.nodes[i].layer.kind)): output is not quantized (ignored node or unsupported pattern)")
  }

  func deployActivation(_ layer: any Layer) -> DeployActivation? {
    if layer is ReLU { return .relu }
    if layer is ReLU6 { return .relu6 }
    if let l = layer as? LeakyReLU, l.negativeSlope == FusedActivation.leakySlope { return .leakyRelu }
    return nil
  }

  /// Declares the tensor a FixNeuron node stands for.
  mutating func define(_ fixIndex: Int, _ q: FixNeuron) {
    let format = q.fixedPointFormat!
    graph.tensors[q.label] = DeployTensor(shape: shapes[fixIndex] ?? [], format: format, rounding: q.spec.rounding)
    tensorOf[fixIndex] = q.label
  }

  /// A tensor with its input's format under a new name and shape (grid-preserving ops).
  mutating func definePassThrough(_ i: Int, from input: String) {
    var t = graph.tensors[input]!
    t.shape = shapes[i] ?? []
    graph.tensors[model.nodes[i].name] = t
    tensorOf[i] = model.nodes[i].name
  }

  func inputTensor(_ i: Int, _ k: Int = 0) throws -> String {
    let j = model.nodes[i].inputs[k]
    guard let t = tensorOf[j] else {
      throw DeployError("node \(model.nodes[i].name) reads \(model.nodes[j].name), which is not quantized")
    }
    return t
  }
}
