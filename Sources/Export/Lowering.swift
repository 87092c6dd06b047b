import DeployFormat
import Layers
import QAT
import TensorCore

/// Turns a calibrated `QuantizedModel` into a deploy graph and its integer payload. FixNeurons
/// become tensor formats; each other node lowers through its layer's `Lowerable` conformance
/// (quantized layers and residual sums carry their fused activation; layers that keep the grid
/// carry their input's format). A layer without one fails here, naming the node.
struct Lowering {
  let qm: QuantizedModel
  var graph = DeployGraph(inputs: [], outputs: [], tensors: [:], nodes: [])
  var payload = DeployPayload()
  /// Model node index -> deploy tensor holding its output.
  var tensorOf: [Int: String] = [:]
  /// Model node index -> per-sample output shape.
  var shapes: [Int: [Int]] = [:]
  /// Activation nodes already lowered as part of the node before them.
  var fused: Set<Int> = []
  /// Quantized tensors read by float nodes (outside the quantized region): deploy outputs.
  var cutTensors: [String] = []

  init(_ qm: QuantizedModel) { self.qm = qm }

  var model: Model { qm.model }

  mutating func run() throws -> (DeployGraph, DeployPayload) {
    try checkFormats()
    try inferShapes()
    for i in model.nodes.indices { try lower(i) }
    var outputs: [String] = []
    for o in model.outputNodes where !qm.floatNodes.contains(model.nodes[o].name) {
      guard let t = tensorOf[o] else { throw DeployError("model output \(model.nodes[o].name) is not quantized; export needs quantized outputs") }
      outputs.append(t)
    }
    for t in cutTensors where !outputs.contains(t) { outputs.append(t) }
    guard !outputs.isEmpty else { throw DeployError("nothing to deploy: no quantized model output and no quantized tensor before a float node") }
    graph.outputs = outputs
    try graph.validate()
    return (graph, payload)
  }

  func checkFormats() throws {
    // weights and biases of layers that requantize by multiplier may have any symmetric scales
    var byMultiplier = Set<ObjectIdentifier>()
    for (_, l) in qm.weightLayers where l.requantizesByMultiplier {
      byMultiplier.insert(ObjectIdentifier(l.weightQuantizer))
      if let b = l.biasQuantizer { byMultiplier.insert(ObjectIdentifier(b)) }
    }
    for q in qm.quantizers {
      guard let f = q.format else { throw DeployError("\(q.label): not calibrated; run calibration before export") }
      if byMultiplier.contains(ObjectIdentifier(q)) { continue }
      guard case .fixedPoint = f else {
        let hint = (q.role == .weight || q.role == .bias) && qm.config.requantize == .powerOfTwo
          ? "; quantize with --requantize int16 or int32 for integer multipliers" : ""
        throw DeployError("\(q.label): \(f) is not a per-tensor power-of-two format; the deploy format needs fix positions for it\(hint)")
      }
    }
  }

  mutating func inferShapes() throws {
    guard model.inputShape() != nil else { throw DeployError("model has no input node") }
    shapes = model.outputShapes().mapValues { Array($0.dims.dropFirst()) }
  }

  mutating func lower(_ i: Int) throws {
    if fused.contains(i) { return }
    let node = model.nodes[i]
    if qm.floatNodes.contains(node.name) {
      // the deployed graph ends here: the CPU runs this node from the quantized tensors it reads
      for j in node.inputs { if let t = tensorOf[j], !cutTensors.contains(t) { cutTensors.append(t) } }
      return
    }
    if model.inputNodes.contains(i) {
      let (fi, q, _) = try outputQuantizer(of: i, fusingActivation: false)
      define(fi, q)
      graph.inputs.append(q.label)
      graph.nodes.append(DeployNode(name: node.name, op: .input, inputs: [], output: q.label))
      return
    }
    if let q = qm.activationQuantizer(atNode: i) {
      guard tensorOf[i] == nil else { return }  // defined by its producer
      throw DeployError("quantizer \(q.label) follows a node that was not lowered")
    }
    guard let layer = node.layer as? any Lowerable else {
      throw DeployError("node \(node.name) (\(node.layer.kind)): no integer implementation in the deploy format; fold it, replace it or list it in ignore_nodes (and end the quantized region before it)")
    }
    let inputs = try node.inputs.indices.map { try inputTensor(i, $0) }
    var quantized: (index: Int, quantizer: FixNeuron, activation: FusedActivation)?
    if case .quantized(let fusing) = layer.loweredOutput { quantized = try outputQuantizer(of: i, fusingActivation: fusing) }
    let outputFormat = quantized.map { ($0.quantizer.fixedPointFormat!, $0.quantizer.spec.rounding) }
    var context = LoweringContext(name: node.name, inputs: inputs, outputTensor: quantized?.quantizer.label ?? node.name,
                                  inputShapes: node.inputs.map { shapes[$0] ?? [] },
                                  inputFormats: inputs.map { graph.tensors[$0]!.format }, output: outputFormat, payload: payload)
    let lowered = try layer.lower(&context)
    payload = context.payload
    switch (quantized, lowered) {
    case (let (fi, q, activation)?, var d?):
      if case .quantized(fusingActivation: true) = layer.loweredOutput { d.activation = activation }
      define(fi, q)
      graph.nodes.append(d)
    case (nil, let d?):
      definePassThrough(i, from: inputs[0])
      graph.nodes.append(d)
    case (nil, nil):
      tensorOf[i] = inputs[0]
    case (_?, nil):
      throw DeployError("node \(node.name): a quantized output needs a deploy node")
    }
  }

  /// The single FixNeuron node reading node i (its output quantizer), through a fusable
  /// activation when `fusingActivation`.
  mutating func outputQuantizer(of i: Int, fusingActivation: Bool) throws -> (index: Int, quantizer: FixNeuron, activation: FusedActivation) {
    let consumers = model.consumers(of: i)
    guard consumers.count == 1 else {
      throw DeployError("node \(model.nodes[i].name): its output must feed exactly one quantizer, found \(consumers.count) consumers")
    }
    let c = consumers[0]
    if let q = qm.activationQuantizer(atNode: c) { return (c, q, .identity) }
    if fusingActivation, let act = (model.nodes[c].layer as? any ActivationLayer)?.fusedActivation {
      let next = model.consumers(of: c)
      if next.count == 1, let q = qm.activationQuantizer(atNode: next[0]) {
        fused.insert(c)
        return (next[0], q, act)
      }
    }
    throw DeployError("node \(model.nodes[i].name) (\(model.nodes[i].layer.kind)): output is not quantized (ignored node or unsupported pattern)")
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
